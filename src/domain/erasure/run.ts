import type { ErasureJob, Message } from "../../generated/prisma/client.js";
import type { Deps } from "../deps.js";
import { eraseMessages, lockJob, settleHolds, systemRecord, type Ctx } from "./rows.js";
import { matchOf, type LabelValue, type Selector } from "./jobs.js";
import { insertRows } from "../../db/message-rows.js";
import { enqueueMessages } from "../intake/enqueue.js";
import { sqlOf } from "../../db/sql.js";
import { EVENTS_QUEUE, INTEGRITY_QUEUE, AUDIT_QUEUE, CORRECTIONS_QUEUE } from "../../db/queue-directory.js";
import { type Tx } from "../../db/client.js";

/*
 * GDPR erasure jobs at work (the gdpr_eraser agent runs them; erasure/jobs.ts starts
 * them). A job reads its scope's messages page by page in id order; each page is erased
 * in one short transaction that locks the job row and moves its lastMessageId on, so two
 * processes never work one page twice, and a process that dies loses at most the page it
 * was in: the next sweep, in any process, goes on from the job row.
 */

/**
 * System queues that hold records about messages, never their content. They are neither
 * erased nor matched: `_events` is what keeps traces whole, and an erasure's own records
 * name its selector.
 */
const RECORD_QUEUES = [EVENTS_QUEUE, AUDIT_QUEUE, INTEGRITY_QUEUE, CORRECTIONS_QUEUE];

export type EraserOptions = {
  /** messages read, and at most erased, per transaction */
  batchSize: number;
  /** batches per sweep over all jobs; a sweep must end well inside the agent lease (30 s) */
  batchesPerSweep: number;
};
/**
 * 500 rows per UPDATE keeps each batch's row locks to tens of milliseconds, so claims and
 * completes of the same messages wait at most that long; 20 batches (10,000 messages
 * read) a sweep take a second or two.
 */
export const ERASER_DEFAULTS: EraserOptions = { batchSize: 500, batchesPerSweep: 20 };

/** Sweeps in a row that may fail (each is logged) before a job is given up as FAILED. */
const MAX_FAILURES = 10;
/**
 * How long after a held claim is seen over its message is scrubbed: what follows a
 * complete or fail after its commit (routing children, `_events` rows) lands within
 * milliseconds, and is then erased with it.
 */
export const HOLD_GRACE_MS = 10_000;

/** One sweep: advances the PENDING and RUNNING jobs, oldest first; returns the messages it erased. */
export async function runErasures(deps: Deps, now: number, opts: EraserOptions = ERASER_DEFAULTS): Promise<number> {
  const jobs = await deps.db.erasureJob.findMany({ where: { state: { in: ["PENDING", "RUNNING"] } }, orderBy: { id: "asc" }, take: 20 });
  let budget = opts.batchesPerSweep;
  let erased = 0;
  for (const job of jobs) {
    if (budget <= 0) break;
    try {
      const r = await advance(deps, job, new Date(now), opts.batchSize, budget);
      budget -= r.batches;
      erased += r.erased;
    } catch (err) {
      budget--;
      deps.log.error({ err, jobId: job.id, agent: "gdpr_eraser" }, "erasure batch failed");
      await noteFailure(deps, job.id, new Date(now));
    }
  }
  return erased;
}

async function advance(deps: Deps, job: ErasureJob, at: Date, batchSize: number, budget: number): Promise<{ batches: number; erased: number }> {
  const system = await deps.db.queue.findMany({ where: { scopeId: job.scopeId, system: true }, select: { id: true, slug: true } });
  // the scope's staged `_events` messages carry failure reasons too: erase them as rows
  await deps.stagedEvents.materialize([system.find((q) => q.slug === EVENTS_QUEUE)!.id]);
  const ctx: Ctx = {
    deps,
    job,
    match: matchOf(job.selector as Selector),
    recordQueues: system.filter((q) => RECORD_QUEUES.includes(q.slug)).map((q) => q.id),
    eventsQueueId: system.find((q) => q.slug === EVENTS_QUEUE)!.id,
    at,
    batchSize,
  };
  if (job.state === "PENDING") {
    await deps.db.erasureJob.updateMany({ where: { id: job.id, state: "PENDING" }, data: { state: "RUNNING", startedAt: at } });
  }
  let batches = 0;
  let erased = 0;
  let scanned = job.scannedAt !== null;
  while (!scanned && batches < budget) {
    const r = await eraseBatch(ctx);
    batches++;
    if (!r) return { batches, erased }; // another process moved the job on meanwhile
    erased += r.erased;
    scanned = r.done;
  }
  if (!scanned || batches >= budget) return { batches, erased };
  const settled = await settleHolds(ctx, HOLD_GRACE_MS);
  await enqueueMessages(deps, settled.records);
  if (settled.remaining === 0) await finish(ctx);
  return { batches: batches + 1, erased: erased + settled.erased };
}

