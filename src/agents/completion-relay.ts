import type { Sql } from "../db/sql.js";
import type { Deps } from "../domain/deps.js";
import { EventType, onceEventId } from "../events/message-event.js";
import { announceEvents } from "../domain/outcomes/after-commit.js";
import { messagesById } from "../db/message-rows.js";
import type { Agent } from "./agent.js";

/** A completion younger than this may still be on its way from the process that made it. */
const SETTLE_MS = 2000;
/** How far back a process that just took the relay over looks. */
const LOOKBACK_MS = 60_000;
/** Published ids are remembered this long, well past any window the relay checks. */
const REMEMBER_MS = 10 * 60_000;
/** Most completions one sweep reads; a longer backlog is worked off over the next sweeps. */
const PAGE = 2000;
const NAME = "completion_relay";

/**
 * Completion events survive a crash: a completion is committed in MariaDB before its
 * event is published, and the publisher notes each published event id in Redis. This
 * sweep reads completions committed in the last window and publishes those never noted
 * (the process died between commit and publish). Waiters drop repeats by event id, so
 * a completion reaches each waiter once. How far it has checked is kept in Redis, so
 * whichever process holds the lease next goes on from there instead of reading again
 * what another process already checked.
 */
export function completionRelay(deps: Deps): Agent {
  return {
    name: NAME,
    intervalMs: 1000,
    async runOnce({ now }) {
      const from = Math.max((await deps.scripts.readMark(NAME)) ?? 0, now - LOOKBACK_MS);
      let until = now - SETTLE_MS;
      if (until <= from) return 0;
      const done = await completedIn(deps.sql, from, until);
      if (done.length === PAGE) {
        // a full page ends before its last millisecond, which the next sweep reads whole
        // (unless the page is all one millisecond: more than PAGE completions in one ms)
        const last = done[done.length - 1]!.finishedAt.getTime();
        until = last - 1 > from ? last - 1 : last;
      }
      const kept = done.filter((d) => d.finishedAt.getTime() <= until);
      const published = await deps.bus.alreadyPublished(kept.map((d) => onceEventId(d.id, EventType.completed)));
      const missing = await messagesById(deps.sql, kept.filter((_, i) => !published[i]).map((d) => d.id));
      for (const m of missing) await announceEvents(deps, [m], EventType.completed, m.completedAt!);
      await deps.scripts.writeMark(NAME, until);
      await deps.bus.forgetPublished(now - REMEMBER_MS);
      return missing.length;
    },
  };
}

type Done = { id: string; finishedAt: Date };

/**
 * Ids of the completions that finished in (from, until], oldest first, from the
 * (state, finishedAt) index alone: whole rows are read only for the few never published.
 * Reading every completion's row through Prisma would cost ~5% of the server's CPU in
 * benchmark scenario 1 (docs/performance.md). ARCHIVED counts when it was completed first
 * (a rule triggered by the completion archived it before this sweep looked).
 */
function completedIn(sql: Sql, from: number, until: number): Promise<Done[]> {
  const range = [new Date(from), new Date(until)];
  return sql.rows<Done>(
    `(SELECT id, finishedAt FROM messages WHERE state = 'COMPLETED' AND finishedAt > ? AND finishedAt <= ? ORDER BY finishedAt LIMIT ${PAGE})
     UNION ALL
     (SELECT id, finishedAt FROM messages WHERE state = 'ARCHIVED' AND finishedAt > ? AND finishedAt <= ? AND completedAt IS NOT NULL ORDER BY finishedAt LIMIT ${PAGE})
     ORDER BY finishedAt LIMIT ${PAGE}`,
    [...range, ...range],
  );
}
