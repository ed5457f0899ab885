import type { Deps } from "../domain/deps.js";
import { Reconciler, type QueueRepair } from "../domain/reconcile.js";
import type { Agent } from "./agent.js";

/**
 * Rebuilds what Redis lost or got wrong from MariaDB (src/domain/reconcile.ts): after a
 * crash between the two writes of an operation, a FLUSHALL, or a Redis restart.
 *
 * Every 2.5 s it re-reads the differences it has seen and goes on checking, a bounded
 * number of ids per sweep, a round at most every `everyMs`. It checks every id at once
 * only when Redis has lost its state (the sentinel key is gone: FLUSHALL, a restart
 * without persistence) or may have lost its last writes (a master's run id changed: a
 * restart, or a replica took over after a failover).
 */
export function reconcilerAgent(deps: Deps, everyMs: number, report: (repairs: QueueRepair[]) => void): Agent {
  const reconciler = new Reconciler(deps, everyMs);
  let lastServers = "";
  // Redis was found lost and checked; what that found is waiting out its grace time
  let rebuilding = false;
  return {
    name: "reconciler",
    intervalMs: 2500,
    async runOnce({ now }) {
      const lost = !(await deps.scripts.sentinelPresent());
      const servers = await deps.scripts.serverIds();
      const repairs = await reconciler.run(now, (lost && !rebuilding) || servers !== lastServers);
      // only a check that got through has seen these servers (a failover may still be under way)
      lastServers = servers;
      // The sentinel comes back once the rebuild is repaired, so a successor of a process
      // that dies before that checks everything again.
      rebuilding = lost && reconciler.hasSuspects();
      if (lost && !rebuilding) await deps.scripts.setSentinel();
      if (repairs.length) report(repairs);
      return repairs.reduce((n, r) => n + r.requeued + r.relocked + r.removed, 0);
    },
  };
}
