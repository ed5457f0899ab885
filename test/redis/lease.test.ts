import { describe, expect, it } from "vitest";
import { createLogger } from "../../src/logger.js";
import { startAgents, type SweepRecord } from "../../src/agents/runner.js";
import { useRedis } from "./support.js";

/*
 * The agent runner's Redis lease (renewLease-1.lua, releaseLease-1.lua), with a short
 * lease so a sweep can outlast it.
 */

const t = useRedis("lease");
const SHORT_LEASE_MS = 600;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("agent lease", () => {
  it("stays with one process through a sweep three times longer than the lease, and never runs longer than the lease unrenewed", async () => {
    const lease = t.keys.agentLease("slow");
    const ttls: number[] = [];
    const slow = {
      name: "slow",
      intervalMs: 20,
      async runOnce() {
        for (let i = 0; i < 3 * SHORT_LEASE_MS; i += 100) {
          ttls.push(await t.redis.pttl(lease));
          await sleep(100);
        }
        return 1;
      },
    };
    const sweeps: SweepRecord[] = [];
    const deps = { scripts: t.scripts, clock: Date.now, log: createLogger({ logLevel: "silent" }), onSweep: (r: SweepRecord) => sweeps.push(r), leaseMs: SHORT_LEASE_MS };
    const runners = [startAgents([slow], deps), startAgents([slow], deps)];
    await sleep(4 * 3 * SHORT_LEASE_MS);
    await Promise.all(runners.map((r) => r.stop()));

    expect(sweeps.length).toBeGreaterThanOrEqual(2);
    const sorted = [...sweeps].sort((a, b) => a.startedAt - b.startedAt);
    for (let i = 1; i < sorted.length; i++) expect(sorted[i]!.startedAt).toBeGreaterThanOrEqual(sorted[i - 1]!.endedAt);
    for (const r of sweeps) expect(r.endedAt - r.startedAt).toBeGreaterThan(2 * SHORT_LEASE_MS);
    // held throughout each sweep, yet a holder that died would free it within SHORT_LEASE_MS
    expect(Math.min(...ttls)).toBeGreaterThan(0);
    expect(Math.max(...ttls)).toBeLessThanOrEqual(SHORT_LEASE_MS);
    expect(await t.redis.exists(lease)).toBe(0);
  });
});
