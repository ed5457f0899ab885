import type { Deps } from "../domain/deps.js";
import type { Agent } from "./agent.js";

export type DeadLetterCounts = Map<string, number>;

const NAME = "dead_letter_monitor";
/**
 * finishedAt is stamped before the write commits; a message stamped this long ago has
 * surely landed, so windows that end this far back never miss one.
 */
const SETTLE_MS = 2000;

/**
 * Counts messages dead-lettered per scope since the last sweep, in whichever process
 * made it (the mark is kept in Redis), and hands each count to `report` (the app logs
 * it as a warning; a metrics exporter could take it). The
 * scaiqueue.message.dead_lettered event itself goes out when a message is dead-lettered.
 */
export function deadLetterMonitor(deps: Deps, report: (counts: DeadLetterCounts) => void): Agent {
  return {
    name: NAME,
    intervalMs: 10_000,
    async runOnce({ now }) {
      const until = now - SETTLE_MS;
      const from = (await deps.scripts.readMark(NAME)) ?? until - 10_000;
      if (until <= from) return 0;
      const rows = await deps.db.message.groupBy({
        by: ["scopeId"],
        where: { state: "DEAD_LETTERED", finishedAt: { gt: new Date(from), lte: new Date(until) } },
        _count: { _all: true },
      });
      await deps.scripts.writeMark(NAME, until);
      const counts: DeadLetterCounts = new Map(rows.map((r) => [r.scopeId, r._count._all]));
      if (counts.size) report(counts);
      return [...counts.values()].reduce((a, b) => a + b, 0);
    },
  };
}
