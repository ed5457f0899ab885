import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import { createKeys } from "../src/redis/keys.js";
import { QueueScripts } from "../src/redis/scripts.js";
import { createLogger } from "../src/logger.js";
import { startAgents, type SweepRecord } from "../src/agents/runner.js";
import { deleteKeys, uniq } from "./support/server.js";

/* The agent runner's Redis lease, with a short lease so a sweep can outlast it. */

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const LEASE_MS = 600;
const keys = createKeys(`sqt${uniq(4)}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let redis: Redis;
let scripts: QueueScripts;
beforeAll(() => {
  redis = new Redis(REDIS_URL);
  scripts = new QueueScripts(redis, keys);
});
afterAll(async () => {
  redis?.disconnect();
  await deleteKeys(REDIS_URL, keys.all);
});

describe("agent lease", () => {
  it("stays with one process through a sweep three times longer than the lease, and never runs longer than the lease unrenewed", async () => {
    const lease = keys.agentLease("slow");
    const ttls: number[] = [];
    const slow = {
      name: "slow",
      intervalMs: 20,
      async runOnce() {
        for (let t = 0; t < 3 * LEASE_MS; t += 100) {
          ttls.push(await redis.pttl(lease));
          await sleep(100);
        }
        return 1;
      },
    };
    const sweeps: SweepRecord[] = [];
    const deps = { scripts, clock: Date.now, log: createLogger({ logLevel: "silent" }), onSweep: (r: SweepRecord) => sweeps.push(r), leaseMs: LEASE_MS };
    const runners = [startAgents([slow], deps), startAgents([slow], deps)];
    await sleep(4 * 3 * LEASE_MS);
    await Promise.all(runners.map((r) => r.stop()));

    expect(sweeps.length).toBeGreaterThanOrEqual(2);
    const sorted = [...sweeps].sort((a, b) => a.startedAt - b.startedAt);
    for (let i = 1; i < sorted.length; i++) expect(sorted[i]!.startedAt).toBeGreaterThanOrEqual(sorted[i - 1]!.endedAt);
    for (const r of sweeps) expect(r.endedAt - r.startedAt).toBeGreaterThan(2 * LEASE_MS);
    // held throughout each sweep, yet a holder that died would free it within LEASE_MS
    expect(Math.min(...ttls)).toBeGreaterThan(0);
    expect(Math.max(...ttls)).toBeLessThanOrEqual(LEASE_MS);
    expect(await redis.exists(lease)).toBe(0);
  });
});
