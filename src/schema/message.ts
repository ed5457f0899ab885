import type { Message as MessageRow } from "../generated/prisma/client.js";
import { publish } from "../domain/messages/publish.js";
import { claim, MAX_CLAIM_BATCH } from "../domain/messages/claim.js";
import { complete } from "../domain/messages/complete.js";
import { extend, fail, release } from "../domain/messages/fail-release-extend.js";
import { bodyOf, getMessage, listMessages, type MessagePage } from "../domain/messages/read.js";
import { actorOf, type Context } from "./context.js";
import { builder, listLength } from "./builder.js";
import { MessageState, PriorityTier } from "./enums.js";
import { MAX_PAGE } from "../domain/messages/read.js";
import { MAX_BATCH } from "../domain/validation.js";
import { QueueRef } from "./refs.js";
import { type PublishResult } from "../domain/intake/write.js";

/** A message as the schema shows it; `issuedClaimToken` only on the answer of the claim that issued it. */
export type MessageView = MessageRow & { issuedClaimToken?: string };

export const MessageRef = builder.objectRef<MessageView>("Message");

/**
 * What a claim's holder did with the message (who holds it, its response, why it failed)
 * is shown to keys with view permission and to the key that holds (or held) the claim:
 * an idempotent replay to a publish-only key showed another consumer's response.
 */
const seesClaim = (m: MessageRow, ctx: Context): boolean =>
  ctx.auth.status === "ok" && (ctx.auth.actor.permissions.has("scaiqueue:view") || m.claimKeyId === ctx.auth.actor.keyId);

/**
 * The large JSON fields cost more (MAX_QUERY_COST): each is read whole from MariaDB. With
 * 5, the cost limit lets one operation read about 4,000 of them, which MAX_RESPONSE_BYTES
 * then bounds in bytes; weighing them by MAX_MESSAGE_BYTES instead refused a page of 500
 * messages with their bodies and responses at the default limits.
 */
const LARGE_JSON = 5;

MessageRef.implement({
  fields: (t) => ({
    id: t.exposeID("id"),
    queue: t.field({ type: QueueRef, authScopes: { canView: true }, resolve: async (m, _a, ctx) => (await ctx.loaders().queue.load(m.queueId))! }),
    state: t.field({ type: MessageState, resolve: (m) => m.state }),
    messageType: t.exposeString("messageType", { nullable: true }),
    // undefined on a message carried by an event from another process (events/message-event.ts)
    body: t.field({ type: "JSON", complexity: LARGE_JSON, resolve: (m, _a, ctx) => (m.body === undefined ? bodyOf(ctx.deps, m.id) : m.body) }),
    contentType: t.exposeString("contentType"),
    labels: t.field({ type: "JSON", resolve: (m) => m.labels ?? {} }),
    priorityTier: t.field({ type: PriorityTier, resolve: (m) => m.priorityTier }),
    priorityScore: t.exposeInt("priorityScore"),
    correlationId: t.exposeString("correlationId", { nullable: true }),
    causationId: t.exposeString("causationId", { nullable: true }),
    parentId: t.exposeID("parentId", { nullable: true }),
    idempotencyKey: t.exposeString("idempotencyKey", { nullable: true }),
    deadline: t.field({ type: "DateTime", nullable: true, resolve: (m) => m.deadline }),
    ttlSeconds: t.exposeInt("ttlSeconds", { nullable: true }),
    delayUntil: t.field({ type: "DateTime", nullable: true, resolve: (m) => m.delayUntil }),
    attempts: t.exposeInt("attempts", { description: "Incremented by each claim; 1 on the first delivery." }),
    claimToken: t.string({
      nullable: true,
      description: "Set only on the result of claim, for the claimer.",
      resolve: (m) => m.issuedClaimToken ?? null,
    }),
    claimedBy: t.string({ nullable: true, resolve: (m, _a, ctx) => (seesClaim(m, ctx) ? m.claimedBy : null) }),
    claimExpiresAt: t.field({ type: "DateTime", nullable: true, resolve: (m, _a, ctx) => (seesClaim(m, ctx) ? m.claimExpiresAt : null) }),
    failureReason: t.string({ nullable: true, resolve: (m, _a, ctx) => (seesClaim(m, ctx) ? m.failureReason : null) }),
    response: t.field({ type: "JSON", nullable: true, complexity: LARGE_JSON, resolve: (m, _a, ctx) => (seesClaim(m, ctx) ? m.response : null) }),
    hitlSpec: t.field({ type: "JSON", nullable: true, complexity: LARGE_JSON, resolve: (m) => m.hitlSpec }),
    createdAt: t.field({ type: "DateTime", resolve: (m) => m.createdAt }),
    claimedAt: t.field({ type: "DateTime", nullable: true, resolve: (m, _a, ctx) => (seesClaim(m, ctx) ? m.claimedAt : null) }),
    completedAt: t.field({ type: "DateTime", nullable: true, resolve: (m) => m.completedAt }),
  }),
});

