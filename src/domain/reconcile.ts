import type { Message, MessageState } from "../generated/prisma/client.js";
import type { QueueKeys } from "../redis/keys.js";
import type { RepairOp } from "../redis/scripts.js";
import { integrityRecord } from "./integrity.js";
import { servedFromMariaDb } from "./event-log.js";
import type { Deps } from "./deps.js";
import { insertRows } from "./message-rows.js";
import type { Sql } from "../db/sql.js";
import { orderScore, type Ordering } from "./ordering.js";
import { enqueueMessages } from "./pending.js";

/**
 * How long Redis and MariaDB may disagree about a message before it is repaired. Every
 * operation writes one and then the other within milliseconds, so a disagreement that
 * outlives this is damage (a crash between the two writes, a flushed or restarted
 * Redis), not an operation in flight.
 */
export const REPAIR_GRACE_MS = 5000;

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
type Current = { id: string; state: MessageState; claimToken: string | null };

/**
 * One set of Redis structures and the rows it must mirror: a COMPETING queue and its
 * messages, or a consumer group of a BROADCAST queue and its deliveries.
 */
type Target = {
  queueId: string;
  group: { id: string; name: string } | null;
  scopeId: string;
  tenantId: string;
  ordering: Ordering;
  keys: QueueKeys;
  counts(): Promise<{ pending: number; claimed: number }>;
  rows(): Promise<Row[]>;
  current(ids: string[]): Promise<Current[]>;
};

const OPEN: MessageState[] = ["PENDING", "CLAIMED"];

/**
 * Makes Redis agree with MariaDB, the record: pending rows in the pending (or delayed)
 * set, claimed rows locked with their token and expiry, nothing else. A target whose
 * counts agree is taken as sound; one whose counts differ is compared id by id, and a
 * difference is repaired once it has lasted REPAIR_GRACE_MS. Repairs are written to the
 * scope's _integrity queue.
 */
export class Reconciler {
  /** difference key → when it was first seen */
  private readonly seen = new Map<string, number>();

  constructor(private readonly deps: Deps) {}

  /** Differences seen that are still waiting out their grace time. */
  hasSuspects(): boolean {
    return this.seen.size > 0;
  }

  async run(now: number): Promise<QueueRepair[]> {
    const stillSeen = new Set<string>();
    const repairs: QueueRepair[] = [];
    for (const t of await this.targets()) {
      const r = await this.reconcile(t, now, stillSeen);
      if (r) repairs.push(r);
    }
    for (const k of this.seen.keys()) if (!stillSeen.has(k)) this.seen.delete(k);
    if (repairs.length) await this.record(repairs, now);
    return repairs;
  }

  private async targets(): Promise<Target[]> {
    const db = this.deps.db;
    const queues = await db.queue.findMany({
      select: { id: true, scopeId: true, tenantId: true, ordering: true, consumerMode: true, system: true, slug: true, consumerGroups: { select: { id: true, name: true } } },
    });
    return queues.filter((q) => !servedFromMariaDb(q)).flatMap((q): Target[] => {
      const base = { queueId: q.id, scopeId: q.scopeId, tenantId: q.tenantId, ordering: q.ordering };
      if (q.consumerMode === "COMPETING") {
        return [
          {
            ...base,
            group: null,
            keys: this.deps.scripts.keys.queue(q.scopeId, q.id),
            counts: async () => ({
              pending: await db.message.count({ where: { queueId: q.id, state: "PENDING" } }),
              claimed: await db.message.count({ where: { queueId: q.id, state: "CLAIMED" } }),
            }),
            rows: () => openRows(this.deps.sql, q.id),
            current: (ids) => db.message.findMany({ where: { id: { in: ids } }, select: { id: true, state: true, claimToken: true } }),
          },
        ];
      }
      return q.consumerGroups.map((g) => ({
        ...base,
        group: g,
        keys: this.deps.scripts.keys.queue(q.scopeId, q.id, g.id),
        counts: async () => ({
          pending: await db.delivery.count({ where: { groupId: g.id, state: "PENDING" } }),
          claimed: await db.delivery.count({ where: { groupId: g.id, state: "CLAIMED" } }),
        }),
        rows: async () => {
          const ds = await db.delivery.findMany({ where: { groupId: g.id, state: { in: OPEN } } });
          const ms = new Map(
            (
              await db.message.findMany({
                where: { id: { in: ds.map((d) => d.messageId) } },
                select: { id: true, priorityTier: true, priorityScore: true, deadline: true, createdAt: true },
              })
            ).map((m) => [m.id, m]),
          );
          return ds.flatMap((d) => {
            const m = ms.get(d.messageId);
            return m ? [{ ...m, state: d.state, claimToken: d.claimToken, claimExpiresAt: d.claimExpiresAt, visibleAt: d.visibleAt }] : [];
          });
        },
        current: async (ids) =>
          (await db.delivery.findMany({ where: { groupId: g.id, messageId: { in: ids } } })).map((d) => ({ id: d.messageId, state: d.state, claimToken: d.claimToken })),
      }));
    });
  }

