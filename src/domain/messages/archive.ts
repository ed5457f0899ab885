import { EVENTS_QUEUE } from "../../db/queue-directory.js";
import { marks } from "../../db/sql.js";
import type { Deps } from "../deps.js";

/**
 * Finished messages (COMPLETED, DEAD_LETTERED, EXPIRED) older than the retention become
 * ARCHIVED, at most `take` of each kind per call; with dropBodies their body becomes {}
 * and their response null. Rows stay, so counts, traces and late completion waiters
 * still find them. `_events` messages are a feed that may never be consumed: past the
 * same retention they are archived whatever their state, so the feed does not grow
 * without end (trace still reads them). Resolves to how many were archived.
 */
export async function archiveFinished(deps: Deps, now: number, o: { afterMs: number; dropBodies: boolean; take: number }): Promise<number> {
  const before = new Date(now - o.afterMs);
  const finished = await deps.db.$executeRawUnsafe(
    `UPDATE messages SET state = 'ARCHIVED'${o.dropBodies ? ", body = '{}', response = NULL" : ""}
     WHERE state IN ('COMPLETED', 'DEAD_LETTERED', 'EXPIRED') AND finishedAt <= ?
     LIMIT ${o.take}`,
    before,
  );
  const logs = await deps.db.queue.findMany({ where: { system: true, slug: EVENTS_QUEUE }, select: { id: true } });
  if (!logs.length) return finished;
  // ids are UUIDv7: every id below this one was made before the cut-off (index queueId, state, id)
  const boundary = firstIdAt(before.getTime());
  const events = await deps.db.$executeRawUnsafe(
    `UPDATE messages SET state = 'ARCHIVED', finishedAt = ?, claimExpiresAt = NULL
     WHERE queueId IN (${marks(logs)}) AND state IN ('PENDING', 'CLAIMED') AND id < ?
     LIMIT ${o.take}`,
    new Date(now),
    ...logs.map((l) => l.id),
    boundary,
  );
  return finished + events;
}

/** The smallest UUIDv7 of a millisecond. */
function firstIdAt(ms: number): string {
  const h = Math.max(0, ms).toString(16).padStart(12, "0");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-7000-8000-000000000000`;
}