export const PublishResultRef = builder.objectRef<PublishResult>("PublishResult").implement({
  fields: (t) => ({
    message: t.field({ type: MessageRef, resolve: (r) => r.message }),
    duplicate: t.exposeBoolean("duplicate", {
      description: "True when an idempotency key returned an earlier message.",
    }),
  }),
});

type Edge = MessagePage["edges"][number];
const MessageEdgeRef = builder.objectRef<Edge>("MessageEdge").implement({
  fields: (t) => ({
    cursor: t.exposeString("cursor"),
    node: t.field({ type: MessageRef, resolve: (e) => e.node }),
  }),
});
const PageInfoRef = builder.objectRef<MessagePage>("PageInfo").implement({
  fields: (t) => ({
    hasNextPage: t.exposeBoolean("hasNextPage"),
    endCursor: t.exposeString("endCursor", { nullable: true }),
  }),
});
const MessageConnectionRef = builder.objectRef<MessagePage>("MessageConnection").implement({
  fields: (t) => ({
    // the page's length is counted once, on `messages`
    edges: t.field({ type: [MessageEdgeRef], complexity: { field: 1, multiplier: 1 }, resolve: (p) => p.edges }),
    pageInfo: t.field({ type: PageInfoRef, resolve: (p) => p }),
  }),
});

const PublishInput = builder.inputType("PublishInput", {
  fields: (t) => ({
    queueId: t.id({ required: true }),
    body: t.field({ type: "JSON", required: true }),
    messageType: t.string(),
    contentType: t.string(),
    labels: t.field({ type: "JSON" }),
    priorityTier: t.field({ type: PriorityTier }),
    priorityScore: t.int(),
    correlationId: t.string(),
    causationId: t.string(),
    parentId: t.id(),
    idempotencyKey: t.string(),
    deadline: t.field({ type: "DateTime" }),
    ttlSeconds: t.int(),
    delayUntil: t.field({ type: "DateTime" }),
    hitlSpec: t.field({ type: "JSON" }),
  }),
});

const ClaimInput = builder.inputType("ClaimInput", {
  fields: (t) => ({
    queueId: t.id({ required: true }),
    batchSize: t.int({ defaultValue: 1, description: "1..100" }),
    visibilityTimeoutS: t.int({ description: "Default: the queue's." }),
    consumerId: t.string(),
    consumerGroup: t.string({ description: "Required on BROADCAST queues; ignored on COMPETING." }),
  }),
});

const CompleteInput = builder.inputType("CompleteInput", {
  fields: (t) => ({
    messageId: t.id({ required: true }),
    claimToken: t.string(),
    response: t.field({ type: "JSON" }),
  }),
});

const FailInput = builder.inputType("FailInput", {
  fields: (t) => ({
    messageId: t.id({ required: true }),
    claimToken: t.string(),
    reason: t.string({ required: true }),
    retryable: t.boolean({ defaultValue: true }),
  }),
});

const ReleaseInput = builder.inputType("ReleaseInput", {
  fields: (t) => ({
    messageId: t.id({ required: true }),
    claimToken: t.string(),
    delayS: t.int({ defaultValue: 0 }),
  }),
});

const ExtendInput = builder.inputType("ExtendInput", {
  fields: (t) => ({
    messageId: t.id({ required: true }),
    claimToken: t.string(),
    extendByS: t.int({ required: true }),
  }),
});

// IDs arrive as string | number from Pothos; the domain takes strings.
const withIds = <T extends Record<string, unknown>>(o: T, keys: (keyof T)[]): T => {
  const out = { ...o };
  for (const k of keys) if (out[k] != null) (out as Record<keyof T, unknown>)[k] = String(out[k]);
  return out;
};

