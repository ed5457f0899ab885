import { describe, expect, test as base } from "../support/test.js";
import type { TestServer } from "../support/server.js";
import { messagesOf, stateCounts, systemQueue } from "../support/api.js";
import { CLAIM, COMPLETE_BATCH, DEPTH, PUBLISH_BATCH } from "../support/ops.js";
import { CHECK_BUDGET, REPAIR_GRACE_MS } from "../../src/domain/reconcile.js";
import { createKeys } from "../../src/redis/keys.js";
import { Redis } from "ioredis";

type Claimed = { id: string; claimToken: string };

/** Publish, claim and complete in bulk, depths, states and the reconciler, on one server. */
function bulkOn(s: TestServer) {
  return {
    async publish(queueId: string, n: number) {
      const r = await s.gql(PUBLISH_BATCH, { is: Array.from({ length: n }, (_, i) => ({ queueId, body: { i } })) });
      expect(r.errors).toBeUndefined();
      return r.data.publishBatch.map((p: { message: { id: string } }) => p.message.id) as string[];
    },
    async claim(queueId: string, n: number): Promise<Claimed[]> {
      const out: Claimed[] = [];
      while (out.length < n) {
        const r = await s.gql(CLAIM, { i: { queueId, batchSize: Math.min(100, n - out.length) } });
        expect(r.errors).toBeUndefined();
        if (!r.data.claim.length) break;
        out.push(...r.data.claim);
      }
      return out;
    },
    async complete(claims: Claimed[]) {
      for (let i = 0; i < claims.length; i += 100) {
        const r = await s.gql(COMPLETE_BATCH, { is: claims.slice(i, i + 100).map((c) => ({ messageId: c.id, claimToken: c.claimToken })) });
        expect(r.errors).toBeUndefined();
      }
    },
    depth: async (queueId: string) => (await s.gql(DEPTH, { q: queueId })).data.queueDepth,
    states: (queueId: string) => stateCounts(s, queueId),
    /** The bodies of the repair reports in the scope's _integrity queue. */
    async integrityReports(scopeId: string): Promise<{ kind: string; queueId: string; consumerGroup: string | null; requeued: number; relocked: number; removed: number }[]> {
      return (await messagesOf(s, { q: await systemQueue(s, scopeId, "_integrity"), first: 500 })).map((m) => m.body);
    },
    /** Two reconciler passes, the grace time apart, as the agent would run them. */
    async reconcile() {
      const t = Date.now();
      await s.sweep("reconciler", t);
      return s.sweep("reconciler", t + REPAIR_GRACE_MS);
    },
  };
}

const test = base.extend("bulk", ({ server }) => bulkOn(server));
test.override({ privateRedis: true });

