import type { Scope as ScopeRow } from "../generated/prisma/client.js";
import { actorOf } from "../graphql/context.js";
import { builder } from "./builder.js";
import { LifecycleState } from "./enums.js";
import { QueueRef } from "./queue.js";
import { lifecycleMutations } from "./lifecycle.js";

export const ScopeRef = builder.objectRef<ScopeRow>("Scope");

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
    resolve: (_r, _a, ctx) => ctx.services.scopes(actorOf(ctx)),
  }),
  scope: t.field({
    type: ScopeRef,
    nullable: true,
    authScopes: { canView: true },
    args: { id: t.arg.id(), slug: t.arg.string() },
    resolve: (_r, a, ctx) => ctx.services.scope(actorOf(ctx), { id: a.id?.toString(), slug: a.slug }),
  }),
}));

builder.mutationFields((t) => ({
  createScope: t.field({
    type: ScopeRef,
    authScopes: { canManage: true },
    args: { input: t.arg({ type: CreateScopeInput, required: true }) },
    resolve: (_r, a, ctx) => ctx.services.createScope(actorOf(ctx), a.input),
  }),
  ...lifecycleMutations(t, "Scope", ScopeRef, (ctx, id, action) => ctx.services.changeScopeState(actorOf(ctx), id, action)),
}));
