import type { Tx } from "../../db/client.js";
import { marks, sqlOf } from "../../db/sql.js";
import type { ErasureJob, Message } from "../../generated/prisma/client.js";
import { uuidv7 } from "../../ids.js";
import { bodyHash } from "../canonical-json.js";
import type { Deps } from "../deps.js";
import type { Match } from "./jobs.js";
import { insertRows, newMessage, MESSAGE_BY_ID } from "../../db/message-rows.js";
import { CORRECTIONS_QUEUE } from "../../db/queue-directory.js";

/*
 * What erasing a set of messages does to the rows (erasure/run.ts runs the jobs):
 * the messages, their deliveries, the failure reasons their `_events` rows quote, the
 * copies made of them, and the `_corrections` record naming them.
 */


/** What an erased message's body becomes. */
export const TOMBSTONE = { erased: true } as const;
const TOMBSTONE_JSON = JSON.stringify(TOMBSTONE);
const TOMBSTONE_HASH = bodyHash(TOMBSTONE);

/** Copies of copies: a routing chain is at most 16 hops, plus its dead-letter copy. */
const MAX_LINEAGE = 18;

/** One job's sweep: the job as read at its start, and the scope's queues it treats apart. */
export type Ctx = {
  deps: Deps;
  job: ErasureJob;
  match: Match;
  /** the scope's queues that hold records, never content: not erased, not matched */
  recordQueues: string[];
  eventsQueueId: string;
  at: Date;
  batchSize: number;
};

type Ref = { id: string; correlationId: string | null };
type Locked = Ref & { state: string; claimToken: string | null; erasedAt: Date | null; failed: unknown };

/**
 * Empties the messages not erased yet (already erased ones are left as they are, so a
 * rerun writes nothing), with their deliveries and the failure reasons their `_events`
 * rows quote, and writes one `_corrections` record naming them. The rows are locked
 * first: a claim that comes in meanwhile waits and then reads the tombstone, and one
 * that came before is found CLAIMED and held (settleHolds).
 */
export async function eraseMessages(tx: Tx, ctx: Ctx, ids: string[]): Promise<{ erased: number; records: Message[] }> {
  if (!ids.length) return { erased: 0, records: [] };
  const rows = await tx.$queryRawUnsafe<Locked[]>(
    `SELECT id, state, claimToken, correlationId, erasedAt, failureReason IS NOT NULL AS failed FROM messages WHERE id IN (${marks(ids)}) FOR UPDATE`,
    ...ids,
  );
  const fresh = rows.filter((r) => r.erasedAt === null);
  if (!fresh.length) return { erased: 0, records: [] };
  const freshIds = fresh.map((r) => r.id);
  // messages before deliveries, the order changeDelivery locks them in
  const deliveries = await tx.$queryRawUnsafe<{ messageId: string; state: string; claimToken: string | null; failed: unknown }[]>(
    `SELECT messageId, state, claimToken, failureReason IS NOT NULL AS failed FROM deliveries WHERE messageId IN (${marks(freshIds)}) FOR UPDATE`,
    ...freshIds,
  );
  await tx.$executeRawUnsafe(
    `UPDATE ${MESSAGE_BY_ID} SET body = ?, bodyHash = ?, labels = '{}', response = NULL, failureReason = NULL, hitlSpec = NULL,
       idempotencyKey = NULL, erasedAt = ?
     WHERE id IN (${marks(freshIds)}) AND erasedAt IS NULL`,
    TOMBSTONE_JSON,
    TOMBSTONE_HASH,
    ctx.at,
    ...freshIds,
  );
  if (deliveries.length) {
    await tx.$executeRawUnsafe(`UPDATE deliveries SET response = NULL, failureReason = NULL WHERE messageId IN (${marks(freshIds)})`, ...freshIds);
  }
  const holds = [
    ...fresh.filter((r) => r.state === "CLAIMED" && r.claimToken).map((r) => [r.id, r.claimToken!]),
    ...deliveries.filter((d) => d.state === "CLAIMED" && d.claimToken).map((d) => [d.messageId, d.claimToken!]),
  ];
  if (holds.length) {
    await tx.$executeRawUnsafe(
      `INSERT IGNORE INTO erasure_holds (jobId, messageId, claimToken) VALUES ${holds.map(() => "(?, ?, ?)").join(", ")}`,
      ...holds.flatMap(([messageId, token]) => [ctx.job.id, messageId, token]),
    );
  }
  const failed = new Set([
    ...fresh.filter((r) => Number(r.failed) === 1).map((r) => r.id),
    ...deliveries.filter((d) => Number(d.failed) === 1).map((d) => d.messageId),
  ]);
  await scrubEventReasons(tx, ctx, fresh.filter((r) => failed.has(r.id)));
  const record = await systemRecord(ctx, CORRECTIONS_QUEUE, "scaiqueue.gdpr.messages_erased", {
    jobId: ctx.job.id,
    erasedMessageIds: freshIds,
    erasedAt: ctx.at.toISOString(),
  });
  await insertRows(sqlOf(tx), [record]);
  return { erased: fresh.length, records: [record] };
}

