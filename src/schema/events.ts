import type { MessageEvent } from "../events/message-event.js";
import { actorOf } from "./context.js";
import { builder } from "./builder.js";
import { MessageState } from "./enums.js";
import { MessageRef } from "./message.js";
import { completionsOf, eventsOf } from "../domain/outcomes/subscriptions.js";

export const MessageEventRef = builder.objectRef<MessageEvent>("MessageEvent").implement({
  fields: (t) => ({
    eventId: t.exposeID("eventId"),
    type: t.exposeString("type", {
      description: "scaiqueue.message.published | claimed | completed | failed | released | dead_lettered | expired | routed",
    }),
    messageId: t.exposeID("messageId"),
    queueId: t.exposeID("queueId"),
    scopeId: t.exposeID("scopeId"),
    correlationId: t.exposeString("correlationId", { nullable: true }),
    state: t.field({ type: MessageState, resolve: (e) => e.state }),
    response: t.field({ type: "JSON", nullable: true, description: "On completed.", resolve: (e) => e.response }),
    failureReason: t.exposeString("failureReason", { nullable: true, description: "On failed / dead_lettered." }),
    occurredAt: t.field({ type: "DateTime", resolve: (e) => e.occurredAt }),
    message: t.field({ type: MessageRef, description: "The message as of the event.", resolve: (e) => e.message }),
  }),
});

builder.subscriptionFields((t) => ({
  messageCompleted: t.field({
    type: MessageEventRef,
    authScopes: { canView: true },
    description:
      "Yields once when the message(s) with this correlation id complete, then keeps the stream open for " +
      "further completions with the same id. A waiter that subscribes after the completion still gets it at once.",
    args: { correlationId: t.arg.string({ required: true }) },
    subscribe: (_r, a, ctx) => completionsOf(ctx.deps, actorOf(ctx), a.correlationId),
    resolve: (e) => e,
  }),
  messageEvents: t.field({
    type: MessageEventRef,
    authScopes: { canView: true },
    description: "Every lifecycle event of a queue, a scope, or a correlation chain.",
    args: {
      queueId: t.arg.id(),
      scopeId: t.arg.id(),
      correlationId: t.arg.string(),
      types: t.arg.stringList(),
    },
    subscribe: (_r, a, ctx) =>
      eventsOf(ctx.deps, actorOf(ctx), {
        queueId: a.queueId == null ? null : String(a.queueId),
        scopeId: a.scopeId == null ? null : String(a.scopeId),
        correlationId: a.correlationId,
        types: a.types,
      }),
    resolve: (e) => e,
  }),
}));