/**
 * The next page of the job's messages: the matching ones are erased, lastMessageId moves
 * past the page. The page is read before the transaction, so its locks are held only
 * while writing; a job that moved on meanwhile (another process) leaves it unused.
 */
async function eraseBatch(ctx: Ctx): Promise<{ erased: number; done: boolean } | null> {
  const db = ctx.deps.db;
  const seen = await db.erasureJob.findUnique({ where: { id: ctx.job.id } });
  if (!seen || seen.state !== "RUNNING" || seen.scannedAt) return null;
  const page = await readPage(db, ctx, seen.lastMessageId);
  const ids = matching(ctx, page);
  const done = page.length < ctx.batchSize;
  const result = await db.$transaction(async (tx) => {
    const job = await lockJob(tx, ctx.job.id);
    if (!job || job.state !== "RUNNING" || job.scannedAt || job.lastMessageId !== seen.lastMessageId) return null;
    const r = await eraseMessages(tx, ctx, ids);
    await tx.$executeRawUnsafe(
      `UPDATE erasure_jobs SET lastMessageId = ?, matched = matched + ?, erased = erased + ?, failures = 0, scannedAt = ? WHERE id = ?`,
      page.at(-1)?.id ?? job.lastMessageId,
      ids.length,
      r.erased,
      done ? ctx.at : null,
      job.id,
    );
    return r;
  });
  if (!result) return null;
  await enqueueMessages(ctx.deps, result.records);
  return { erased: result.erased, done };
}

type PageRow = {
  id: string;
  queueId: string;
  /** the message this row is a copy of, when the service made it as one (dead-letter copy, routed child) */
  copyOf?: string | null;
  labelType?: string | null;
  label?: string | null;
  parentErased?: unknown;
  correlationId?: string | null;
};

/**
 * A label selector reads the whole scope in id order (index scopeId, id; a page reads
 * exactly batchSize entries however few match) and tests each row's label; a
 * correlation id is found by index (tenantId, correlationId, id).
 */
function readPage(db: Tx, ctx: Ctx, after: string | null): Promise<PageRow[]> {
  if (ctx.match.kind === "label") {
    const path = `$."${ctx.match.key}"`; // keys are [A-Za-z0-9_.:/-]: nothing to escape
    return db.$queryRawUnsafe<PageRow[]>(
      `SELECT m.id, m.queueId, IF(m.isCopy, m.parentId, NULL) AS copyOf, JSON_TYPE(JSON_EXTRACT(m.labels, ?)) AS labelType, JSON_UNQUOTE(JSON_EXTRACT(m.labels, ?)) AS label,
         (m.erasedAt IS NULL AND m.isCopy AND m.parentId IS NOT NULL
           AND EXISTS (SELECT 1 FROM messages p WHERE p.id = m.parentId AND p.erasedAt IS NOT NULL)) AS parentErased
       FROM messages m WHERE m.scopeId = ? AND m.id > ? ORDER BY m.id LIMIT ?`,
      path,
      path,
      ctx.job.scopeId,
      after ?? "",
      ctx.batchSize,
    );
  }
  return db.$queryRawUnsafe<PageRow[]>(
    `SELECT m.id, m.queueId, m.correlationId FROM messages m
     WHERE m.tenantId = ? AND m.correlationId = ? AND m.scopeId = ? AND m.id > ? ORDER BY m.id LIMIT ?`,
    ctx.job.tenantId,
    ctx.match.correlationId,
    ctx.job.scopeId,
    after ?? "",
    ctx.batchSize,
  );
}

