import type { HitlPattern } from "../generated/prisma/client.js";
import { listPatterns, previewPattern, registerPattern } from "../domain/hitl.js";
import { publishHitl, submitReview } from "../domain/messages/review.js";
import { builder } from "./builder.js";
import { actorOf } from "./context.js";
import { MessageRef, PublishResultRef } from "./message.js";
import { ScopeRef } from "./refs.js";

// Contract §6: human review.

const HitlPatternRef = builder.objectRef<HitlPattern>("HitlPattern").implement({
  fields: (t) => ({
    id: t.exposeID("id"),
    scope: t.field({ type: ScopeRef, authScopes: { canView: true }, resolve: async (p, _a, ctx) => (await ctx.loaders().scope.load(p.scopeId))! }),
    name: t.exposeString("name"),
    version: t.exposeString("version"),
    spec: t.field({ type: "JSON", resolve: (p) => p.spec }),
  }),
});

builder.queryFields((t) => ({
  hitlPatterns: t.field({
    type: [HitlPatternRef],
    authScopes: { canView: true },
    args: { scopeId: t.arg.id({ required: true }) },
    resolve: (_r, a, ctx) => listPatterns(ctx.deps, actorOf(ctx), String(a.scopeId)),
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
      previewPattern(ctx.deps, actorOf(ctx), { scopeId: String(a.scopeId), name: a.name, version: a.version, params: a.params }),
  }),
}));

builder.mutationFields((t) => ({
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
      registerPattern(ctx.deps, actorOf(ctx), { scopeId: String(a.scopeId), name: a.name, version: a.version, spec: a.spec }),
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
      publishHitl(ctx.deps, actorOf(ctx), {
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
      submitReview(ctx.deps, actorOf(ctx), { messageId: String(a.messageId), claimToken: a.claimToken, decision: a.decision, inputs: a.inputs }),
  }),
}));
