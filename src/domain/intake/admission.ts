import { randomUUID } from "node:crypto";
import type { Db } from "../../db/client.js";
import { marks } from "../../db/sql.js";
import type { Message } from "../../generated/prisma/client.js";
import { QueueFullError } from "../../errors.js";
import type { Deps } from "../deps.js";
import type { Admitted } from "./enqueue.js";
import type { QueueInfo } from "../../db/queue-directory.js";
import { withRedis, bestEffort } from "../../redis/fallback.js";
import { MESSAGE_BY_ID } from "../../db/message-rows.js";

/** A publisher that dies between reserving room and enqueueing frees it after this. */
const RESERVATION_TTL_MS = 60_000;

export type Admission = {
  /** per queue with a maxDepth: its reservation, and how many oldest messages to drop */
  queues: Map<string, { tenantId: string; reservation: string; admitted: number; drops: number }>;
  /** ids of newcomers that did not fit (DEAD_LETTER policy) */
  overflow: Set<string>;
};

/**
 * Reserves room in every queue of the publish that has a maxDepth (admit-5.lua), which
 * keeps the bound exact under concurrent publishers. REJECT refuses the whole publish
 * with SCAIQUEUE_QUEUE_FULL; DEAD_LETTER admits what fits and marks the rest as overflow
 * (the last of the batch); DROP_OLDEST admits all and says how many to drop.
 */
export async function admit(deps: Pick<Deps, "scripts" | "queues" | "db">, queues: QueueInfo[], rows: Message[], now: number): Promise<Admission> {
  const admission: Admission = { queues: new Map(), overflow: new Set() };
  for (const q of queues) {
    // TODO(2026-11-29): maxDepth of BROADCAST queues (per consumer group) is not enforced yet.
    if (q.maxDepth === null || q.consumerMode === "BROADCAST") continue;
    const mine = rows.filter((r) => r.queueId === q.id);
    const reservation = randomUUID();
    const maxDepth = q.maxDepth;
    const r = await withRedis(
      deps,
      () =>
        deps.scripts.admit(deps.scripts.keys.queue(q.scopeId, q.id), {
          now,
          ttlMs: RESERVATION_TTL_MS,
          maxDepth,
          n: mine.length,
          reservation,
          policy: q.overflowPolicy,
        }),
      () => admitByCount(deps, q, maxDepth, mine.length),
    );
    if (r.admitted > 0) admission.queues.set(q.id, { tenantId: q.tenantId, reservation, admitted: r.admitted, drops: r.drops });
    if (r.admitted < mine.length) {
      if (q.overflowPolicy === "REJECT") {
        await release(deps, admission);
        throw new QueueFullError(q.maxDepth);
      }
      for (const m of mine.slice(r.admitted)) admission.overflow.add(m.id);
    }
  }
  return admission;
}

/**
 * While Redis is down: the same decision from MariaDB's counts. Not exact under
 * concurrent publishers (nothing reserves the room), which docs/design.md states.
 */
async function admitByCount(deps: Pick<Deps, "db">, q: QueueInfo, maxDepth: number, n: number) {
  const occupied = await deps.db.message.count({ where: { queueId: q.id, state: { in: ["PENDING", "CLAIMED"] } } });
  const room = Math.max(0, maxDepth - occupied);
  if (q.overflowPolicy === "REJECT") return { admitted: n <= room ? n : 0, drops: 0 };
  if (q.overflowPolicy === "DEAD_LETTER") return { admitted: Math.min(n, room), drops: 0 };
  const admitted = Math.min(n, maxDepth);
  return { admitted, drops: Math.max(0, admitted - room) };
}

/** Gives the reserved room back (the publish failed before enqueueing). */
export async function release(deps: Pick<Deps, "scripts" | "queues">, admission: Admission): Promise<void> {
  await Promise.all(
    [...admission.queues].map(async ([queueId, a]) => {
      const q = await deps.queues.get(a.tenantId, queueId);
      await bestEffort(deps, () =>
        deps.scripts.enqueue(deps.scripts.keys.queue(q.scopeId, q.id), [], { reservation: a.reservation, dropped: [] }),
      );
    }),
  );
}

/**
 * DROP_OLDEST: ends the oldest pending messages of the queue as EXPIRED (reason given),
 * inside the publish's transaction. SKIP LOCKED keeps concurrent publishers from picking
 * the same victims, so together they drop exactly what they owe.
 */
export async function dropOldest(tx: Db, queueId: string, n: number, at: Date, exclude: Set<string>): Promise<Message[]> {
  if (n <= 0) return [];
  const victims = await tx.$queryRawUnsafe<{ id: string }[]>(
    `SELECT id FROM messages WHERE queueId = ? AND state = 'PENDING' ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED`,
    queueId,
    n + exclude.size,
  );
  const ids = victims.map((v) => v.id).filter((id) => !exclude.has(id)).slice(0, n);
  if (!ids.length) return [];
  const reason = "dropped to make room: the queue was at its maxDepth (DROP_OLDEST)";
  await tx.$executeRawUnsafe(
    `UPDATE ${MESSAGE_BY_ID} SET state = 'EXPIRED', finishedAt = ?, failureReason = ? WHERE id IN (${marks(ids)})`,
    at,
    reason,
    ...ids,
  );
  return (await tx.message.findMany({ where: { id: { in: ids } } }));
}

export function admittedOf(admission: Admission, dropped: Map<string, string[]>): Map<string, Admitted> {
  return new Map(
    [...admission.queues].map(([queueId, a]) => [queueId, { tenantId: a.tenantId, reservation: a.reservation, dropped: dropped.get(queueId) ?? [] }]),
  );
}
