import { actorOf } from "./context.js";
import { builder } from "./builder.js";
import { LifecycleState } from "./enums.js";
import { QueueRef, ScopeRef } from "./refs.js";
import { lifecycleMutations } from "./lifecycle.js";
import { changeScopeState, createScope, getScope, listScopes } from "../domain/scopes/scopes.js";

ScopeRef.implement({
  fields: (t) => ({
    id: t.exposeID("id"),
    slug: t.exposeString("slug"),
    displayName: t.exposeString("displayName"),
    description: t.exposeString("description", { nullable: true }),
    state: t.field({ type: LifecycleState, resolve: (s) => s.state }),
    createdAt: t.field({ type: "DateTime", resolve: (s) => s.createdAt }),
    queues: t.field({
      type: [QueueRef],
      authScopes: { canView: true },
      description: "System queues included, flagged by Queue.system.",
      resolve: (s, _a, ctx) => ctx.loaders().queuesOfScope.load(s.id),
    }),
  }),
});

const CreateScopeInput = builder.inputType("CreateScopeInput", {
  fields: (t) => ({
    slug: t.string({ required: true }),
    displayName: t.string({ required: true }),
    description: t.string(),
  }),
});

builder.queryFields((t) => ({
  scopes: t.field({
    type: [ScopeRef],
    authScopes: { canView: true },
    resolve: (_r, _a, ctx) => listScopes(ctx.deps, actorOf(ctx)),
  }),
  scope: t.field({
    type: ScopeRef,
    nullable: true,
    authScopes: { canView: true },
    args: { id: t.arg.id(), slug: t.arg.string() },
    resolve: (_r, a, ctx) => getScope(ctx.deps, actorOf(ctx), { id: a.id?.toString(), slug: a.slug }),
  }),
}));

builder.mutationFields((t) => ({
  createScope: t.field({
    type: ScopeRef,
    authScopes: { canManage: true },
    args: { input: t.arg({ type: CreateScopeInput, required: true }) },
    resolve: (_r, a, ctx) => createScope(ctx.deps, actorOf(ctx), a.input),
  }),
  ...lifecycleMutations(t, "Scope", ScopeRef, (ctx, id, action) => changeScopeState(ctx.deps, actorOf(ctx), id, action)),
}));
