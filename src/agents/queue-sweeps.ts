import type { Deps } from "../domain/deps.js";
import { ORDER_EPOCH_MS } from "../domain/intake/ordering.js";
import type { Agent } from "./agent.js";

/** Queues still in service; sweeps that work per queue in Redis go over these. */
async function liveQueues(deps: Pick<Deps, "db">, where: { ordering?: "PRIORITY" } = {}) {
  return deps.db.queue.findMany({ where: { state: { not: "ARCHIVED" }, ...where }, select: { id: true, scopeId: true } });
}

/** Most ids moved or looked at per queue and sweep. */
const PER_QUEUE = 1000;

/**
 * Delayed messages whose time has come move into their pending set, so depth counts
 * them as ready (claim also promotes its own queue's due messages as it goes).
 */
export function delayedPromoter(deps: Deps): Agent {
  return {
    name: "delayed_promoter",
    intervalMs: 1000,
    async runOnce({ now }) {
      const queues = await liveQueues(deps);
      const moved = await Promise.all(
        queues.map((q) => deps.scripts.promote(deps.scripts.keys.queue(q.scopeId, q.id), now, PER_QUEUE)),
      );
      return moved.reduce((a, b) => a + b, 0);
    },
  };
}

/**
 * Priority aging (docs/design.md): in PRIORITY queues a LOW or BACKGROUND message that
 * waited one step ranks as LOW, after two steps as NORMAL, so low tiers cannot starve.
 */
export function priorityAging(deps: Deps, stepMs: number): Agent {
  return {
    name: "priority_aging",
    intervalMs: Math.min(stepMs, 10_000),
    async runOnce({ now }) {
      const queues = await liveQueues(deps, { ordering: "PRIORITY" });
      const raised = await Promise.all(
        queues.map((q) => deps.scripts.age(deps.scripts.keys.queue(q.scopeId, q.id), now - ORDER_EPOCH_MS, stepMs, PER_QUEUE)),
      );
      return raised.reduce((a, b) => a + b, 0);
    },
  };
}