describe("Redis loses its state", () => {
  for (const how of ["FLUSHALL", "a stop and start"] as const) {
    test(`after ${how}, every message is claimable again or still claimed, with exact depths`, async ({ bulk: { publish, claim, complete, depth, states, integrityReports, reconcile }, server: s, redis, scope, newQueue }) => {
      const queueId = await newQueue({ visibilityTimeoutS: 600 });
      const ids = await publish(queueId, 300);
      const claimed = await claim(queueId, 100);
      await complete(claimed.slice(0, 40));
      const heldClaims = claimed.slice(40);
      expect(await depth(queueId)).toEqual({ pending: 200, claimed: 60, delayed: 0 });

      if (how === "FLUSHALL") await redis!.flushAll();
      else {
        await redis!.stop();
        await redis!.start();
        // until the server has reconnected, depth would be answered from MariaDB
        for (let i = 0; i < 200 && !s.app.deps.scripts.available(); i++) await new Promise((r) => setTimeout(r, 50));
      }
      expect(await depth(queueId)).toEqual({ pending: 0, claimed: 0, delayed: 0 });

      expect(await reconcile()).toBeGreaterThanOrEqual(260);
      expect(await depth(queueId)).toEqual({ pending: 200, claimed: 60, delayed: 0 });
      // the claims survived: their holders complete them with the tokens they have
      await complete(heldClaims);
      const rest = await claim(queueId, 300);
      expect(rest).toHaveLength(200);
      expect(new Set([...claimed, ...rest].map((c) => c.id))).toEqual(new Set(ids));
      await complete(rest);
      expect(await states(queueId)).toEqual({ COMPLETED: 300 });
      expect(await depth(queueId)).toEqual({ pending: 0, claimed: 0, delayed: 0 });

      const reports = (await integrityReports(scope)).filter((b) => b.queueId === queueId);
      expect(reports).toEqual([expect.objectContaining({ kind: "redis_repair", requeued: 200, relocked: 60, removed: 0 })]);
    });
  }

  test("repairs nothing while Redis and MariaDB agree, and waits out operations in flight", async ({ bulk: { publish, claim, depth, reconcile }, server: s, redis, newQueue }) => {
    const queueId = await newQueue();
    await publish(queueId, 20);
    await claim(queueId, 5);
    expect(await reconcile()).toBe(0);
    // a difference younger than the grace time is left alone
    await redis!.flushAll();
    const sentinel = new Redis(redis!.url);
    const marked = async () => (await sentinel.exists(createKeys(s.config.redis.keyPrefix).sentinel)) === 1;
    try {
      const t = Date.now();
      expect(await s.sweep("reconciler", t)).toBe(0);
      expect(await s.sweep("reconciler", t + REPAIR_GRACE_MS - 1)).toBe(0);
      // until the rebuild is repaired Redis stays marked lost, so a process taking over checks it all again
      expect(await marked()).toBe(false);
      expect(await s.sweep("reconciler", t + REPAIR_GRACE_MS)).toBeGreaterThanOrEqual(20);
      expect(await marked()).toBe(true);
    } finally {
      sentinel.disconnect();
    }
    expect(await depth(queueId)).toEqual({ pending: 15, claimed: 5, delayed: 0 });
  });

  test("rebuilds consumer groups of a BROADCAST queue too: each group's pending and claimed deliveries", async ({ bulk: { publish, complete, states, integrityReports, reconcile }, server: s, redis, scope, newQueue }) => {
    const queueId = await newQueue({ consumerMode: "BROADCAST", visibilityTimeoutS: 600 });
    for (const g of ["a", "b"]) await s.gql(CLAIM, { i: { queueId, consumerGroup: g } });
    await publish(queueId, 50);
    const held = (await s.gql(CLAIM, { i: { queueId, consumerGroup: "a", batchSize: 10 } })).data.claim as Claimed[];
    expect(held).toHaveLength(10);

    await redis!.flushAll();
    expect(await reconcile()).toBeGreaterThanOrEqual(100);
    expect((await s.gql(DEPTH, { q: queueId, g: "a" })).data.queueDepth).toEqual({ pending: 40, claimed: 10, delayed: 0 });
    expect((await s.gql(DEPTH, { q: queueId, g: "b" })).data.queueDepth).toEqual({ pending: 50, claimed: 0, delayed: 0 });

    await complete(held);
    for (const g of ["a", "b"]) {
      const rest = (await s.gql(CLAIM, { i: { queueId, consumerGroup: g, batchSize: 100 } })).data.claim as Claimed[];
      expect(rest).toHaveLength(g === "a" ? 40 : 50);
      await complete(rest);
    }
    expect(await states(queueId)).toEqual({ COMPLETED: 50 });
    expect((await integrityReports(scope)).filter((b) => b.queueId === queueId).map((b) => [b.consumerGroup, b.requeued, b.relocked])).toEqual(
      expect.arrayContaining([
        ["a", 40, 10],
        ["b", 50, 0],
      ]),
    );
  });
});

