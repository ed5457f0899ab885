import { actorOf, type Context } from "./context.js";
import { builder } from "./builder.js";
import { ConsumerMode, LifecycleState, Ordering, OverflowPolicy } from "./enums.js";
import { QueueRef, ScopeRef } from "./refs.js";
import { lifecycleMutations } from "./lifecycle.js";
import type { Queue as QueueRow } from "../generated/prisma/client.js";
import { servedFrom } from "../db/queue-directory.js";
import { changeQueueState, createQueue, getQueue } from "../domain/scopes/queues.js";
import { depthChangesOf } from "../domain/outcomes/subscriptions.js";
import { queueDepth, depthOfQueue } from "../domain/scopes/depth.js";

/** A queue's depth inside a listing: Redis-served queues one by one, the others batched. */
const depthOf = (ctx: Context, q: QueueRow) =>
  servedFrom(q) === "mariadb" ? ctx.loaders().depthOfEvents.load(q.id) : depthOfQueue(ctx.deps, { ...q, servedFrom: "redis" });

export const QueueDepthRef = builder.objectRef<{ pending: number; claimed: number; delayed: number }>("QueueDepth");
QueueDepthRef.implement({
  fields: (t) => ({
    pending: t.exposeInt("pending", { description: "Claimable now or later (delayed included)." }),
    claimed: t.exposeInt("claimed"),
    delayed: t.exposeInt("delayed", { description: "Pending but not visible yet." }),
  }),
});

QueueRef.implement({
  fields: (t) => ({
    id: t.exposeID("id"),
    scope: t.field({
      type: ScopeRef,
      authScopes: { canView: true },
      resolve: async (q, _a, ctx) => (await ctx.loaders().scope.load(q.scopeId))!,
    }),
    slug: t.exposeString("slug"),
    displayName: t.exposeString("displayName"),
    system: t.exposeBoolean("system", { description: "True for _dead_letter, _events, _audit, _integrity, _corrections." }),
    ordering: t.field({ type: Ordering, resolve: (q) => q.ordering }),
    consumerMode: t.field({ type: ConsumerMode, resolve: (q) => q.consumerMode }),
    state: t.field({ type: LifecycleState, resolve: (q) => q.state }),
    visibilityTimeoutS: t.exposeInt("visibilityTimeoutS"),
    maxRetries: t.exposeInt("maxRetries"),
    maxDepth: t.exposeInt("maxDepth", { nullable: true }),
    overflowPolicy: t.field({ type: OverflowPolicy, resolve: (q) => q.overflowPolicy }),
    // a Redis round trip per queue
    depth: t.field({ type: QueueDepthRef, authScopes: { canView: true }, complexity: 5, resolve: (q, _a, ctx) => depthOf(ctx, q) }),
  }),
});

const CreateQueueInput = builder.inputType("CreateQueueInput", {
  fields: (t) => ({
    scopeId: t.id({ required: true }),
    slug: t.string({ required: true, description: 'May not start with "_".' }),
    displayName: t.string({ required: true }),
    ordering: t.field({ type: Ordering, defaultValue: "FIFO" }),
    consumerMode: t.field({ type: ConsumerMode, defaultValue: "COMPETING" }),
    visibilityTimeoutS: t.int({ defaultValue: 30 }),
    maxRetries: t.int({ defaultValue: 5 }),
    maxDepth: t.int(),
    overflowPolicy: t.field({ type: OverflowPolicy, defaultValue: "REJECT" }),
  }),
});

builder.queryFields((t) => ({
  queue: t.field({
    type: QueueRef,
    nullable: true,
    authScopes: { canView: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_r, a, ctx) => getQueue(ctx.deps, actorOf(ctx), String(a.id)),
  }),
  queueDepth: t.field({
    type: QueueDepthRef,
    authScopes: { canView: true },
    args: {
      queueId: t.arg.id({ required: true }),
      consumerGroup: t.arg.string({ description: "BROADCAST queues: one group's depth; without it, the sum over the groups." }),
    },
    resolve: (_r, a, ctx) => queueDepth(ctx.deps, actorOf(ctx), String(a.queueId), a.consumerGroup),
  }),
}));

builder.subscriptionFields((t) => ({
  queueDepth: t.field({
    type: QueueDepthRef,
    authScopes: { canView: true },
    description: "The depth now, then each time it changes (coalesced to at most ~10 updates a second).",
    args: { queueId: t.arg.id({ required: true }) },
    subscribe: (_r, a, ctx) => depthChangesOf(ctx.deps, actorOf(ctx), String(a.queueId)),
    resolve: (d) => d,
  }),
}));

builder.mutationFields((t) => ({
  createQueue: t.field({
    type: QueueRef,
    authScopes: { canManage: true },
    args: { input: t.arg({ type: CreateQueueInput, required: true }) },
    resolve: (_r, a, ctx) => createQueue(ctx.deps, actorOf(ctx), { ...a.input, scopeId: String(a.input.scopeId) }),
  }),
  ...lifecycleMutations(t, "Queue", QueueRef, (ctx, id, action) => changeQueueState(ctx.deps, actorOf(ctx), id, action)),
}));
