import type { AuditEntry, HitlPattern, MessageSchema, RoutingRule } from "../generated/prisma/client.js";
import { actorOf } from "../graphql/context.js";
import { ACTION_TYPES } from "../domain/routing/action.js";
import { builder, listLength } from "./builder.js";
import { MessageEventRef } from "./events.js";
import { MessageRef, PublishResultRef } from "./message.js";
import { MAX_AUDIT_PAGE } from "../domain/audit.js";
import { QueueRef } from "./queue.js";
import { ScopeRef } from "./scope.js";

// Contract §6: routing rules, message schemas, human review and the audit trail.

const RoutingTrigger = builder.enumType("RoutingTrigger", {
  values: ["MESSAGE_PUBLISHED", "MESSAGE_COMPLETED", "MESSAGE_FAILED", "MESSAGE_DEAD_LETTERED"] as const,
});
builder.enumType("RoutingActionType", { values: ACTION_TYPES, description: "The values of a routing rule's action.type." });

const RoutingRuleRef = builder.objectRef<RoutingRule>("RoutingRule").implement({
  fields: (t) => ({
    id: t.exposeID("id"),
    scope: t.field({ type: ScopeRef, authScopes: { canView: true }, resolve: async (r, _a, ctx) => (await ctx.loaders().scope.load(r.scopeId))! }),
    name: t.exposeString("name"),
    position: t.exposeInt("position"),
    enabled: t.exposeBoolean("enabled"),
    trigger: t.field({ type: RoutingTrigger, resolve: (r) => r.trigger }),
    sourceQueue: t.field({
      type: QueueRef,
      nullable: true,
      authScopes: { canView: true },
      description: "null = every queue of the scope",
      resolve: (r, _a, ctx) => (r.sourceQueueId ? ctx.loaders().queue.load(r.sourceQueueId) : null),
    }),
    condition: t.field({ type: "JSON", resolve: (r) => r.condition }),
    action: t.field({ type: "JSON", description: "{type, targetQueueId?, setLabels?, setPriorityTier?, patch?}", resolve: (r) => r.action }),
  }),
});

const RoutingRuleInput = builder.inputType("RoutingRuleInput", {
  fields: (t) => ({
    scopeId: t.id({ required: true }),
    name: t.string({ required: true }),
    position: t.int({ description: "Rules are tried in ascending position; without one the rule goes last." }),
    enabled: t.boolean({ defaultValue: true }),
    trigger: t.field({ type: RoutingTrigger, defaultValue: "MESSAGE_PUBLISHED" }),
    sourceQueueId: t.id(),
    condition: t.field({ type: "JSON", required: true }),
    action: t.field({ type: "JSON", required: true }),
  }),
});

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
    resolve: (q, _a, ctx) => (q.schemaId ? ctx.services.schemaOf(q.schemaId) : null),
  }),
);

const HitlPatternRef = builder.objectRef<HitlPattern>("HitlPattern").implement({
  fields: (t) => ({
    id: t.exposeID("id"),
    scope: t.field({ type: ScopeRef, authScopes: { canView: true }, resolve: async (p, _a, ctx) => (await ctx.loaders().scope.load(p.scopeId))! }),
    name: t.exposeString("name"),
    version: t.exposeString("version"),
    spec: t.field({ type: "JSON", resolve: (p) => p.spec }),
  }),
});

const AuditEntryRef = builder.objectRef<AuditEntry>("AuditEntry").implement({
  fields: (t) => ({
    id: t.exposeID("id"),
    at: t.field({ type: "DateTime", resolve: (e) => e.at }),
    action: t.exposeString("action", { description: "The mutation's name." }),
    actor: t.exposeString("actor", { description: "The API key id." }),
    scopeId: t.exposeID("scopeId", { nullable: true }),
    queueId: t.exposeID("queueId", { nullable: true }),
    messageId: t.exposeID("messageId", { nullable: true }),
    correlationId: t.exposeString("correlationId", { nullable: true }),
    details: t.field({ type: "JSON", nullable: true, resolve: (e) => e.details }),
  }),
});

builder.queryFields((t) => ({
  routingRules: t.field({
    type: [RoutingRuleRef],
    authScopes: { canView: true },
    description: "In the order they are tried.",
    args: { scopeId: t.arg.id({ required: true }) },
    resolve: (_r, a, ctx) => ctx.services.routingRules(actorOf(ctx), String(a.scopeId)),
  }),
  messageSchemas: t.field({
    type: [MessageSchemaRef],
    authScopes: { canView: true },
    args: { scopeId: t.arg.id({ required: true }) },
    resolve: (_r, a, ctx) => ctx.services.messageSchemas(actorOf(ctx), String(a.scopeId)),
  }),
  hitlPatterns: t.field({
    type: [HitlPatternRef],
    authScopes: { canView: true },
    args: { scopeId: t.arg.id({ required: true }) },
    resolve: (_r, a, ctx) => ctx.services.hitlPatterns(actorOf(ctx), String(a.scopeId)),
  }),
  previewHitlPattern: t.field({
    type: "JSON",
    authScopes: { canView: true },
    description: "The pattern's spec with its {{param}} placeholders filled; without a version, the one registered last.",
    args: {
      scopeId: t.arg.id({ required: true }),
      name: t.arg.string({ required: true }),
      version: t.arg.string(),
      params: t.arg({ type: "JSON", required: true }),
    },
    resolve: (_r, a, ctx) =>
      ctx.services.previewHitlPattern(actorOf(ctx), { scopeId: String(a.scopeId), name: a.name, version: a.version, params: a.params }),
  }),
  auditLog: t.field({
    type: [AuditEntryRef],
    authScopes: { canView: true },
    complexity: (args) => ({ field: 1, multiplier: listLength(args.first ?? 100, MAX_AUDIT_PAGE) }),
    description: "Newest first.",
    args: {
      scopeId: t.arg.id({ required: true }),
      correlationId: t.arg.string(),
      action: t.arg.string(),
      first: t.arg.int({ defaultValue: 100 }),
    },
    resolve: (_r, a, ctx) =>
      ctx.services.auditLog(actorOf(ctx), { scopeId: String(a.scopeId), correlationId: a.correlationId, action: a.action, first: a.first }),
  }),
  trace: t.field({
    type: [MessageEventRef],
    authScopes: { canView: true },
    // a chain's length is not known before: as long as a routed chain may be, times a few events each
    complexity: { field: 1, multiplier: 50 },
    description: "The chain's events, in order.",
    args: { scopeId: t.arg.id({ required: true }), correlationId: t.arg.string({ required: true }) },
    resolve: (_r, a, ctx) => ctx.services.trace(actorOf(ctx), String(a.scopeId), a.correlationId),
  }),
}));