describe("a crash left Redis and MariaDB apart, while Redis kept its state", () => {
  test("finds each kind of difference in its periodic round and repairs it once it has lasted the grace time", async ({ bulk: { publish, claim, complete, depth, states, integrityReports }, server: s, redis, scope, newQueue }) => {
    const queueId = await newQueue({ visibilityTimeoutS: 600 });
    const ids = await publish(queueId, 30);
    const claimed = await claim(queueId, 10);
    await complete(claimed.slice(0, 5));
    expect(await depth(queueId)).toEqual({ pending: 20, claimed: 5, delayed: 0 });

    const keys = createKeys(s.config.redis.keyPrefix).queue(scope, queueId);
    const r = new Redis(redis!.url);
    const pendingId = ids.find((id) => !claimed.some((c) => c.id === id))!;
    const [completed, held] = [claimed[0]!, claimed[5]!];
    try {
      await r.zrem(keys.pending, pendingId); // a publish whose Redis step was lost
      await r.hset(keys.locks, completed.id, completed.claimToken); // a complete whose Redis step was lost
      await r.zadd(keys.claims, Date.now() + 600_000, completed.id);
      await r.hdel(keys.locks, held.id); // a claim lost from Redis
      await r.zrem(keys.claims, held.id);
      await r.zadd(keys.pending, 1, "f0000000-0000-7000-8000-000000000000", 2, "not-a-message"); // ids without a row
    } finally {
      r.disconnect();
    }
    expect(await depth(queueId)).toEqual({ pending: 21, claimed: 5, delayed: 0 });

    const t = Date.now() + 3_600_000; // a periodic round is due
    expect(await s.sweep("reconciler", t)).toBe(0);
    expect(await s.sweep("reconciler", t + REPAIR_GRACE_MS - 1)).toBe(0);
    expect(await s.sweep("reconciler", t + REPAIR_GRACE_MS)).toBe(5);
    expect(await depth(queueId)).toEqual({ pending: 20, claimed: 5, delayed: 0 });
    expect(await s.sweep("reconciler", t + 2 * REPAIR_GRACE_MS)).toBe(0);
    expect((await integrityReports(scope)).filter((b) => b.queueId === queueId)).toEqual([
      expect.objectContaining({ kind: "redis_repair", requeued: 1, relocked: 1, removed: 3 }),
    ]);

    // the repaired queue works: the held claim completes with its token, the rest drain
    await complete([held]);
    const rest = await claim(queueId, 100);
    expect(rest.map((c) => c.id)).toContain(pendingId);
    expect(rest).toHaveLength(20);
    await complete([...claimed.slice(6), ...rest]);
    expect(await states(queueId)).toEqual({ COMPLETED: 30 });
    expect(await depth(queueId)).toEqual({ pending: 0, claimed: 0, delayed: 0 });
  });

  test("checks a bounded number of ids per sweep, so a round over a deep queue is spread over sweeps", async ({ bulk: { depth }, server: s, redis, scope, newQueue }) => {
    const queueId = await newQueue();
    const keys = createKeys(s.config.redis.keyPrefix).queue(scope, queueId);
    const N = 2.5 * CHECK_BUDGET;
    const stray = Array.from({ length: N }, (_, i) => `f0000000-0000-7000-8000-${String(i).padStart(12, "0")}`);
    const r = new Redis(redis!.url);
    try {
      for (let i = 0; i < N; i += 1000) await r.zadd(keys.pending, ...stray.slice(i, i + 1000).flatMap((id, j) => [i + j, id]));
    } finally {
      r.disconnect();
    }

    const t = Date.now() + 7_200_000; // a periodic round is due
    for (let i = 0; i < 3; i++) expect(await s.sweep("reconciler", t + i)).toBe(0);
    // each sweep's finds wait out their own grace time
    const removed = [];
    for (let i = 0; i < 3; i++) removed.push(await s.sweep("reconciler", t + REPAIR_GRACE_MS + i));
    expect(removed.reduce((a, b) => a + b)).toBe(N);
    for (const n of removed) expect(n).toBeLessThanOrEqual(1.5 * CHECK_BUDGET);
    expect(await depth(queueId)).toEqual({ pending: 0, claimed: 0, delayed: 0 });
  });
});
