import type { Deps } from "../domain/deps.js";
import { EventType, messageEvent } from "../domain/message-events.js";
import { broadcastEvents } from "../domain/emit.js";
import type { Agent } from "./agent.js";

/** A completion younger than this may still be on its way from the process that made it. */
const SETTLE_MS = 2000;
/** How far back a process that just took the relay over looks. */
const LOOKBACK_MS = 60_000;
/** Published ids are remembered this long, well past any window the relay checks. */
const REMEMBER_MS = 10 * 60_000;

/**
 * Completion events survive a crash: a completion is committed in MariaDB before its
 * event is published, and the publisher notes each published event id in Redis. This
 * sweep reads completions committed in the last window and publishes those never noted
 * (the process died between commit and publish). Waiters drop repeats by event id, so
 * a completion reaches each waiter once.
 */
export function completionRelay(deps: Deps): Agent {
  let checkedUntil: number | null = null;
  return {
    name: "completion_relay",
    intervalMs: 1000,
    async runOnce({ now }) {
      const from = checkedUntil ?? now - LOOKBACK_MS;
      const until = now - SETTLE_MS;
      if (until <= from) return 0;
      const rows = await deps.db.message.findMany({
        where: { finishedAt: { gt: new Date(from), lte: new Date(until) }, state: { in: ["COMPLETED", "ARCHIVED"] }, completedAt: { not: null } },
      });
      const events = rows.map((m) => messageEvent(EventType.completed, m, m.completedAt!));
      const published = await deps.bus.alreadyPublished(events.map((e) => e.eventId));
      const missing = rows.filter((_, i) => !published[i]);
      for (const m of missing) await broadcastEvents(deps, [m], EventType.completed, m.completedAt!);
      checkedUntil = until;
      await deps.bus.forgetPublished(now - REMEMBER_MS);
      return missing.length;
    },
  };
}