/**
 * The ids of a page the job covers, outside the record queues. Compared here, exactly:
 * SQL would compare strings case-insensitively (the columns' collation) and "42" with
 * 42. A copy the service made of an erased message (a dead-letter copy, a routed
 * child) is covered too while it still holds the content. Only the service marks
 * copies: a parentId a publisher gave links nothing here.
 */
function matching(ctx: Ctx, page: PageRow[]): string[] {
  const rows = page.filter((r) => !ctx.recordQueues.includes(r.queueId));
  const match = ctx.match;
  if (match.kind === "correlation") return rows.filter((r) => r.correlationId === match.correlationId).map((r) => r.id);
  const hit = new Set<string>();
  for (const r of rows) {
    if (sameLabel(r, match.value) || Number(r.parentErased) === 1 || (r.copyOf != null && hit.has(r.copyOf))) hit.add(r.id);
  }
  return [...hit];
}

/** The label as JSON_TYPE and the unquoted text tell it: the driver's own JSON parsing is not relied on. */
function sameLabel(r: PageRow, value: LabelValue): boolean {
  if (r.label == null) return false;
  switch (r.labelType) {
    case "STRING":
      return r.label === value;
    case "INTEGER":
    case "DOUBLE":
      return typeof value === "number" && Number(r.label) === value;
    case "BOOLEAN":
      return typeof value === "boolean" && (r.label === "true") === value;
    default:
      return false;
  }
}

/** COMPLETED, with its `_audit` record, in one transaction. */
async function finish(ctx: Ctx): Promise<void> {
  const records = await ctx.deps.db.$transaction(async (tx) => {
    const job = await lockJob(tx, ctx.job.id);
    if (!job || job.state !== "RUNNING" || (await tx.erasureHold.count({ where: { jobId: job.id } }))) return [];
    const done = await tx.erasureJob.update({ where: { id: job.id }, data: { state: "COMPLETED", finishedAt: ctx.at } });
    const record = await auditRecord(ctx, done);
    await insertRows(sqlOf(tx), [record]);
    return [record];
  });
  await enqueueMessages(ctx.deps, records);
}

/** Counts a failed sweep of the job; the MAX_FAILURES-th in a row ends it FAILED, with its `_audit` record. */
async function noteFailure(deps: Deps, jobId: string, at: Date): Promise<void> {
  const records = await deps.db.$transaction(async (tx) => {
    const job = await lockJob(tx, jobId);
    if (!job || (job.state !== "PENDING" && job.state !== "RUNNING")) return [];
    if (job.failures + 1 < MAX_FAILURES) {
      await tx.erasureJob.update({ where: { id: jobId }, data: { failures: { increment: 1 } } });
      return [];
    }
    const failed = await tx.erasureJob.update({
      where: { id: jobId },
      data: {
        state: "FAILED",
        failures: { increment: 1 },
        finishedAt: at,
        // the causes are in the service log; SQL errors are not for API clients
        error: `stopped after ${MAX_FAILURES} failed attempts in a row (the service log has each, with this job id); what it erased stays erased, and starting the same erasure again is safe`,
      },
    });
    const record = await auditRecord({ deps, job: failed, at }, failed);
    await insertRows(sqlOf(tx), [record]);
    return [record];
  });
  await enqueueMessages(deps, records);
}

/** The job's record in `_audit`: who, what selector, the counts; never anything erased. */
function auditRecord(ctx: Pick<Ctx, "deps" | "job" | "at">, job: ErasureJob): Promise<Message> {
  return systemRecord(ctx, AUDIT_QUEUE, `scaiqueue.gdpr.erasure_${job.state.toLowerCase()}`, {
    jobId: job.id,
    state: job.state,
    requestedBy: job.requestedBy,
    selector: job.selector,
    matched: job.matched,
    erased: job.erased,
    createdAt: job.createdAt.toISOString(),
    startedAt: job.startedAt?.toISOString() ?? null,
    finishedAt: job.finishedAt?.toISOString() ?? null,
    error: job.error,
  });
}
