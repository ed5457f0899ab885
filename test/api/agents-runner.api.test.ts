import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ok, startTestServer, type TestServer } from "../support/server.js";
import { createQueue, createScope } from "../support/api.js";
import { CLAIM, PUBLISH } from "../support/ops.js";
import { Redis } from "ioredis";
import type { SweepRecord } from "../../src/agents/runner.js";
import { createKeys } from "../../src/redis/keys.js";

// Two processes over one database and one Redis key prefix, agents on, real clock:
// the Redis lease lets one process at a time sweep each agent.

const RUN_MS = 3_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sweeps: SweepRecord[] = [];
let s1: TestServer;
let s2: TestServer;

beforeAll(async () => {
  // PRIORITY_AGING_STEP_S=1 makes priority_aging sweep every second too
  const env = { SCAIQUEUE_AGENTS: "on", PRIORITY_AGING_STEP_S: "1" };
  s1 = await startTestServer(env, { onSweep: (r) => sweeps.push(r) });
  s2 = await startTestServer(env, { onSweep: (r) => sweeps.push(r), peerOf: s1 });
});
afterAll(async () => {
  // s2 shares s1's database and key prefix, which s1's stop() drops
  await s2?.stop();
  await s1?.stop();
});

describe("agent runner", () => {
  it("never lets two processes sweep the same agent at the same time", async () => {
    expect(s2.config.database.url).toBe(s1.config.database.url);
    // some work for the visibility enforcer: a claim that lapses after 1 s
    const queueId = await createQueue(s1, await createScope(s1), { visibilityTimeoutS: 1 });
    await ok(s1.gql(PUBLISH, { i: { queueId, body: { n: 1 } } }));
    expect((await ok(s2.gql(CLAIM, { i: { queueId } }))).claim).toHaveLength(1);

    const from = sweeps.length;
    await sleep(RUN_MS);
    const seen = sweeps.slice(from);
    expect(new Set(seen.map((r) => r.holder)).size).toBeLessThanOrEqual(2);

    const byAgent = new Map<string, SweepRecord[]>();
    for (const r of sweeps) byAgent.set(r.agent, [...(byAgent.get(r.agent) ?? []), r]);
    for (const [agent, records] of byAgent) {
      const sorted = [...records].sort((a, b) => a.startedAt - b.startedAt);
      for (let i = 1; i < sorted.length; i++) {
        const [prev, next] = [sorted[i - 1]!, sorted[i]!];
        expect(next.startedAt, `${agent}: ${JSON.stringify(prev)} overlaps ${JSON.stringify(next)}`).toBeGreaterThanOrEqual(
          prev.endedAt,
        );
      }
    }
    expect(byAgent.get("visibility_timeout_enforcer")?.length ?? 0).toBeGreaterThanOrEqual(2);
    expect(byAgent.get("expiry_enforcer")?.length ?? 0).toBeGreaterThanOrEqual(2);
    expect(byAgent.get("delayed_promoter")?.length ?? 0).toBeGreaterThanOrEqual(2);
    // the lapsed claim was taken back by exactly one sweep of one process
    expect(sweeps.filter((r) => r.agent === "visibility_timeout_enforcer" && r.acted > 0).map((r) => r.acted)).toEqual([1]);
  });

  it("sweeps an agent in neither process while someone else holds its lease", async () => {
    const redis = new Redis(s1.config.redis.url);
    try {
      const lease = createKeys(s1.config.redis.keyPrefix).agentLease("visibility_timeout_enforcer");
      await redis.set(lease, "someone-else", "PX", 2_500);
      const heldFrom = Date.now();
      await sleep(2_000);
      const during = sweeps.filter((r) => r.startedAt > heldFrom + 50);
      expect(during.filter((r) => r.agent === "visibility_timeout_enforcer")).toEqual([]);
      expect(during.filter((r) => r.agent === "expiry_enforcer").length).toBeGreaterThanOrEqual(1);
      // once the lease lapses, the enforcer runs again
      const resumed = () => sweeps.some((r) => r.agent === "visibility_timeout_enforcer" && r.startedAt > heldFrom + 2_500);
      for (let i = 0; i < 40 && !resumed(); i++) await sleep(100);
      expect(resumed()).toBe(true);
    } finally {
      redis.disconnect();
    }
  });

  it("hands a silent claimer's message out again within about 2.5 s, attempts counted", async () => {
    const queueId = await createQueue(s1, await createScope(s1), { visibilityTimeoutS: 1 });
    const id = (await ok(s1.gql(PUBLISH, { i: { queueId, body: { n: 2 } } }))).publish.message.id;
    const claimedAt = Date.now();
    const [first] = (await ok(s1.gql(CLAIM, { i: { queueId, consumerId: "silent" } }))).claim;
    expect(first).toMatchObject({ id, attempts: 1 });

    // the claimer goes silent; another polls (on either process) until the message is back
    let again: { id: string; attempts: number } | undefined;
    for (let i = 0; !again && Date.now() - claimedAt < 5_000; i++) {
      await sleep(100);
      [again] = (await ok((i % 2 ? s1 : s2).gql(CLAIM, { i: { queueId, consumerId: "poller" } }))).claim;
    }
    const elapsed = Date.now() - claimedAt;
    expect(again).toMatchObject({ id, attempts: 2 });
    expect(elapsed).toBeLessThanOrEqual(2_500);
  });
});
