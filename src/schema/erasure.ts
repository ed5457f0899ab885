import type { ErasureJob } from "../generated/prisma/client.js";
import { actorOf } from "./context.js";
import { builder, listLength } from "./builder.js";
import { MessageRef } from "./message.js";
import { MAX_JOBS_PAGE } from "../domain/erasure/jobs.js";
import { ScopeRef } from "./refs.js";
import { getErasureJob, listErasureJobs, openHolds, startErasure } from "../domain/erasure/jobs.js";

// GDPR erasure jobs (docs/design.md "GDPR erasure"): started with manage, read with view.

const ErasureJobState = builder.enumType("ErasureJobState", { values: ["PENDING", "RUNNING", "COMPLETED", "FAILED"] as const });

const ErasureJobRef = builder.objectRef<ErasureJob>("ErasureJob").implement({
  description: "The messages of one scope matching a selector lose their content; their rows stay as tombstones.",
  fields: (t) => ({
    id: t.exposeID("id"),
    scope: t.field({ type: ScopeRef, authScopes: { canView: true }, resolve: async (j, _a, ctx) => (await ctx.loaders().scope.load(j.scopeId))! }),
    state: t.field({ type: ErasureJobState, resolve: (j) => j.state }),
    selector: t.field({ type: "JSON", description: "{label: {key, value}}, {correlationId} or {sourceId}, as given.", resolve: (j) => j.selector }),
    requestedBy: t.exposeString("requestedBy", { description: "The API key id that started it." }),
    matched: t.exposeInt("matched", { description: "Messages the selector found, already erased ones included." }),
    erased: t.exposeInt("erased", { description: "Messages this job erased (0 when an earlier job had erased them all)." }),
    waitingForClaims: t.int({
      description: "Claims that were live when their message was erased and are not settled yet; the job completes when none are left.",
      resolve: (j, _a, ctx) => openHolds(ctx.deps, j.id),
    }),
    error: t.exposeString("error", { nullable: true, description: "Why a FAILED job stopped." }),
    createdAt: t.field({ type: "DateTime", resolve: (j) => j.createdAt }),
    startedAt: t.field({ type: "DateTime", nullable: true, resolve: (j) => j.startedAt }),
    finishedAt: t.field({ type: "DateTime", nullable: true, resolve: (j) => j.finishedAt }),
  }),
});

const ErasureLabelInput = builder.inputType("ErasureLabelInput", {
  fields: (t) => ({
    key: t.string({ required: true }),
    value: t.field({ type: "JSON", required: true, description: "A string, number or boolean, compared exactly (type and case)." }),
  }),
});

const ErasureInput = builder.inputType("ErasureInput", {
  description: "Exactly one selector.",
  fields: (t) => ({
    scopeId: t.id({ required: true }),
    label: t.field({ type: ErasureLabelInput, description: "Messages whose label `key` has this value." }),
    correlationId: t.string({ description: "Messages of this correlation chain." }),
    sourceId: t.string({ description: "Messages whose `source_id` label is this (the publishing actor's id)." }),
  }),
});

builder.objectField(MessageRef, "erasedAt", (t) =>
  t.field({
    type: "DateTime",
    nullable: true,
    description: "When a GDPR erasure emptied the message: body {\"erased\": true}, labels {}, response, failureReason and hitlSpec null.",
    resolve: (m) => m.erasedAt ?? null,
  }),
);

builder.queryFields((t) => ({
  erasureJob: t.field({
    type: ErasureJobRef,
    nullable: true,
    authScopes: { canView: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_r, a, ctx) => getErasureJob(ctx.deps, actorOf(ctx), String(a.id)),
  }),
  erasureJobs: t.field({
    type: [ErasureJobRef],
    authScopes: { canView: true },
    complexity: (args) => ({ field: 1, multiplier: listLength(args.first ?? 50, MAX_JOBS_PAGE) }),
    description: "Newest first.",
    args: { scopeId: t.arg.id({ required: true }), first: t.arg.int({ defaultValue: 50 }) },
    resolve: (_r, a, ctx) => listErasureJobs(ctx.deps, actorOf(ctx), String(a.scopeId), a.first ?? 50),
  }),
}));

builder.mutationFields((t) => ({
  startErasure: t.field({
    type: ErasureJobRef,
    authScopes: { canManage: true },
    description: "Starts a job (PENDING) that erases the matching messages of the scope in the background; follow it with erasureJob.",
    args: { input: t.arg({ type: ErasureInput, required: true }) },
    resolve: (_r, a, ctx) => startErasure(ctx.deps, actorOf(ctx), { ...a.input, scopeId: String(a.input.scopeId) }),
  }),
}));