/**
 * Claims that were live when their message was erased: the claimer read the body and
 * may write a response or a fail reason, and a copy made from what it held (dead-letter
 * copy, routed child) may carry the body. Once the claim has been over for `graceMs`,
 * those are erased too. Returns the holds left.
 */
export async function settleHolds(ctx: Ctx, graceMs: number): Promise<{ erased: number; records: Message[]; remaining: number }> {
  const db = ctx.deps.db;
  const claimEnded = `NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = h.messageId AND m.state = 'CLAIMED' AND m.claimToken = h.claimToken)
    AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.messageId = h.messageId AND d.state = 'CLAIMED' AND d.claimToken = h.claimToken)`;
  await db.$executeRawUnsafe(`UPDATE erasure_holds h SET endedAt = ? WHERE h.jobId = ? AND h.endedAt IS NULL AND ${claimEnded}`, ctx.at, ctx.job.id);
  const due = await db.erasureHold.findMany({
    where: { jobId: ctx.job.id, endedAt: { lte: new Date(ctx.at.getTime() - graceMs) } },
    take: ctx.batchSize,
  });
  const settled = due.length
    ? await db.$transaction(async (tx) => {
        const job = await lockJob(tx, ctx.job.id);
        if (!job || job.state !== "RUNNING") return { erased: 0, records: [] };
        const ids = [...new Set(due.map((h) => h.messageId))];
        const held = await tx.$queryRawUnsafe<Ref[]>(`SELECT id, correlationId FROM messages WHERE id IN (${marks(ids)}) FOR UPDATE`, ...ids);
        await tx.$executeRawUnsafe(`UPDATE ${MESSAGE_BY_ID} SET response = NULL, failureReason = NULL WHERE id IN (${marks(ids)})`, ...ids);
        await tx.$executeRawUnsafe(`UPDATE deliveries SET response = NULL, failureReason = NULL WHERE messageId IN (${marks(ids)})`, ...ids);
        await scrubEventReasons(tx, ctx, held);
        let erased = 0;
        const records: Message[] = [];
        let parents = held;
        for (let hop = 0; parents.length && hop < MAX_LINEAGE; hop++) {
          const copies = await copiesOf(tx, ctx, parents);
          const r = await eraseMessages(tx, ctx, copies.map((c) => c.id));
          erased += r.erased;
          records.push(...r.records);
          parents = copies;
        }
        await tx.$executeRawUnsafe(
          `DELETE FROM erasure_holds WHERE jobId = ? AND (messageId, claimToken) IN (${due.map(() => "(?, ?)").join(", ")})`,
          ctx.job.id,
          ...due.flatMap((h) => [h.messageId, h.claimToken]),
        );
        await tx.$executeRawUnsafe(`UPDATE erasure_jobs SET matched = matched + ?, erased = erased + ?, failures = 0 WHERE id = ?`, erased, erased, ctx.job.id);
        return { erased, records };
      })
    : { erased: 0, records: [] };
  return { ...settled, remaining: await db.erasureHold.count({ where: { jobId: ctx.job.id } }) };
}

/**
 * A message's `_events` rows carry its failure reason (a worker's free text). They have
 * the message's correlation id and causationId = the message, so a chain's are found by
 * index; uncorrelated ones by reading the scope from a minute before the message on.
 */
