import type { Message } from "../generated/prisma/client.js";
import { uuidv7 } from "../ids.js";
import type { RepairOp } from "../redis/scripts.js";
import { bodyHash } from "./canonical-json.js";
import type { Deps } from "./deps.js";
import { insertRows, newMessage } from "./message-rows.js";
import { orderScore, type Ordering } from "./ordering.js";
import { enqueueMessages } from "./pending.js";

export const INTEGRITY_QUEUE = "_integrity";

/**
 * How long Redis and MariaDB may disagree about a message before it is repaired. Every
 * operation writes one and then the other within milliseconds, so a disagreement that
 * outlives this is damage (a crash between the two writes, a flushed or restarted
 * Redis), not an operation in flight.
 */
export const REPAIR_GRACE_MS = 5000;

export type QueueRepair = { queueId: string; scopeId: string; tenantId: string; requeued: number; relocked: number; removed: number };

type Row = Pick<Message, "id" | "state" | "claimToken" | "claimExpiresAt" | "visibleAt" | "priorityTier" | "priorityScore" | "deadline" | "createdAt">;

/**
 * Makes Redis agree with MariaDB, the record: pending rows in the pending (or delayed)
 * set, claimed rows locked with their token and expiry, nothing else. A queue whose
 * counts agree is taken as sound; one whose counts differ is compared id by id, and a
 * difference is repaired once it has lasted REPAIR_GRACE_MS. Repairs are written to the
 * scope's _integrity queue.
 */
export class Reconciler {
  /** difference key → when it was first seen */
  private readonly seen = new Map<string, number>();

  constructor(private readonly deps: Deps) {}

  async run(now: number): Promise<QueueRepair[]> {
    // TODO(2026-11-29): consumer groups' Redis sets (BROADCAST queues) are not reconciled yet.
    const queues = await this.deps.db.queue.findMany({
      where: { consumerMode: "COMPETING" },
      select: { id: true, scopeId: true, tenantId: true, ordering: true },
    });
    const stillSeen = new Set<string>();
    const repairs: QueueRepair[] = [];
    for (const q of queues) {
      const r = await this.reconcileQueue(q, now, stillSeen);
      if (r) repairs.push(r);
    }
    for (const k of this.seen.keys()) if (!stillSeen.has(k)) this.seen.delete(k);
    if (repairs.length) await this.record(repairs, now);
    return repairs;
  }

  private async reconcileQueue(
    q: { id: string; scopeId: string; tenantId: string; ordering: Ordering },
    now: number,
    stillSeen: Set<string>,
  ): Promise<QueueRepair | null> {
    const keys = this.deps.scripts.keys.queue(q.scopeId, q.id);
    const [counts, depth] = await Promise.all([
      this.deps.db.message.groupBy({ by: ["state"], where: { queueId: q.id, state: { in: ["PENDING", "CLAIMED"] } }, _count: { _all: true } }),
      this.deps.scripts.depth(keys),
    ]);
    const count = (s: string) => counts.find((c) => c.state === s)?._count._all ?? 0;
    if (count("PENDING") === depth.ready + depth.delayed && count("CLAIMED") === depth.claimed) return null;

    const [rows, redis] = await Promise.all([
      this.deps.db.message.findMany({
        where: { queueId: q.id, state: { in: ["PENDING", "CLAIMED"] } },
        select: { id: true, state: true, claimToken: true, claimExpiresAt: true, visibleAt: true, priorityTier: true, priorityScore: true, deadline: true, createdAt: true },
      }),
      this.deps.scripts.snapshot(keys),
    ]);
    const byId = new Map<string, Row>(rows.map((r) => [r.id, r]));
    const ops: RepairOp[] = [];
    const due = (diff: string) => {
      const key = `${q.id}/${diff}`;
      stillSeen.add(key);
      const first = this.seen.get(key) ?? now;
      this.seen.set(key, first);
      return now - first >= REPAIR_GRACE_MS;
    };
    for (const r of rows) {
      const queued = redis.ready.has(r.id) || redis.delayed.has(r.id);
      const lock = redis.locks.get(r.id);
      if (r.state === "PENDING" && (!queued || lock !== undefined) && due(`${r.id}/pending`)) {
        ops.push({ op: "requeue", id: r.id, score: orderScore(q.ordering, r), visibleAt: r.visibleAt?.getTime() ?? 0 });
      }
      if (r.state === "CLAIMED" && (lock !== r.claimToken || queued) && due(`${r.id}/claimed/${r.claimToken}`)) {
        ops.push({ op: "relock", id: r.id, token: r.claimToken!, expiresAt: r.claimExpiresAt?.getTime() ?? now });
      }
    }
    for (const id of new Set([...redis.ready, ...redis.delayed, ...redis.locks.keys()])) {
      if (!byId.has(id) && due(`${id}/gone`)) ops.push({ op: "remove", id });
    }
    if (!ops.length) return null;
    // Re-read just those rows: one may have moved on since the listing above.
    const current = new Map(
      (await this.deps.db.message.findMany({ where: { id: { in: ops.map((o) => o.id) } }, select: { id: true, state: true, claimToken: true } })).map((r) => [r.id, r]),
    );
    const confirmed = ops.filter((o) => {
      const c = current.get(o.id);
      if (o.op === "requeue") return c?.state === "PENDING";
      if (o.op === "relock") return c?.state === "CLAIMED" && c.claimToken === o.token;
      return !c || (c.state !== "PENDING" && c.state !== "CLAIMED");
    });
    await this.deps.scripts.repair(keys, now, confirmed);
    const n = (op: RepairOp["op"]) => confirmed.filter((o) => o.op === op).length;
    return { queueId: q.id, scopeId: q.scopeId, tenantId: q.tenantId, requeued: n("requeue"), relocked: n("relock"), removed: n("remove") };
  }

  /** One _integrity message per repaired queue, so people can see what was put right. */
  private async record(repairs: QueueRepair[], now: number): Promise<void> {
    const at = new Date(now);
    const messages: Message[] = [];
    for (const r of repairs) {
      const integrity = await this.deps.queues.systemQueue(r.scopeId, INTEGRITY_QUEUE);
      const body = { kind: "redis_repair", queueId: r.queueId, requeued: r.requeued, relocked: r.relocked, removed: r.removed, at: at.toISOString() };
      messages.push(
        newMessage({
          id: uuidv7(now),
          tenantId: r.tenantId,
          scopeId: r.scopeId,
          queueId: integrity.id,
          messageType: "scaiqueue.integrity.redis_repair",
          body,
          bodyHash: bodyHash(body),
          createdAt: at,
        }),
      );
    }
    await insertRows(this.deps.db, messages);
    await enqueueMessages(this.deps, messages);
  }
}
