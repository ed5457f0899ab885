import { randomUUID } from "node:crypto";
import type { Logger } from "../logger.js";
import type { Clock } from "../domain/deps.js";
import type { QueueScripts } from "../redis/scripts.js";
import type { Agent } from "./agent.js";

/**
 * How long a lease lasts unless renewed. A sweep renews it every third of this while it
 * runs, so a sweep may take as long as it needs, and a process killed mid-sweep frees
 * its agents within this time. (A fixed 30 s lease would keep a killed process's
 * reconciler from running in its successor for up to 30 s.)
 */
const LEASE_MS = 6_000;

export type SweepRecord = { agent: string; holder: string; startedAt: number; endedAt: number; acted: number };

/**
 * Runs each agent every interval in whichever process takes its Redis lease
 * (SET NX PX), so one process sweeps at a time and a dead process's share is taken
 * over when its lease lapses. Correctness does not depend on the lease: every sweep's
 * writes are conditional, so an overlap would only waste work.
 */
export function startAgents(
  agents: Agent[],
  deps: { scripts: QueueScripts; clock: Clock; log: Logger; onSweep?: (r: SweepRecord) => void; leaseMs?: number },
): { holder: string; stop(): Promise<void> } {
  const leaseMs = deps.leaseMs ?? LEASE_MS;
  const holder = randomUUID();
  const timers = new Set<NodeJS.Timeout>();
  const running = new Set<Promise<void>>();
  let stopped = false;

  const sweep = async (agent: Agent) => {
    // Without Redis there is no lease to coordinate by; the reconciler catches up after.
    if (!deps.scripts.available()) return;
    const lease = deps.scripts.keys.agentLease(agent.name);
    if (!(await deps.scripts.takeLease(lease, holder, leaseMs))) return;
    const startedAt = Date.now();
    const renewal = setInterval(() => {
      deps.scripts
        .renewLease(lease, holder, leaseMs)
        .then((held) => held || deps.log.warn({ agent: agent.name }, "agent lease lapsed during a sweep"))
        .catch((err) => deps.log.warn({ err, agent: agent.name }, "agent lease renewal failed"));
    }, leaseMs / 3);
    try {
      const acted = await agent.runOnce({ now: deps.clock() });
      const record = { agent: agent.name, holder, startedAt, endedAt: Date.now(), acted };
      deps.onSweep?.(record);
      if (acted) deps.log.info(record, "agent sweep");
    } finally {
      clearInterval(renewal);
      await deps.scripts.releaseLease(lease, holder);
    }
  };

  const schedule = (agent: Agent) => {
    if (stopped) return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      const run = sweep(agent)
        .catch((err) => deps.log.error({ err, agent: agent.name }, "agent sweep failed"))
        .finally(() => {
          running.delete(run);
          schedule(agent);
        });
      running.add(run);
    }, agent.intervalMs);
    timers.add(timer);
  };
  for (const agent of agents) schedule(agent);

  return {
    holder,
    async stop() {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      await Promise.allSettled([...running]);
    },
  };
}
