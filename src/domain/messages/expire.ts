import type { Message } from "../../generated/prisma/client.js";
import { MESSAGE_BY_ID } from "../../db/message-rows.js";
import { marks } from "../../db/sql.js";
import { EventType } from "../../events/message-event.js";
import { bestEffort } from "../../redis/fallback.js";
import type { Deps } from "../deps.js";
import { afterCommit } from "../outcomes/after-commit.js";
import { happenedTo } from "../outcomes/event-log.js";
import { lanesOf } from "./lanes/of.js";

/**
 * Messages whose ttlSeconds or deadline passed before completion become EXPIRED, pending
 * or claimed (a late complete then answers INVALID_STATE), at most `take` per call. In a
 * BROADCAST queue the open deliveries end with the message, so no group is handed it
 * after. Claim also refuses expired rows, so none is handed out in the second before
 * this runs. Resolves to how many expired.
 */
export async function expireDue(deps: Deps, now: number, take: number): Promise<number> {
  const at = new Date(now);
  const rows = await deps.db.message.findMany({ where: { state: { in: ["PENDING", "CLAIMED"] }, expiresAt: { lte: at } }, take });
  if (!rows.length) return 0;
  const affected = await deps.sql.exec(
    `UPDATE ${MESSAGE_BY_ID} SET state = 'EXPIRED', finishedAt = ?, claimExpiresAt = NULL
     WHERE id IN (${marks(rows)}) AND state IN ('PENDING', 'CLAIMED') AND expiresAt <= ?`,
    [at, ...rows.map((r) => r.id), at],
  );
  let expired = rows;
  if (affected !== rows.length) {
    // a complete or another process came in between: ours are the ones EXPIRED at this instant
    const current = await deps.db.message.findMany({ where: { id: { in: rows.map((r) => r.id) } }, select: { id: true, state: true, finishedAt: true } });
    const ours = new Set(current.filter((r) => r.state === "EXPIRED" && r.finishedAt?.getTime() === at.getTime()).map((r) => r.id));
    expired = rows.filter((r) => ours.has(r.id));
  }
  const ended: Message[] = expired.map((r) => ({ ...r, state: "EXPIRED", finishedAt: at, claimExpiresAt: null }));
  for (const [queueId, ids] of idsByQueue(ended)) {
    const q = await deps.queues.get(ended.find((m) => m.queueId === queueId)!.tenantId, queueId);
    for (const lane of await lanesOf(deps, q)) {
      await lane.abandon(deps.db, ids, at);
      if (q.servedFrom === "redis") await bestEffort(deps, () => deps.scripts.remove(lane.keys, ids));
    }
  }
  await afterCommit(deps, happenedTo(ended, EventType.expired), at);
  return ended.length;
}

function idsByQueue(messages: Message[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const m of messages) out.set(m.queueId, [...(out.get(m.queueId) ?? []), m.id]);
  return out;
}
