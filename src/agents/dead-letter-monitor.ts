import type { Deps } from "../domain/deps.js";
import type { Agent } from "./agent.js";

export type DeadLetterCounts = Map<string, number>;

/**
 * Counts dead-lettered messages per scope since its last sweep and hands each count to
 * `report` (the app logs it as a warning; a metrics exporter could take it). The
 * scaiqueue.message.dead_lettered event itself goes out when a message is dead-lettered.
 */
export function deadLetterMonitor(deps: Deps, report: (counts: DeadLetterCounts) => void): Agent {
  let since: Date | null = null;
  return {
    name: "dead_letter_monitor",
    intervalMs: 10_000,
    async runOnce({ now }) {
      const until = new Date(now);
      const from = since ?? new Date(now - 10_000);
      since = until;
      const rows = await deps.db.message.groupBy({
        by: ["scopeId"],
        where: { state: "DEAD_LETTERED", finishedAt: { gt: from, lte: until } },
        _count: { _all: true },
      });
      const counts: DeadLetterCounts = new Map(rows.map((r) => [r.scopeId, r._count._all]));
      if (counts.size) report(counts);
      return [...counts.values()].reduce((a, b) => a + b, 0);
    },
  };
}
