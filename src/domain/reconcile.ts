import type { Message, MessageState } from "../generated/prisma/client.js";
import type { QueueKeys } from "../redis/keys.js";
import type { InRedis, RepairOp, ScannedStructure } from "../redis/scripts.js";
import { integrityRecord } from "./intake/records.js";
import type { Deps } from "./deps.js";
import { insertRows, MESSAGE_BY_ID } from "../db/message-rows.js";
import { marks, statementChunks } from "../db/sql.js";
import { orderScore, type Ordering } from "./intake/ordering.js";
import { enqueueMessages } from "./intake/enqueue.js";
import { isUuid } from "../ids.js";
import { servedFrom } from "../db/queue-directory.js";

/**
 * How long Redis and MariaDB may disagree about a message before it is repaired. Every
 * operation writes one and then the other within milliseconds, so a disagreement that
 * outlives this is damage (a crash between the two writes, a flushed or restarted
 * Redis), not an operation in flight.
 */
export const REPAIR_GRACE_MS = 5000;

/**
 * Ids a periodic check compares per sweep, over all queues. It keeps the check's cost
 * per second the same at any depth: a check that read every open row at once would take
 * seconds of CPU at 1,000,000 pending and cut the claim rate up to fourfold while it ran
 * (benchmark scenario 5, docs/performance.md). At this budget a queue is gone through
 * in (open rows + Redis entries) / 10,000 sweeps.
 */
export const CHECK_BUDGET = 10_000;

/** Ids read per statement or per SCAN step. */
const PAGE = 5_000;

export type QueueRepair = {
  queueId: string;
  consumerGroup: string | null;
  scopeId: string;
  tenantId: string;
  requeued: number;
  relocked: number;
  removed: number;
};

type Row = Pick<Message, "id" | "state" | "claimToken" | "claimExpiresAt" | "visibleAt" | "priorityTier" | "priorityScore" | "deadline" | "createdAt">;
/** What a check compares with Redis: an open row's id, state and (when CLAIMED) token. */
type Open = Pick<Row, "id" | "state" | "claimToken">;

/**
 * One set of Redis structures and the rows it must mirror: a COMPETING queue and its
 * messages, or a consumer group of a BROADCAST queue and its deliveries.
 */
type Target = {
  key: string;
  queueId: string;
  group: { id: string; name: string } | null;
  scopeId: string;
  tenantId: string;
  ordering: Ordering;
  keys: QueueKeys;
  /**
   * Open rows in `state` with ids after `after`, by id. PENDING ones come from the
   * (queue, state, id) index alone: a round must not pull a deep queue's whole rows
   * through the buffer pool, where they would push out what claims use.
   */
  page(state: MessageState, after: string, limit: number): Promise<Open[]>;
  /** Which of these ids have an open row (from the same index). */
  open(ids: string[]): Promise<Set<string>>;
  /** The whole rows of these ids, in any state; an id without a row is left out. */
  rowsById(ids: string[]): Promise<Row[]>;
};

/** Where a check of all targets has got to: a target, and a step of it. */
type Cursor = { targets: Target[]; target: number; step: number; after: string };

/** Walked for each target: its open rows from MariaDB, then every id held in Redis. */
const STEPS: ({ rows: MessageState } | { scan: ScannedStructure })[] = [
  { rows: "PENDING" },
  { rows: "CLAIMED" },
  { scan: "pending" },
  { scan: "delayed" },
  { scan: "claims" },
  { scan: "locks" },
];

type Suspect = { target: Target; id: string; difference: string; since: number };

/**
 * Makes Redis agree with MariaDB, the record: pending rows in the pending (or delayed)
 * set, claimed rows locked with their token and expiry, nothing else. Targets are gone
 * through id by id, all at once after Redis lost its state, otherwise CHECK_BUDGET ids a
 * sweep, a new round starting at most every `everyMs`. A difference found is re-read
 * by id each sweep and repaired once it has lasted REPAIR_GRACE_MS, so a difference
 * costs its ids, not a pass over its queue. Repairs are written to the scope's
 * _integrity queue.
 */
export class Reconciler {
  /** `${target}/${id}` → the difference first seen there, and when */
  private readonly suspects = new Map<string, Suspect>();
  private cursor: Cursor | null = null;
  private lastRoundAt = -Infinity;

  constructor(
    private readonly deps: Deps,
    private readonly everyMs: number,
  ) {}

  /** Differences seen that are still waiting out their grace time. */
  hasSuspects(): boolean {
    return this.suspects.size > 0;
  }

  /**
   * One sweep: re-reads the suspects, then checks CHECK_BUDGET more ids, or every id
   * when `all` (Redis lost its state, or may have lost its last writes).
   */
  async run(now: number, all = false): Promise<QueueRepair[]> {
    const repairs = await this.recheck(now);
    if (all) this.cursor = null;
    if (!this.cursor && (all || now - this.lastRoundAt >= this.everyMs)) {
      this.cursor = { targets: await this.targets(), target: 0, step: 0, after: "" };
      this.lastRoundAt = now;
    }
    if (this.cursor) await this.check(this.cursor, all ? Infinity : CHECK_BUDGET, now);
    if (repairs.length) await this.record(repairs, now);
    return repairs;
  }