  private async reconcile(t: Target, now: number, stillSeen: Set<string>): Promise<QueueRepair | null> {
    const [counts, depth] = await Promise.all([t.counts(), this.deps.scripts.depth(t.keys)]);
    if (counts.pending === depth.ready + depth.delayed && counts.claimed === depth.claimed) return null;

    const [rows, redis] = await Promise.all([t.rows(), this.deps.scripts.snapshot(t.keys)]);
    const known = new Set(rows.map((r) => r.id));
    const ops: RepairOp[] = [];
    const due = (diff: string) => {
      const key = `${t.queueId}/${t.group?.id ?? ""}/${diff}`;
      stillSeen.add(key);
      const first = this.seen.get(key) ?? now;
      this.seen.set(key, first);
      return now - first >= REPAIR_GRACE_MS;
    };
    for (const r of rows) {
      const queued = redis.ready.has(r.id) || redis.delayed.has(r.id);
      const lock = redis.locks.get(r.id);
      if (r.state === "PENDING" && (!queued || lock !== undefined) && due(`${r.id}/pending`)) {
        ops.push({ op: "requeue", id: r.id, score: orderScore(t.ordering, r), visibleAt: r.visibleAt?.getTime() ?? 0 });
      }
      if (r.state === "CLAIMED" && (lock !== r.claimToken || queued) && due(`${r.id}/claimed/${r.claimToken}`)) {
        ops.push({ op: "relock", id: r.id, token: r.claimToken!, expiresAt: r.claimExpiresAt?.getTime() ?? now });
      }
    }
    for (const id of new Set([...redis.ready, ...redis.delayed, ...redis.locks.keys()])) {
      if (!known.has(id) && due(`${id}/gone`)) ops.push({ op: "remove", id });
    }
    if (!ops.length) return null;
    // Re-read just those rows: one may have moved on since the listing above.
    const current = new Map((await t.current(ops.map((o) => o.id))).map((r) => [r.id, r]));
    const confirmed = ops.filter((o) => {
      const c = current.get(o.id);
      if (o.op === "requeue") return c?.state === "PENDING";
      if (o.op === "relock") return c?.state === "CLAIMED" && c.claimToken === o.token;
      return !c || !OPEN.includes(c.state);
    });
    await this.deps.scripts.repair(t.keys, now, confirmed);
    const n = (op: RepairOp["op"]) => confirmed.filter((o) => o.op === op).length;
    return {
      queueId: t.queueId,
      consumerGroup: t.group?.name ?? null,
      scopeId: t.scopeId,
      tenantId: t.tenantId,
      requeued: n("requeue"),
      relocked: n("relock"),
      removed: n("remove"),
    };
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

/** Rows read per statement when a queue's open rows are listed. */
const PAGE = 10_000;

/**
 * A queue's open rows, a page at a time along (queueId, state, id), on the mariadb
 * driver: a deep queue's full pass read a million rows through Prisma at once, which held
 * the server at 100% CPU for seconds (benchmark scenario 5, docs/performance.md).
 */
async function openRows(sql: Sql, queueId: string): Promise<Row[]> {
  const out: Row[] = [];
  for (const state of OPEN) {
    for (let after = ""; ; ) {
      const page = await sql.rows<Row>(
        `SELECT id, state, claimToken, claimExpiresAt, visibleAt, priorityTier, priorityScore, deadline, createdAt
           FROM messages WHERE queueId = ? AND state = ? AND id > ? ORDER BY id LIMIT ${PAGE}`,
        [queueId, state, after],
      );
      out.push(...page);
      if (page.length < PAGE) break;
      after = page[page.length - 1]!.id;
    }
  }
  return out;
}
