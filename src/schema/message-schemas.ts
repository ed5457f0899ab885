import type { MessageSchema } from "../generated/prisma/client.js";
import { bindQueueSchema, getSchema, listSchemas, registerSchema } from "../domain/message-schemas/schemas.js";
import { builder } from "./builder.js";
import { actorOf } from "./context.js";
import { QueueRef, ScopeRef } from "./refs.js";

// Contract §6: message schemas.

const MessageSchemaRef = builder.objectRef<MessageSchema>("MessageSchema").implement({
  fields: (t) => ({
    id: t.exposeID("id"),
    scope: t.field({ type: ScopeRef, authScopes: { canView: true }, resolve: async (s, _a, ctx) => (await ctx.loaders().scope.load(s.scopeId))! }),
    name: t.exposeString("name"),
    version: t.exposeString("version"),
    schema: t.field({ type: "JSON", resolve: (s) => s.schema }),
  }),
});

builder.objectField(QueueRef, "messageSchema", (t) =>
  t.field({
    type: MessageSchemaRef,
    nullable: true,
    authScopes: { canView: true },
    description: "The schema publish checks bodies against (bindQueueSchema).",
    resolve: (q, _a, ctx) => (q.schemaId ? getSchema(ctx.deps, q.schemaId) : null),
  }),
);

builder.queryFields((t) => ({
  messageSchemas: t.field({
    type: [MessageSchemaRef],
    authScopes: { canView: true },
    args: { scopeId: t.arg.id({ required: true }) },
    resolve: (_r, a, ctx) => listSchemas(ctx.deps, actorOf(ctx), String(a.scopeId)),
  }),
}));

builder.mutationFields((t) => ({
  registerMessageSchema: t.field({
    type: MessageSchemaRef,
    authScopes: { canManage: true },
    description: "Versions never change: the same name and version again is a no-op with the same schema, refused with another.",
    args: {
      scopeId: t.arg.id({ required: true }),
      name: t.arg.string({ required: true }),
      version: t.arg.string({ required: true }),
      schema: t.arg({ type: "JSON", required: true }),
    },
    resolve: (_r, a, ctx) =>
      registerSchema(ctx.deps, actorOf(ctx), { scopeId: String(a.scopeId), name: a.name, version: a.version, schema: a.schema }),
  }),
  bindQueueSchema: t.field({
    type: QueueRef,
    authScopes: { canManage: true },
    description: "publish then validates bodies; messages already queued are not touched.",
    args: { queueId: t.arg.id({ required: true }), name: t.arg.string({ required: true }), version: t.arg.string({ required: true }) },
    resolve: (_r, a, ctx) => bindQueueSchema(ctx.deps, actorOf(ctx), { queueId: String(a.queueId), name: a.name, version: a.version }),
  }),
}));
