import type { Deps } from "../domain/deps.js";
import { SWEEP_BATCH, type Agent } from "./agent.js";

/**
 * Finished messages (COMPLETED, DEAD_LETTERED, EXPIRED) older than the retention become
 * ARCHIVED; with dropBodies their body becomes {} and their response null. Rows stay, so
 * counts, traces and late completion waiters still find them.
 */
export function messageArchiver(deps: Deps, opts: { afterMs: number; dropBodies: boolean }): Agent {
  return {
    name: "message_archiver",
    intervalMs: 10_000,
    async runOnce({ now }) {
      return deps.db.$executeRawUnsafe(
        `UPDATE messages SET state = 'ARCHIVED'${opts.dropBodies ? ", body = '{}', response = NULL" : ""}
         WHERE state IN ('COMPLETED', 'DEAD_LETTERED', 'EXPIRED') AND finishedAt <= ?
         LIMIT ${SWEEP_BATCH}`,
        new Date(now - opts.afterMs),
      );
    },
  };
}
