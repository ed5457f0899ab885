import type { Deps } from "../domain/deps.js";
import { SWEEP_BATCH, type Agent } from "./agent.js";
import { marks } from "../db/sql.js";
import { EVENTS_QUEUE } from "../db/queue-directory.js";

/**
 * Finished messages (COMPLETED, DEAD_LETTERED, EXPIRED) older than the retention become
 * ARCHIVED; with dropBodies their body becomes {} and their response null. Rows stay, so
 * counts, traces and late completion waiters still find them. `_events` messages are a
 * feed that may never be consumed: past the same retention they are archived whatever
 * their state, so the feed does not grow without end (trace still reads them).
 */
export function messageArchiver(deps: Deps, opts: { afterMs: number; dropBodies: boolean }): Agent {
  return {
    name: "message_archiver",
    intervalMs: 10_000,
    async runOnce({ now }) {
      const before = new Date(now - opts.afterMs);
      const finished = await deps.db.$executeRawUnsafe(
        `UPDATE messages SET state = 'ARCHIVED'${opts.dropBodies ? ", body = '{}', response = NULL" : ""}
         WHERE state IN ('COMPLETED', 'DEAD_LETTERED', 'EXPIRED') AND finishedAt <= ?
         LIMIT ${SWEEP_BATCH}`,
        before,
      );
      const logs = await deps.db.queue.findMany({ where: { system: true, slug: EVENTS_QUEUE }, select: { id: true } });
      if (!logs.length) return finished;
      // ids are UUIDv7: every id below this one was made before the cut-off (index queueId, state, id)
      const boundary = firstIdAt(before.getTime());
      const events = await deps.db.$executeRawUnsafe(
        `UPDATE messages SET state = 'ARCHIVED', finishedAt = ?, claimExpiresAt = NULL
         WHERE queueId IN (${marks(logs)}) AND state IN ('PENDING', 'CLAIMED') AND id < ?
         LIMIT ${SWEEP_BATCH}`,
        new Date(now),
        ...logs.map((l) => l.id),
        boundary,
      );
      return finished + events;
    },
  };
}

/** The smallest UUIDv7 of a millisecond. */
function firstIdAt(ms: number): string {
  const h = Math.max(0, ms).toString(16).padStart(12, "0");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-7000-8000-000000000000`;
}