  /** Advances the round by about `budget` ids, noting each difference as a suspect. */
  private async check(c: Cursor, budget: number, now: number): Promise<void> {
    while (budget > 0 && c.target < c.targets.length) {
      const t = c.targets[c.target]!;
      const step = STEPS[c.step]!;
      let ids: string[];
      let next: string;
      let found: { id: string; difference: string }[];
      if ("rows" in step) {
        const rows = await t.page(step.rows, c.after, PAGE);
        ids = rows.map((r) => r.id);
        next = rows.length < PAGE ? "" : ids[ids.length - 1]!;
        const inRedis = await this.deps.scripts.lookup(t.keys, ids);
        found = rows.flatMap((r, i) => {
          const d = difference(r, inRedis[i]!);
          return d ? [{ id: r.id, difference: d }] : [];
        });
      } else {
        // Open rows were compared in the steps above; here, ids Redis holds without one.
        const got = await this.deps.scripts.scan(t.keys, step.scan, c.after || "0", PAGE);
        ids = got.ids;
        next = got.cursor === "0" ? "" : got.cursor;
        const open = await t.open(ids);
        found = ids.filter((id) => !open.has(id)).map((id) => ({ id, difference: "gone" }));
      }
      budget -= Math.max(ids.length, 1);
      for (const f of found) {
        const key = `${t.key}/${f.id}`;
        if (this.suspects.get(key)?.difference !== f.difference) this.suspects.set(key, { target: t, ...f, since: now });
      }
      c.after = next;
      if (next) continue;
      if (++c.step === STEPS.length) [c.target, c.step] = [c.target + 1, 0];
    }
    if (c.target === c.targets.length) this.cursor = null;
  }

  /**
   * Reads every suspect again, rows and Redis alike: a difference that is gone is
   * forgotten, one that has lasted the grace time is repaired (with what was just read).
   */
  private async recheck(now: number): Promise<QueueRepair[]> {
    const byTarget = new Map<Target, string[]>();
    for (const s of this.suspects.values()) {
      const ids = byTarget.get(s.target);
      if (ids) ids.push(s.id);
      else byTarget.set(s.target, [s.id]);
    }
    const repairs: QueueRepair[] = [];
    for (const [t, all] of byTarget) {
      const ops: RepairOp[] = [];
      for (let i = 0; i < all.length; i += PAGE) {
        const ids = all.slice(i, i + PAGE);
        const found = new Map((await this.differences(t, ids)).map((d) => [d.id, d]));
        for (const id of ids) {
          const key = `${t.key}/${id}`;
          const was = this.suspects.get(key)!;
          const d = found.get(id);
          if (!d) this.suspects.delete(key);
          else if (d.difference !== was.difference) this.suspects.set(key, { target: t, id, difference: d.difference, since: now });
          else if (now - was.since >= REPAIR_GRACE_MS) {
            ops.push(d.repair);
            this.suspects.delete(key);
          }
        }
      }
      if (!ops.length) continue;
      await this.deps.scripts.repair(t.keys, now, ops);
      const n = (op: RepairOp["op"]) => ops.filter((o) => o.op === op).length;
      repairs.push({
        queueId: t.queueId,
        consumerGroup: t.group?.name ?? null,
        scopeId: t.scopeId,
        tenantId: t.tenantId,
        requeued: n("requeue"),
        relocked: n("relock"),
        removed: n("remove"),
      });
    }
    return repairs;
  }

  /** The ids whose Redis state does not match their row, both read now, each with its repair. */
  private async differences(t: Target, ids: string[]): Promise<{ id: string; difference: string; repair: RepairOp }[]> {
    const [rows, inRedis] = await Promise.all([t.rowsById(ids), this.deps.scripts.lookup(t.keys, ids)]);
    const byId = new Map(rows.map((r) => [r.id, r]));
    return ids.flatMap((id, i) => {
      const row = byId.get(id);
      const d = difference(row, inRedis[i]!);
      if (!d) return [];
      const repair: RepairOp =
        row?.state === "PENDING"
          ? { op: "requeue", id, score: orderScore(t.ordering, row), visibleAt: row.visibleAt?.getTime() ?? 0 }
          : row?.state === "CLAIMED"
            ? { op: "relock", id, token: row.claimToken!, expiresAt: row.claimExpiresAt?.getTime() ?? 0 }
            : { op: "remove", id };
      return [{ id, difference: d, repair }];
    });
  }