builder.queryFields((t) => ({
  message: t.field({
    type: MessageRef,
    nullable: true,
    authScopes: { canView: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_r, a, ctx) => getMessage(ctx.deps, actorOf(ctx), String(a.id)),
  }),
  messages: t.field({
    type: MessageConnectionRef,
    authScopes: { canView: true },
    complexity: (args) => ({ field: 1, multiplier: listLength(args.first ?? 50, MAX_PAGE) }),
    args: {
      queueId: t.arg.id(),
      scopeId: t.arg.id(),
      correlationId: t.arg.string(),
      state: t.arg({ type: MessageState }),
      first: t.arg.int({ defaultValue: 50 }),
      after: t.arg.string(),
    },
    resolve: (_r, a, ctx) => listMessages(ctx.deps, actorOf(ctx), withIds(a, ["queueId", "scopeId"]) as never),
  }),
}));

builder.mutationFields((t) => ({
  publish: t.field({
    type: PublishResultRef,
    authScopes: { canPublish: true },
    args: { input: t.arg({ type: PublishInput, required: true }) },
    resolve: async (_r, a, ctx) =>
      (await publish(ctx.deps, actorOf(ctx), [withIds(a.input, ["queueId", "parentId"])], "input"))[0]!,
  }),
  publishBatch: t.field({
    type: [PublishResultRef],
    authScopes: { canPublish: true },
    complexity: (args) => ({ field: 1, multiplier: listLength(args.inputs.length, MAX_BATCH) }),
    description: "1..500 messages, into one queue or many; all are checked before any is written.",
    args: { inputs: t.arg({ type: [PublishInput], required: true }) },
    resolve: (_r, a, ctx) =>
      publish(ctx.deps, actorOf(ctx), a.inputs.map((i) => withIds(i, ["queueId", "parentId"])), "inputs"),
  }),
  claim: t.field({
    type: [MessageRef],
    authScopes: { canConsume: true },
    complexity: (args) => ({ field: 1, multiplier: listLength(args.input.batchSize ?? 1, MAX_CLAIM_BATCH) }),
    description: "[] when nothing is claimable.",
    args: { input: t.arg({ type: ClaimInput, required: true }) },
    resolve: async (_r, a, ctx) =>
      (await claim(ctx.deps, actorOf(ctx), withIds(a.input, ["queueId"]))).map((c): MessageView => ({ ...c.message, issuedClaimToken: c.claimToken })),
  }),
  complete: t.field({
    type: MessageRef,
    authScopes: { canConsume: true },
    args: { input: t.arg({ type: CompleteInput, required: true }) },
    resolve: async (_r, a, ctx) =>
      (await complete(ctx.deps, actorOf(ctx), [withIds(a.input, ["messageId"])], "input"))[0]!,
  }),
  fail: t.field({
    type: MessageRef,
    authScopes: { canConsume: true },
    description: "Pending again after a backoff while attempts < maxRetries; else DEAD_LETTERED (copied to _dead_letter).",
    args: { input: t.arg({ type: FailInput, required: true }) },
    resolve: (_r, a, ctx) => fail(ctx.deps, actorOf(ctx), withIds(a.input, ["messageId"])),
  }),
  release: t.field({
    type: MessageRef,
    authScopes: { canConsume: true },
    description: "Hands the message back, pending after delayS, without counting the try.",
    args: { input: t.arg({ type: ReleaseInput, required: true }) },
    resolve: (_r, a, ctx) => release(ctx.deps, actorOf(ctx), withIds(a.input, ["messageId"])),
  }),
  extend: t.field({
    type: MessageRef,
    authScopes: { canConsume: true },
    description: "The live claim now lapses extendByS seconds from now.",
    args: { input: t.arg({ type: ExtendInput, required: true }) },
    resolve: (_r, a, ctx) => extend(ctx.deps, actorOf(ctx), withIds(a.input, ["messageId"])),
  }),
  completeBatch: t.field({
    type: [MessageRef],
    authScopes: { canConsume: true },
    complexity: (args) => ({ field: 1, multiplier: listLength(args.inputs.length, MAX_BATCH) }),
    args: { inputs: t.arg({ type: [CompleteInput], required: true }) },
    resolve: (_r, a, ctx) =>
      complete(ctx.deps, actorOf(ctx), a.inputs.map((i) => withIds(i, ["messageId"])), "inputs"),
  }),
}));
