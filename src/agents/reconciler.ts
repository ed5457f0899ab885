import type { Deps } from "../domain/deps.js";
import { Reconciler, type QueueRepair } from "../domain/reconcile.js";
import type { Agent } from "./agent.js";

/**
 * Rebuilds what Redis lost or got wrong from MariaDB (src/domain/reconcile.ts): after a
 * crash between the two writes of an operation, a FLUSHALL, or a Redis restart. Runs at
 * start-up and every few seconds; a repair needs the difference to last REPAIR_GRACE_MS.
 */
export function reconcilerAgent(deps: Deps, report: (repairs: QueueRepair[]) => void): Agent {
  const reconciler = new Reconciler(deps);
  return {
    name: "reconciler",
    intervalMs: 2500,
    async runOnce({ now }) {
      const repairs = await reconciler.run(now);
      if (repairs.length) report(repairs);
      return repairs.reduce((n, r) => n + r.requeued + r.relocked + r.removed, 0);
    },
  };
}
