import { randomUUID } from "node:crypto";
import type { Tx } from "../../db/client.js";
import { MESSAGE_BY_ID } from "../../db/message-rows.js";
import type { QueueInfo } from "../../db/queue-directory.js";
import { marks } from "../../db/sql.js";
import type { Message } from "../../generated/prisma/client.js";
import { QueueFullError } from "../../errors.js";
import { bestEffort, withRedis } from "../../redis/fallback.js";
import type { Deps } from "../deps.js";
import { laneKey, type Lane } from "../messages/lanes/lane.js";
import { lanesOf } from "../messages/lanes/of.js";
import type { Admitted } from "./enqueue.js";

/** A publisher that dies between reserving room and enqueueing frees it after this. */
const RESERVATION_TTL_MS = 60_000;

export type Admission = {
  /** per lane of a queue with a maxDepth (laneKey): its reservation */
  lanes: Map<string, { lane: Lane; reservation: string }>;
  /** per queue: how many of its oldest pending messages to drop (DROP_OLDEST), and its lanes */
  drops: Map<string, { n: number; queue: QueueInfo; lanes: Lane[] }>;
  /** ids of newcomers that did not fit (DEAD_LETTER policy) */
  overflow: Set<string>;
};

/**
 * Reserves room in every lane of every queue of the publish that has a maxDepth
 * (admit-5.lua), which keeps the bound exact under concurrent publishers. A COMPETING
 * queue is one lane; in a BROADCAST queue each consumer group is one, and a message
 * fits when it fits in every group. REJECT refuses the whole publish with
 * SCAIQUEUE_QUEUE_FULL; DEAD_LETTER admits what fits everywhere and marks the rest as
 * overflow (the last of the batch); DROP_OLDEST admits all and says how many of the
 * queue's oldest to drop (as many as the fullest lane owes).
 */
export async function admit(deps: Deps, queues: QueueInfo[], rows: Message[], now: number): Promise<Admission> {
  const admission: Admission = { lanes: new Map(), drops: new Map(), overflow: new Set() };
  for (const q of queues) {
    if (q.maxDepth === null) continue;
    const maxDepth = q.maxDepth;
    const mine = rows.filter((r) => r.queueId === q.id);
    let fits = mine.length;
    let drops = 0;
    const lanes = await lanesOf(deps, q);
    for (const lane of lanes) {
      const reservation = randomUUID();
      const r = await withRedis(
        deps,
        () => deps.scripts.admit(lane.keys, { now, ttlMs: RESERVATION_TTL_MS, maxDepth, n: mine.length, reservation, policy: q.overflowPolicy }),
        () => admitByCount(lane, maxDepth, mine.length),
      );
      if (r.admitted > 0) admission.lanes.set(laneKey(lane), { lane, reservation });
      fits = Math.min(fits, r.admitted);
      drops = Math.max(drops, r.drops);
    }
    if (drops > 0) admission.drops.set(q.id, { n: drops, queue: q, lanes });
    if (fits < mine.length) {
      if (q.overflowPolicy === "REJECT") {
        await release(deps, admission);
        throw new QueueFullError(q.maxDepth);
      }
      for (const m of mine.slice(fits)) admission.overflow.add(m.id);
    }
  }
  return admission;
}

/**
 * While Redis is down: the same decision from MariaDB's counts. Not exact under
 * concurrent publishers (nothing reserves the room), which docs/design.md states.
 */
async function admitByCount(lane: Lane, maxDepth: number, n: number) {
  const room = Math.max(0, maxDepth - (await lane.occupancy()));
  if (lane.queue.overflowPolicy === "REJECT") return { admitted: n <= room ? n : 0, drops: 0 };
  if (lane.queue.overflowPolicy === "DEAD_LETTER") return { admitted: Math.min(n, room), drops: 0 };
  const admitted = Math.min(n, maxDepth);
  return { admitted, drops: Math.max(0, admitted - room) };
}

/** Gives the reserved room back (the publish failed before enqueueing). */
export async function release(deps: Pick<Deps, "scripts">, admission: Admission): Promise<void> {
  await Promise.all(
    [...admission.lanes.values()].map(({ lane, reservation }) =>
      bestEffort(deps, () => deps.scripts.enqueue(lane.keys, [], { reservation, dropped: [] })),
    ),
  );
}

const DROPPED = "dropped to make room: the queue was at its maxDepth (DROP_OLDEST)";

/**
 * DROP_OLDEST: ends the oldest pending messages of the queue as EXPIRED (reason given),
 * inside the publish's transaction; in a BROADCAST queue only messages no group holds a
 * claim on, and their deliveries end with them in every group. SKIP LOCKED keeps
 * concurrent publishers from picking the same victims, so together they drop exactly
 * what they owe.
 */
export async function dropOldest(tx: Tx, owed: { n: number; queue: QueueInfo; lanes: Lane[] }, at: Date, exclude: Set<string>): Promise<Message[]> {
  const { n, queue: q } = owed;
  if (n <= 0) return [];
  const unclaimed = q.consumerMode === "BROADCAST" ? ` AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.messageId = messages.id AND d.state = 'CLAIMED')` : "";
  const victims = await tx.$queryRawUnsafe<{ id: string }[]>(
    `SELECT id FROM messages WHERE queueId = ? AND state = 'PENDING'${unclaimed} ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED`,
    q.id,
    n + exclude.size,
  );
  const ids = victims.map((v) => v.id).filter((id) => !exclude.has(id)).slice(0, n);
  if (!ids.length) return [];
  await tx.$executeRawUnsafe(`UPDATE ${MESSAGE_BY_ID} SET state = 'EXPIRED', finishedAt = ?, failureReason = ? WHERE id IN (${marks(ids)})`, at, DROPPED, ...ids);
  for (const lane of owed.lanes) await lane.abandon(tx, ids, at);
  return tx.message.findMany({ where: { id: { in: ids } } });
}

/** What each lane's enqueue settles: its reservation, and the ids its queue dropped (they leave the lane's Redis structures). */
export function admittedOf(admission: Admission, dropped: Map<string, string[]>): Admitted[] {
  return [...admission.lanes.values()].map(({ lane, reservation }) => ({ lane, reservation, dropped: dropped.get(lane.queue.id) ?? [] }));
}