  private async targets(): Promise<Target[]> {
    const { db, sql } = this.deps;
    const queues = await db.queue.findMany({
      select: { id: true, scopeId: true, tenantId: true, ordering: true, consumerMode: true, system: true, slug: true, consumerGroups: { select: { id: true, name: true } } },
    });
    return queues.filter((q) => servedFrom(q) === "redis").flatMap((q): Target[] => {
      const base = { queueId: q.id, scopeId: q.scopeId, tenantId: q.tenantId, ordering: q.ordering };
      if (q.consumerMode === "COMPETING") {
        return [
          {
            ...base,
            key: q.id,
            group: null,
            keys: this.deps.scripts.keys.queue(q.scopeId, q.id),
            page: (state, after, limit) =>
              sql.rows<Open>(
                `SELECT id, state, ${state === "CLAIMED" ? "claimToken" : "NULL AS claimToken"} FROM messages
                  WHERE queueId = ? AND state = ? AND id > ? ORDER BY id LIMIT ${limit}`,
                [q.id, state, after],
              ),
            open: (ids) => openOf(ids, (chunk, state) => sql.rows(`SELECT id FROM messages WHERE queueId = ? AND state = ? AND id IN (${marks(chunk)})`, [q.id, state, ...chunk])),
            rowsById: (ids) => byIds(ids, (chunk) => sql.rows<Row>(`SELECT ${MESSAGE_COLUMNS} FROM ${MESSAGE_BY_ID} WHERE id IN (${marks(chunk)}) AND queueId = ?`, [...chunk, q.id])),
          },
        ];
      }
      return q.consumerGroups.map((g) => ({
        ...base,
        key: `${q.id}/${g.id}`,
        group: g,
        keys: this.deps.scripts.keys.queue(q.scopeId, q.id, g.id),
        page: (state, after, limit) =>
          sql.rows<Open>(
            `SELECT messageId AS id, state, ${state === "CLAIMED" ? "claimToken" : "NULL AS claimToken"} FROM deliveries
              WHERE groupId = ? AND state = ? AND messageId > ? ORDER BY messageId LIMIT ${limit}`,
            [g.id, state, after],
          ),
        open: (ids) =>
          openOf(ids, (chunk, state) =>
            sql.rows(`SELECT messageId AS id FROM deliveries WHERE groupId = ? AND state = ? AND messageId IN (${marks(chunk)})`, [g.id, state, ...chunk]),
          ),
        rowsById: (ids) =>
          byIds(ids, (chunk) =>
            sql.rows<Row>(`SELECT ${DELIVERY_COLUMNS} FROM deliveries d JOIN messages m ON m.id = d.messageId WHERE d.messageId IN (${marks(chunk)}) AND d.groupId = ?`, [...chunk, g.id]),
          ),
      }));
    });
  }

  /** One _integrity message per repaired queue or group, so people can see what was put right. */
  private async record(repairs: QueueRepair[], now: number): Promise<void> {
    const at = new Date(now);
    const messages: Message[] = [];
    for (const r of repairs) {
      const body = { queueId: r.queueId, consumerGroup: r.consumerGroup, requeued: r.requeued, relocked: r.relocked, removed: r.removed };
      messages.push(await integrityRecord(this.deps, r, "redis_repair", body, at));
    }
    await insertRows(this.deps.sql, messages);
    await enqueueMessages(this.deps, messages);
  }
}

const MESSAGE_COLUMNS = "id, state, claimToken, claimExpiresAt, visibleAt, priorityTier, priorityScore, deadline, createdAt";
const DELIVERY_COLUMNS =
  "d.messageId AS id, d.state, d.claimToken, d.claimExpiresAt, d.visibleAt, m.priorityTier, m.priorityScore, m.deadline, m.createdAt";

/**
 * Runs `read` on the ids that can be message ids, 500 at a time. Anything else in Redis
 * has no row (and MariaDB refuses to compare non-ASCII text with the ascii id columns),
 * so it is left out and found "gone".
 */
async function byIds(ids: string[], read: (chunk: string[]) => Promise<Row[]>): Promise<Row[]> {
  const out: Row[] = [];
  for (const chunk of statementChunks(ids.filter(isUuid))) out.push(...(await read(chunk)));
  return out;
}

/**
 * The ids with an open row, one state at a time, so each lookup is a range of the
 * (…, state, id) index. The lists stay at 500: from 1,000 values
 * (in_predicate_conversion_threshold) MariaDB turns an IN list into a join and reads the
 * whole (…, state) range, a million entries in a deep queue.
 */
async function openOf(ids: string[], read: (chunk: string[], state: MessageState) => Promise<{ id: string }[]>): Promise<Set<string>> {
  const open = new Set<string>();
  let left = ids.filter(isUuid);
  for (const state of ["PENDING", "CLAIMED"] as const) {
    for (const chunk of statementChunks(left)) for (const r of await read(chunk, state)) open.add(r.id);
    left = left.filter((id) => !open.has(id));
  }
  return open;
}

/**
 * How Redis differs from what the row asks of it, or null: a PENDING row is queued and
 * not claimed, a CLAIMED row is claimed under its token and not queued, and an id
 * without an open row is nowhere. The claimed row's token is part of its difference, so
 * a claim that moved on between two reads is not taken for the same difference.
 */
function difference(row: Open | undefined, r: InRedis): string | null {
  const claimed = r.claimed || r.lock !== null;
  if (row?.state === "PENDING") return !r.queued || claimed ? "pending" : null;
  if (row?.state === "CLAIMED") return r.lock !== row.claimToken || !r.claimed || r.queued ? `claimed/${row.claimToken}` : null;
  return r.queued || claimed ? "gone" : null;
}
