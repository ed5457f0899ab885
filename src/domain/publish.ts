import { z } from "zod";
import type { Db } from "../db/client.js";
import { marks, sqlOf } from "../db/sql.js";
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
import { announce, emit, emitInOrder, prepareEvents } from "./emit.js";
import { checkHitlSpec, MAX_HITL_SPEC_BYTES, reviewTimeoutS } from "./hitl.js";
import { routeOnPublish, type RoutedPublish } from "./routing/route.js";
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

const publishSchema = perLimit((messageBytes: number) =>
  z.object({
    queueId: z.string(),
    body: jsonOfAtMost(messageBytes),
    messageType: text(128).nullish(),
    contentType: z
      .string()
      .max(128, "at most 128 characters")
      .regex(CONTENT_TYPE_RE, "must be a media type such as application/json")
      .refine((t) => !t.toLowerCase().startsWith("application/vnd.scaiqueue."), "application/vnd.scaiqueue.* types are reserved for the service")
      .nullish(),
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
 * publish and publishBatch. All inputs are checked before anything is written (bounds,
 * the HITL spec, the queue's message schema); the rows then go through routing and are
 * written by commitPublish.
 * `prefix` names the argument in error details ("input", or "inputs" for a batch).
 */
export async function publish(deps: Deps, actor: Actor, inputs: unknown[], prefix: BatchPrefix): Promise<PublishResult[]> {
  const parsed = parseBatch(publishSchema(deps.limits.messageBytes), inputs, prefix);

  const queues = new Map<string, QueueInfo>();
  for (const [i, p] of parsed.entries()) {
    if (!queues.has(p.queueId)) queues.set(p.queueId, await acceptingQueue(deps, actor, p.queueId, itemField(prefix, i)));
  }
  const problems: ErrorDetail[] = await unknownParents(deps, actor, parsed, prefix);
  const allowance = deps.schemas.allowance();
  for (const [i, p] of parsed.entries()) {
    const field = itemField(prefix, i);
    if (p.hitlSpec) problems.push(...checkHitlSpec(p.hitlSpec, `${field}.hitlSpec`));
    const schemaId = queues.get(p.queueId)!.schemaId;
    if (schemaId) problems.push(...(await deps.schemas.check(schemaId, p.body, `${field}.body`, allowance)));
  }
  if (problems.length) throw new ValidationError(problems);

  const now = deps.clock();
  const createdAt = new Date(now);
  const rows: Message[] = parsed.map((p) => {
    const q = queues.get(p.queueId)!;
    const review = reviewTimeoutS(p.hitlSpec);
    const expiries = [p.deadline?.getTime(), p.ttlSeconds ? now + p.ttlSeconds * 1000 : undefined, review ? now + review * 1000 : undefined].filter(
      (t): t is number => t !== undefined,
    );
    return newMessage({
      id: uuidv7(now),
      tenantId: actor.tenantId,
      scopeId: q.scopeId,
      queueId: q.id,
      messageType: p.messageType ?? null,
      body: p.body as Message["body"],
      // only a replay of a key is compared by body (migration 20261130020000_body_hash_with_key)
      bodyHash: p.idempotencyKey ? bodyHash(p.body) : null,
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
  return commitPublish(deps, rows, { prefix });
}

/**
 * Writes new messages: MESSAGE_PUBLISHED routing first (children, archived sources,
 * refused hops), then maxDepth admission, then one multi-row INSERT (in one transaction
 * when idempotency keys, bounded or BROADCAST queues, or `before` are involved, so a
 * conflict anywhere writes nothing), then the Redis pending sets and the events.
 * Routing after a trigger writes its children through here too; its `before` step
 * (archiving the source) runs in the same transaction, and nothing is written if it
 * answers false.
 */
export async function commitPublish(
  deps: Deps,
  given: Message[],
  opts: { prefix?: BatchPrefix; before?: (tx: Db) => Promise<boolean> } = {},
): Promise<PublishResult[]> {
  const prefix = opts.prefix ?? "input";
  const createdAt = given[0]!.createdAt;
  const now = createdAt.getTime();
  const routing = await routeOnPublish(deps, given, now);
  const rows = routing.rows;
  const queues = new Map<string, QueueInfo>();
  for (const r of rows) if (!queues.has(r.queueId)) queues.set(r.queueId, await deps.queues.get(r.tenantId, r.queueId));

  const admission = await admit(deps, [...queues.values()], rows.filter((r) => r.state === "PENDING"), now);
  const admitted = rows.filter((r) => !admission.overflow.has(r.id));
  const bounded = admission.queues.size > 0 || admission.overflow.size > 0;
  const broadcast = new Set([...queues.values()].filter((q) => q.consumerMode === "BROADCAST").map((q) => q.id));
  // looked up before the transaction: a lookup inside it would wait for a second pool connection
  const deadLetterQueues = new Map<string, string>();
  for (const r of rows.filter((x) => admission.overflow.has(x.id))) {
    if (!deadLetterQueues.has(r.scopeId)) deadLetterQueues.set(r.scopeId, (await deps.queues.systemQueue(r.scopeId, DEAD_LETTER_QUEUE)).id);
  }
  const routed = new Set(routing.routed.map((m) => m.id));
  const published = (ms: Message[]) =>
    ms.flatMap((m) => [{ message: m, type: EventType.published }, ...(routed.has(m.id) ? [{ message: m, type: EventType.routed }] : [])]);
  const simple = !(rows.some((r) => r.idempotencyKey) || bounded || broadcast.size || opts.before);
  // On the simple path every row is inserted, so its events are known before the write
  const prepared = simple ? await prepareEvents(deps, published(rows), createdAt) : null;
  let written: Written;
  try {
    written = prepared
      ? await writeSimple(deps, rows, routing, prepared.rows)
      : await deps.db.$transaction((tx) =>
          writeAll(tx as unknown as Db, { admitted, rows, routing, admission, broadcast, queues, deadLetterQueues, at: createdAt, prefix, before: opts.before }),
        );
  } catch (err) {
    await release(deps, admission);
    throw err;
  }
  const { results, inserted, dead, copies, dropped, deliveries, unheard, integrity } = written;

  const fresh = inserted.filter((m) => m.state === "PENDING" || unheard.includes(m));
  const droppedByQueue = new Map<string, string[]>();
  for (const d of dropped) droppedByQueue.set(d.queueId, [...(droppedByQueue.get(d.queueId) ?? []), d.id]);
  const competing = [...fresh, ...copies, ...integrity].filter((m) => !broadcast.has(m.queueId));
  await enqueueMessages(deps, competing, admittedOf(admission, droppedByQueue));
  await enqueueDeliveries(deps, deliveries, new Map(fresh.map((m) => [m.id, m])));
  if (prepared) await announce(deps, prepared, createdAt);
  else await emitInOrder(deps, [...published(inserted), ...copies.map((m) => ({ message: m, type: EventType.published }))], createdAt);
  await emit(deps, unheard, EventType.completed, createdAt);
  await emit(deps, dead, EventType.deadLettered, createdAt);
  await emit(deps, dropped, EventType.expired, createdAt);
  return results;
}

/** No keys, bounds or groups: one INSERT of everything, the published events' `_events` rows too, atomic on its own. */
async function writeSimple(deps: Deps, rows: Message[], routing: RoutedPublish, eventRows: Message[]): Promise<Written> {
  await deps.statements.insert.submit([...rows, ...routing.integrity, ...eventRows]);
  const given = rows.filter((r) => !routing.rootOf.has(r.id));
  return {
    results: given.map((message) => ({ message, duplicate: false })),
    inserted: rows,
    dead: [],
    copies: [],
    dropped: [],
    deliveries: [],
    unheard: [],
    integrity: routing.integrity,
  };
}

/** A parentId names a message of the publisher's own tenant; any other id is refused as unknown. */
async function unknownParents(deps: Deps, actor: Actor, parsed: { parentId?: string | null }[], prefix: BatchPrefix): Promise<ErrorDetail[]> {
  const wanted = [...new Set(parsed.map((p) => p.parentId).filter((id): id is string => id != null))];
  if (!wanted.length) return [];
  const found = new Set(
    (await deps.sql.rows<{ id: string }>(`SELECT id FROM messages WHERE tenantId = ? AND id IN (${marks(wanted)})`, [actor.tenantId, ...wanted])).map((r) => r.id),
  );
  return parsed.flatMap((p, i) =>
    p.parentId != null && !found.has(p.parentId) ? [{ field: `${itemField(prefix, i)}.parentId`, message: "no message with this id" }] : [],
  );
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
  /** one per given row: the message as written, or the one an idempotency key already held */
  results: PublishResult[];
  /** the rows actually inserted (given and routed children), as written */
  inserted: Message[];
  dead: Message[];
  copies: Message[];
  dropped: Message[];
  /** BROADCAST: one per group of each new message, and the messages no group was there to hear */
  deliveries: Delivery[];
  unheard: Message[];
  integrity: Message[];
};

type WriteAll = {
  admitted: Message[];
  rows: Message[];
  routing: RoutedPublish;
  admission: Admission;
  broadcast: Set<string>;
  queues: Map<string, QueueInfo>;
  /** scope id → its _dead_letter queue id, for the newcomers that do not fit */
  deadLetterQueues: Map<string, string>;
  at: Date;
  prefix: BatchPrefix;
  before?: (tx: Db) => Promise<boolean>;
};

/**
 * The transactional write: the given rows (idempotency checked), then the children of
 * those that were not duplicates, newcomers that did not fit dead-lettered with their
 * copies, and the oldest messages dropped where owed.
 */
async function writeAll(tx: Db, w: WriteAll): Promise<Written> {
  const nothing: Written = { results: [], inserted: [], dead: [], copies: [], dropped: [], deliveries: [], unheard: [], integrity: [] };
  if (w.before && !(await w.before(tx))) return nothing;
  const rootOf = (id: string) => w.routing.rootOf.get(id) ?? id;
  const given = w.rows.filter((r) => !w.routing.rootOf.has(r.id));
  const index = new Map(given.map((r, i) => [r.id, i]));
  const admittedGiven = w.admitted.filter((r) => index.has(r.id));
  const fits = admittedGiven.length ? await insertIdempotent(tx, admittedGiven, (r) => itemField(w.prefix, index.get(r.id)!)) : [];
  const byId = new Map(admittedGiven.map((r, i) => [r.id, fits[i]!]));
  const duplicates = new Set<string>();
  for (const [i, f] of fits.entries()) if (f.duplicate) duplicates.add(admittedGiven[i]!.id);
  const kept = (r: Message) => !duplicates.has(rootOf(r.id));
  const children = w.admitted.filter((r) => w.routing.rootOf.has(r.id) && kept(r));
  const integrity = w.routing.integrity.filter((r) => !duplicates.has(rootOf(r.causationId ?? "")));
  if (children.length || integrity.length) await insertRows(sqlOf(tx), [...children, ...integrity]);

  const dead: Message[] = [];
  const copies: Message[] = [];
  for (const r of w.rows.filter((x) => w.admission.overflow.has(x.id) && kept(x))) {
    const reason = `the queue was at its maxDepth of ${w.queues.get(r.queueId)!.maxDepth} (DEAD_LETTER)`;
    const d: Message = { ...r, state: "DEAD_LETTERED", finishedAt: w.at, failureReason: reason };
    dead.push(d);
    copies.push(deadLetterCopy(d, w.deadLetterQueues.get(r.scopeId)!, reason, w.at));
    byId.set(r.id, { message: d, duplicate: false });
  }
  if (dead.length) await insertRows(sqlOf(tx), [...dead, ...copies]);
  const dropped: Message[] = [];
  const mine = new Set(w.rows.map((r) => r.id));
  for (const [queueId, a] of w.admission.queues) dropped.push(...(await dropOldest(tx, queueId, a.drops, w.at, mine)));
  const inserted = [...admittedGiven.filter((r) => !duplicates.has(r.id)), ...children];
  const { deliveries, unheard } = await fanOut(tx, inserted.filter((r) => w.broadcast.has(r.queueId) && r.state === "PENDING"), w.at);
  const heard = new Map(unheard.map((u) => [u.id, u]));
  for (const u of unheard) if (byId.has(u.id)) byId.set(u.id, { message: u, duplicate: false });
  return {
    results: given.map((r) => byId.get(r.id)!),
    inserted: inserted.map((r) => heard.get(r.id) ?? r),
    dead,
    copies,
    dropped,
    deliveries,
    unheard,
    integrity,
  };
}

async function insertIdempotent(tx: Db, rows: Message[], fieldOf: (r: Message) => string): Promise<PublishResult[]> {
  if (!rows.some((r) => r.idempotencyKey)) {
    await insertRows(sqlOf(tx), rows);
    return rows.map((message) => ({ message, duplicate: false }));
  }
  await insertRows(sqlOf(tx), rows);
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
