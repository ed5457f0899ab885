import { z } from "zod";
import type { Db } from "../db/client.js";
import type { Delivery, Message } from "../generated/prisma/client.js";
import { isUuid, uuidv7 } from "../ids.js";
import { IdempotencyConflictError, QueuePausedError, ScopePausedError, ValidationError, type ErrorDetail } from "../errors.js";
import type { Actor } from "./actor.js";
import { bodyHash } from "./canonical-json.js";
import type { Deps } from "./deps.js";
import { EventType } from "./message-events.js";
import { enqueueMessages } from "./pending.js";
import { insertRows, newMessage } from "./message-rows.js";
import { admit, admittedOf, dropOldest, release, type Admission } from "./admission.js";
import { DEAD_LETTER_QUEUE, deadLetterCopy } from "./dead-letter.js";
import { publishEvents } from "./requeue.js";
import { enqueueDeliveries, fanOut } from "./consumer-groups.js";
import type { QueueInfo } from "./queue-directory.js";
import {
  date,
  intIn,
  itemField,
  jsonObjectOfAtMost,
  jsonOfAtMost,
  labels,
  parseBatch,
  perLimit,
  text,
  ttlSeconds,
  type BatchPrefix,
} from "./validation.js";

export type PublishResult = { message: Message; duplicate: boolean };

const CONTENT_TYPE_RE = /^[\w.+-]+\/[\w.+-]+(\s*;[^\u0000-\u001f\u007f]*)?$/;
const MAX_HITL_SPEC_BYTES = 64 * 1024;

const publishSchema = perLimit((messageBytes: number) =>
  z.object({
    queueId: z.string(),
    body: jsonOfAtMost(messageBytes),
    messageType: text(128).nullish(),
    contentType: z.string().max(128, "at most 128 characters").regex(CONTENT_TYPE_RE, "must be a media type such as application/json").nullish(),
    labels: labels.nullish(),
    priorityTier: z.enum(["CRITICAL", "HIGH", "NORMAL", "LOW", "BACKGROUND"]).nullish(),
    priorityScore: intIn(0, 1000).nullish(),
    correlationId: text(128).nullish(),
    causationId: text(128).nullish(),
    parentId: z.string().refine(isUuid, "must be a message id").nullish(),
    idempotencyKey: text(255).nullish(),
    deadline: date.nullish(),
    ttlSeconds: ttlSeconds.nullish(),
    delayUntil: date.nullish(),
    hitlSpec: jsonObjectOfAtMost(MAX_HITL_SPEC_BYTES).nullish(),
  }),
);

/**
 * publish and publishBatch. All inputs are checked before anything is written; the rows
 * go in with one multi-row INSERT (in one transaction when idempotency keys are
 * involved, so a conflict anywhere writes nothing), then into the Redis pending sets.
 * `prefix` names the argument in error details ("input", or "inputs" for a batch).
 */
export async function publish(deps: Deps, actor: Actor, inputs: unknown[], prefix: BatchPrefix): Promise<PublishResult[]> {
  const parsed = parseBatch(publishSchema(deps.limits.messageBytes), inputs, prefix);

  const queues = new Map<string, QueueInfo>();
  for (const [i, p] of parsed.entries()) {
    if (!queues.has(p.queueId)) queues.set(p.queueId, await acceptingQueue(deps, actor, p.queueId, itemField(prefix, i)));
  }

  const now = deps.clock();
  const createdAt = new Date(now);
  const rows: Message[] = parsed.map((p) => {
    const q = queues.get(p.queueId)!;
    const expiries = [p.deadline?.getTime(), p.ttlSeconds ? now + p.ttlSeconds * 1000 : undefined].filter(
      (t): t is number => t !== undefined,
    );
    return newMessage({
      id: uuidv7(now),
      tenantId: actor.tenantId,
      scopeId: q.scopeId,
      queueId: q.id,
      messageType: p.messageType ?? null,
      body: p.body as Message["body"],
      bodyHash: bodyHash(p.body),
      contentType: p.contentType ?? "application/json",
      labels: (p.labels ?? {}) as Message["labels"],
      priorityTier: p.priorityTier ?? "NORMAL",
      priorityScore: p.priorityScore ?? 0,
      correlationId: p.correlationId ?? null,
      causationId: p.causationId ?? null,
      parentId: p.parentId ?? null,
      idempotencyKey: p.idempotencyKey ?? null,
      deadline: p.deadline ?? null,
      ttlSeconds: p.ttlSeconds ?? null,
      delayUntil: p.delayUntil ?? null,
      visibleAt: p.delayUntil && p.delayUntil.getTime() > now ? p.delayUntil : null,
      expiresAt: expiries.length ? new Date(Math.min(...expiries)) : null,
      hitlSpec: (p.hitlSpec ?? null) as Message["hitlSpec"],
      createdAt,
    });
  });

  const admission = await admit(deps, [...queues.values()], rows, now);
  const admitted = rows.filter((r) => !admission.overflow.has(r.id));
  const bounded = admission.queues.size > 0 || admission.overflow.size > 0;
  const broadcast = new Set([...queues.values()].filter((q) => q.consumerMode === "BROADCAST").map((q) => q.id));
  let written: Written;
  try {
    written =
      rows.some((r) => r.idempotencyKey) || bounded || broadcast.size
        ? await deps.db.$transaction((tx) => writeAll(deps, tx as unknown as Db, admitted, rows, admission, broadcast, createdAt, prefix))
        : (await insertRows(deps.db, rows), { results: rows.map((message) => ({ message, duplicate: false })), dead: [], copies: [], dropped: [], deliveries: [], unheard: [] });
  } catch (err) {
    await release(deps, admission);
    throw err;
  }
  const { results, dead, copies, dropped, deliveries, unheard } = written;

  const fresh = results.filter((r) => !r.duplicate && (r.message.state === "PENDING" || unheard.includes(r.message))).map((r) => r.message);
  const droppedByQueue = new Map<string, string[]>();
  for (const d of dropped) droppedByQueue.set(d.queueId, [...(droppedByQueue.get(d.queueId) ?? []), d.id]);
  const competing = [...fresh, ...copies].filter((m) => !broadcast.has(m.queueId));
  await enqueueMessages(deps, competing, admittedOf(admission, droppedByQueue));
  await enqueueDeliveries(deps, deliveries, new Map(fresh.map((m) => [m.id, m])));
  await publishEvents(deps, [...fresh, ...copies], EventType.published, createdAt);
  await publishEvents(deps, unheard, EventType.completed, createdAt);
  await publishEvents(deps, dead, EventType.deadLettered, createdAt);
  await publishEvents(deps, dropped, EventType.expired, createdAt);
  return results;
}

