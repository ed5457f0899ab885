import type { Deps } from "../domain/deps.js";
import { Reconciler, type QueueRepair } from "../domain/reconcile.js";
import type { Agent } from "./agent.js";

/**
 * Rebuilds what Redis lost or got wrong from MariaDB (src/domain/reconcile.ts): after a
 * crash between the two writes of an operation, a FLUSHALL, or a Redis restart.
 *
 * A full pass reads every queue's counts (and, where they differ, every id), which is
 * heavy on deep queues under load (measured: at 1,000,000 pending, passes every 2.5 s
 * cut the claim rate tenfold). So the agent looks every 2.5 s but runs a pass only when
 * Redis has lost its state (the sentinel key is gone: FLUSHALL, a restart without
 * persistence) or may have lost its last writes (a master's run id changed: a restart,
 * or a replica took over after a failover), while differences seen earlier wait for
 * their grace time, or once every `fullEveryMs` to catch what a crashed process left
 * behind.
 */
export function reconcilerAgent(deps: Deps, fullEveryMs: number, report: (repairs: QueueRepair[]) => void): Agent {
  const reconciler = new Reconciler(deps);
  let lastFull = -Infinity;
  let lastServers = "";
  return {
    name: "reconciler",
    intervalMs: 2500,
    async runOnce({ now }) {
      const lost = !(await deps.scripts.sentinelPresent());
      const servers = await deps.scripts.serverIds();
      if (!lost && servers === lastServers && !reconciler.hasSuspects() && now - lastFull < fullEveryMs) return 0;
      lastFull = now;
      const repairs = await reconciler.run(now);
      // only a pass that got through has seen these servers (a failover may still be under way)
      lastServers = servers;
      if (!reconciler.hasSuspects()) await deps.scripts.setSentinel();
      if (repairs.length) report(repairs);
      return repairs.reduce((n, r) => n + r.requeued + r.relocked + r.removed, 0);
    },
  };
}
