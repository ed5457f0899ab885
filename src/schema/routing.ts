import type { RoutingRule } from "../generated/prisma/client.js";
import { ACTION_TYPES } from "../domain/routing/action.js";
import { createRule, deleteRule, listRules, updateRule } from "../domain/routing/rules.js";
import { builder } from "./builder.js";
import { actorOf } from "./context.js";
import { QueueRef, ScopeRef } from "./refs.js";

// Contract §6: routing rules.

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

builder.queryFields((t) => ({
  routingRules: t.field({
    type: [RoutingRuleRef],
    authScopes: { canView: true },
    description: "In the order they are tried.",
    args: { scopeId: t.arg.id({ required: true }) },
    resolve: (_r, a, ctx) => listRules(ctx.deps, actorOf(ctx), String(a.scopeId)),
  }),
}));

builder.mutationFields((t) => ({
  createRoutingRule: t.field({
    type: RoutingRuleRef,
    authScopes: { canManage: true },
    args: { input: t.arg({ type: RoutingRuleInput, required: true }) },
    resolve: (_r, a, ctx) => createRule(ctx.deps, actorOf(ctx), inputOf(a.input)),
  }),
  updateRoutingRule: t.field({
    type: RoutingRuleRef,
    authScopes: { canManage: true },
    description: "Replaces the rule with the input (same scope).",
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: RoutingRuleInput, required: true }) },
    resolve: (_r, a, ctx) => updateRule(ctx.deps, actorOf(ctx), String(a.id), inputOf(a.input)),
  }),
  deleteRoutingRule: t.field({
    type: "Boolean",
    authScopes: { canManage: true },
    description: "false when there was no such rule.",
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_r, a, ctx) => {
      const rule = await deleteRule(ctx.deps, actorOf(ctx), String(a.id));
      if (rule) ctx.auditSubject = { scopeId: rule.scopeId, details: { id: rule.id, name: rule.name } };
      return rule !== null;
    },
  }),
}));

/** GraphQL IDs arrive as string | number; the domain takes strings. */
function inputOf(i: { scopeId: string | number; sourceQueueId?: string | number | null } & Record<string, unknown>) {
  return { ...i, scopeId: String(i.scopeId), sourceQueueId: i.sourceQueueId == null ? i.sourceQueueId : String(i.sourceQueueId) };
}