async function acceptingQueue(deps: Deps, actor: Actor, queueId: string, field: string): Promise<QueueInfo> {
  const q = await deps.queues.get(actor.tenantId, queueId);
  if (q.scopeState !== "ACTIVE") throw new ScopePausedError(q.scopeState);
  if (q.state !== "ACTIVE") throw new QueuePausedError(q.state);
  if (q.system) {
    throw new ValidationError([
      { field: `${field}.queueId`, message: `${q.slug} is a system queue; only the service writes to it` },
    ]);
  }
  return q;
}

type Written = {
  results: PublishResult[];
  dead: Message[];
  copies: Message[];
  dropped: Message[];
  /** BROADCAST: one per group of each new message, and the messages no group was there to hear */
  deliveries: Delivery[];
  unheard: Message[];
};

/**
 * The transactional write: admitted rows (idempotency checked), newcomers that did not
 * fit dead-lettered with their copies, and the oldest messages dropped where owed.
 */
async function writeAll(
  deps: Deps,
  tx: Db,
  admitted: Message[],
  all: Message[],
  admission: Admission,
  broadcast: Set<string>,
  at: Date,
  prefix: BatchPrefix,
): Promise<Written> {
  const index = new Map(all.map((r, i) => [r.id, i]));
  const fits = admitted.length ? await insertIdempotent(tx, admitted, (r) => itemField(prefix, index.get(r.id)!)) : [];
  const byId = new Map(admitted.map((r, i) => [r.id, fits[i]!]));
  const dead: Message[] = [];
  const copies: Message[] = [];
  for (const r of all.filter((x) => admission.overflow.has(x.id))) {
    const q = await deps.queues.get(r.tenantId, r.queueId);
    const reason = `the queue was at its maxDepth of ${q.maxDepth} (DEAD_LETTER)`;
    const d: Message = { ...r, state: "DEAD_LETTERED", finishedAt: at, failureReason: reason };
    dead.push(d);
    copies.push(deadLetterCopy(d, (await deps.queues.systemQueue(r.scopeId, DEAD_LETTER_QUEUE)).id, reason, at));
    byId.set(r.id, { message: d, duplicate: false });
  }
  if (dead.length) await insertRows(tx, [...dead, ...copies]);
  const dropped: Message[] = [];
  const mine = new Set(all.map((r) => r.id));
  for (const [queueId, a] of admission.queues) dropped.push(...(await dropOldest(tx, queueId, a.drops, at, mine)));
  const toGroups = admitted.filter((r, i) => broadcast.has(r.queueId) && !fits[i]!.duplicate);
  const { deliveries, unheard } = await fanOut(tx, toGroups, at);
  for (const u of unheard) byId.set(u.id, { message: u, duplicate: false });
  return { results: all.map((r) => byId.get(r.id)!), dead, copies, dropped, deliveries, unheard };
}

async function insertIdempotent(tx: Db, rows: Message[], fieldOf: (r: Message) => string): Promise<PublishResult[]> {
  if (!rows.some((r) => r.idempotencyKey)) {
    await insertRows(tx, rows);
    return rows.map((message) => ({ message, duplicate: false }));
  }
  await insertRows(tx, rows);
  const keyed = rows.filter((r) => r.idempotencyKey);
  const holders = await tx.message.findMany({
    where: { OR: keyed.map((r) => ({ queueId: r.queueId, idempotencyKey: r.idempotencyKey })) },
  });
  const holderOf = new Map(holders.map((h) => [`${h.queueId}\n${h.idempotencyKey}`, h]));
  const conflicts: ErrorDetail[] = [];
  const results = rows.map((r): PublishResult => {
    if (!r.idempotencyKey) return { message: r, duplicate: false };
    const holder = holderOf.get(`${r.queueId}\n${r.idempotencyKey}`)!;
    if (holder.id === r.id) return { message: r, duplicate: false };
    if (holder.bodyHash !== r.bodyHash) {
      conflicts.push({
        field: `${fieldOf(r)}.idempotencyKey`,
        message: `already used for message ${holder.id} with a different body`,
      });
    }
    return { message: holder, duplicate: true };
  });
  if (conflicts.length) throw new IdempotencyConflictError(conflicts);
  return results;
}