builder.mutationFields((t) => ({
  createRoutingRule: t.field({
    type: RoutingRuleRef,
    authScopes: { canManage: true },
    args: { input: t.arg({ type: RoutingRuleInput, required: true }) },
    resolve: (_r, a, ctx) => ctx.services.createRoutingRule(actorOf(ctx), inputOf(a.input)),
  }),
  updateRoutingRule: t.field({
    type: RoutingRuleRef,
    authScopes: { canManage: true },
    description: "Replaces the rule with the input (same scope).",
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: RoutingRuleInput, required: true }) },
    resolve: (_r, a, ctx) => ctx.services.updateRoutingRule(actorOf(ctx), String(a.id), inputOf(a.input)),
  }),
  deleteRoutingRule: t.field({
    type: "Boolean",
    authScopes: { canManage: true },
    description: "false when there was no such rule.",
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_r, a, ctx) => {
      const rule = await ctx.services.deleteRoutingRule(actorOf(ctx), String(a.id));
      if (rule) ctx.auditSubject = { scopeId: rule.scopeId, details: { id: rule.id, name: rule.name } };
      return rule !== null;
    },
  }),
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
      ctx.services.registerMessageSchema(actorOf(ctx), { scopeId: String(a.scopeId), name: a.name, version: a.version, schema: a.schema }),
  }),
  bindQueueSchema: t.field({
    type: QueueRef,
    authScopes: { canManage: true },
    description: "publish then validates bodies; messages already queued are not touched.",
    args: { queueId: t.arg.id({ required: true }), name: t.arg.string({ required: true }), version: t.arg.string({ required: true }) },
    resolve: (_r, a, ctx) => ctx.services.bindQueueSchema(actorOf(ctx), { queueId: String(a.queueId), name: a.name, version: a.version }),
  }),
  registerHitlPattern: t.field({
    type: HitlPatternRef,
    authScopes: { canManage: true },
    args: {
      scopeId: t.arg.id({ required: true }),
      name: t.arg.string({ required: true }),
      version: t.arg.string({ required: true }),
      spec: t.arg({ type: "JSON", required: true }),
    },
    resolve: (_r, a, ctx) =>
      ctx.services.registerHitlPattern(actorOf(ctx), { scopeId: String(a.scopeId), name: a.name, version: a.version, spec: a.spec }),
  }),
  publishHitl: t.field({
    type: PublishResultRef,
    authScopes: { canPublish: true },
    description: "Publishes a review from a registered pattern: hitlSpec = the filled pattern, body = {pattern, version, params}.",
    args: {
      queueId: t.arg.id({ required: true }),
      pattern: t.arg.string({ required: true }),
      version: t.arg.string(),
      params: t.arg({ type: "JSON", required: true }),
      correlationId: t.arg.string(),
      labels: t.arg({ type: "JSON" }),
    },
    resolve: (_r, a, ctx) =>
      ctx.services.publishHitl(actorOf(ctx), {
        queueId: String(a.queueId),
        pattern: a.pattern,
        version: a.version,
        params: a.params,
        correlationId: a.correlationId,
        labels: a.labels,
      }),
  }),
  submitReview: t.field({
    type: MessageRef,
    authScopes: { canConsume: true },
    description: "Completes a claimed review with response = {decision, inputs}.",
    args: {
      messageId: t.arg.id({ required: true }),
      claimToken: t.arg.string(),
      decision: t.arg.string({ required: true }),
      inputs: t.arg({ type: "JSON" }),
    },
    resolve: (_r, a, ctx) =>
      ctx.services.submitReview(actorOf(ctx), { messageId: String(a.messageId), claimToken: a.claimToken, decision: a.decision, inputs: a.inputs }),
  }),
}));

/** GraphQL IDs arrive as string | number; the domain takes strings. */
function inputOf(i: { scopeId: string | number; sourceQueueId?: string | number | null } & Record<string, unknown>) {
  return { ...i, scopeId: String(i.scopeId), sourceQueueId: i.sourceQueueId == null ? i.sourceQueueId : String(i.sourceQueueId) };
}