async function scrubEventReasons(tx: Tx, ctx: Ctx, messages: Ref[]): Promise<void> {
  const set = `UPDATE messages SET body = JSON_SET(body, '$.failureReason', NULL)`;
  await byCorrelation(messages, {
    correlated: (corrs, ids) =>
      tx.$executeRawUnsafe(
        `${set} WHERE tenantId = ? AND correlationId IN (${marks(corrs)}) AND queueId = ? AND causationId IN (${marks(ids)})`,
        ctx.job.tenantId,
        ...corrs,
        ctx.eventsQueueId,
        ...ids,
      ),
    plain: (ids) =>
      tx.$executeRawUnsafe(
        `${set} WHERE scopeId = ? AND id > ? AND correlationId IS NULL AND queueId = ? AND causationId IN (${marks(ids)})`,
        ctx.job.scopeId,
        idsFrom(ids),
        ctx.eventsQueueId,
        ...ids,
      ),
  });
}

/** The not yet erased copies the service made of these messages (isCopy, parentId = one of them), found like their `_events` rows. */
async function copiesOf(tx: Tx, ctx: Ctx, parents: Ref[]): Promise<Ref[]> {
  const out: Ref[] = [];
  const notRecords = `queueId NOT IN (${marks(ctx.recordQueues)})`;
  await byCorrelation(parents, {
    correlated: async (corrs, ids) =>
      out.push(
        ...(await tx.$queryRawUnsafe<Ref[]>(
          `SELECT id, correlationId FROM messages WHERE tenantId = ? AND correlationId IN (${marks(corrs)}) AND scopeId = ?
             AND parentId IN (${marks(ids)}) AND isCopy AND erasedAt IS NULL AND ${notRecords}`,
          ctx.job.tenantId,
          ...corrs,
          ctx.job.scopeId,
          ...ids,
          ...ctx.recordQueues,
        )),
      ),
    plain: async (ids) =>
      out.push(
        ...(await tx.$queryRawUnsafe<Ref[]>(
          `SELECT id, correlationId FROM messages WHERE scopeId = ? AND id > ? AND correlationId IS NULL
             AND parentId IN (${marks(ids)}) AND isCopy AND erasedAt IS NULL AND ${notRecords}`,
          ctx.job.scopeId,
          idsFrom(ids),
          ...ids,
          ...ctx.recordQueues,
        )),
      ),
  });
  return out;
}

async function byCorrelation(
  messages: Ref[],
  run: { correlated: (corrs: string[], ids: string[]) => Promise<unknown>; plain: (ids: string[]) => Promise<unknown> },
): Promise<void> {
  const correlated = messages.filter((m) => m.correlationId !== null);
  const plain = messages.filter((m) => m.correlationId === null).map((m) => m.id);
  if (correlated.length) await run.correlated([...new Set(correlated.map((m) => m.correlationId!))], correlated.map((m) => m.id));
  if (plain.length) await run.plain(plain);
}

/** The smallest UUIDv7 of a minute before the oldest of these ids: rows made after them, even by a process whose clock lags a little. */
function idsFrom(ids: string[]): string {
  const ms = Math.min(...ids.map((id) => parseInt(id.replace(/-/g, "").slice(0, 12), 16))) - 60_000;
  const h = Math.max(0, ms).toString(16).padStart(12, "0");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-7000-8000-000000000000`;
}

/** The job row, locked for the rest of the transaction: batches of one job never overlap. */
export async function lockJob(tx: Tx, id: string): Promise<ErasureJob | null> {
  const [locked] = await tx.$queryRawUnsafe<{ id: string }[]>(`SELECT id FROM erasure_jobs WHERE id = ? FOR UPDATE`, id);
  return locked ? tx.erasureJob.findUnique({ where: { id } }) : null;
}

/** A record in one of the scope's system queues, tied to its job by causationId. */
export async function systemRecord(
  ctx: Pick<Ctx, "deps" | "job" | "at">,
  slug: string,
  messageType: string,
  body: Record<string, unknown>,
): Promise<Message> {
  const queue = await ctx.deps.queues.systemQueue(ctx.job.scopeId, slug);
  return newMessage({
    id: uuidv7(ctx.at.getTime()),
    tenantId: ctx.job.tenantId,
    scopeId: ctx.job.scopeId,
    queueId: queue.id,
    messageType,
    body: body as Message["body"],
    causationId: ctx.job.id,
    createdAt: ctx.at,
  });
}
