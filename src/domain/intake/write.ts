import type { Tx } from "../../db/client.js";
import { sqlOf } from "../../db/sql.js";
import type { Delivery, Message } from "../../generated/prisma/client.js";
import { IdempotencyConflictError, type ErrorDetail } from "../../errors.js";
import type { Deps } from "../deps.js";
import { EventType } from "../../events/message-event.js";
import { insertRows } from "../../db/message-rows.js";
import { DEAD_LETTER_QUEUE, type QueueInfo } from "../../db/queue-directory.js";
import { happenedTo, prepareEvents, type Happened, type PreparedEvents } from "../outcomes/event-log.js";
import { routeOnPublish, type RoutedPublish } from "../routing/route.js";
import { itemField, type BatchPrefix } from "../validation.js";
import { admit, admittedOf, dropOldest, release, type Admission } from "./admission.js";
import { enqueueMessages } from "./enqueue.js";
import { enqueueDeliveries, fanOut } from "./fan-out.js";
import { deadLetterCopy } from "./records.js";

/**
 * Writes new messages: MESSAGE_PUBLISHED routing first (children, archived sources,
 * refused hops), then maxDepth admission, then one multi-row INSERT (in one transaction
 * when idempotency keys, bounded or BROADCAST queues, or `before` are involved, so a
 * conflict anywhere writes nothing), then the Redis pending sets and the events.
 * Routing after a trigger (afterCommit) writes its children through here too; its `before` step
 * (archiving the source) runs in the same transaction, and nothing is written if it
 * answers false.
 */
export async function writeMessages(
  deps: Deps,
  given: Message[],
  opts: { prefix?: BatchPrefix; before?: (tx: Tx) => Promise<boolean> } = {},
): Promise<WrittenMessages> {
  const prefix = opts.prefix ?? "input";
  const createdAt = given[0]!.createdAt;
  const now = createdAt.getTime();
  const routing = await routeOnPublish(deps, given, now);
  const rows = routing.rows;
  const queues = new Map<string, QueueInfo>();
  for (const r of rows) if (!queues.has(r.queueId)) queues.set(r.queueId, await deps.queues.get(r.tenantId, r.queueId));

  const admission = await admit(deps, [...queues.values()], rows.filter((r) => r.state === "PENDING"), now);
  const admitted = rows.filter((r) => !admission.overflow.has(r.id));
  const bounded = admission.lanes.size > 0 || admission.overflow.size > 0;
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
          writeAll(tx, { admitted, rows, routing, admission, broadcast, queues, deadLetterQueues, at: createdAt, prefix, before: opts.before }),
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
  const settled = admittedOf(admission, droppedByQueue);
  await enqueueMessages(deps, competing, settled.filter((a) => !a.lane.group));
  await enqueueDeliveries(deps, deliveries, new Map(fresh.map((m) => [m.id, m])), settled.filter((a) => a.lane.group));
  if (prepared) return { results, happened: prepared.items, recorded: prepared };
  const happened = [
    ...published(inserted),
    ...happenedTo(copies, EventType.published),
    ...happenedTo(unheard, EventType.completed),
    ...happenedTo(dead, EventType.deadLettered),
    ...happenedTo(dropped, EventType.expired),
  ];
  return { results, happened };
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

export type PublishResult = { message: Message; duplicate: boolean };

/** What a write of new messages made: one result per given row, and the events it caused, in order. */
export type WrittenMessages = {
  results: PublishResult[];
  happened: Happened[];
  /** the events whose `_events` rows went into the write's own INSERT */
  recorded?: PreparedEvents;
};

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
  before?: (tx: Tx) => Promise<boolean>;
};

/**
 * The transactional write: the given rows (idempotency checked), then the children of
 * those that were not duplicates, newcomers that did not fit dead-lettered with their
 * copies, and the oldest messages dropped where owed.
 */
async function writeAll(tx: Tx, w: WriteAll): Promise<Written> {
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
  for (const owed of w.admission.drops.values()) dropped.push(...(await dropOldest(tx, owed, w.at, mine)));
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

async function insertIdempotent(tx: Tx, rows: Message[], fieldOf: (r: Message) => string): Promise<PublishResult[]> {
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
