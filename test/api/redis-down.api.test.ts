import { describe, expect, test } from "../support/test.js";
import { messagesOf } from "../support/api.js";
import { readyz, until } from "../support/wait.js";
import { CLAIM, COMPLETE, COMPLETE_BATCH, DEPTH, FAIL, PUBLISH_BATCH } from "../support/ops.js";
import { REPAIR_GRACE_MS } from "../../src/domain/reconcile.js";

test.override({ privateRedis: true });

describe("while Redis is down", () => {
  test("publish, claim, complete and fail keep working through MariaDB; nothing is lost when Redis returns", async ({ server: s, redis, newQueue }) => {
    const queueId = await newQueue({ maxRetries: 5 });
    const before = await s.gql(PUBLISH_BATCH, { is: Array.from({ length: 10 }, (_, i) => ({ queueId, body: { i } })) });
    const earlyClaim = (await s.gql(CLAIM, { i: { queueId, batchSize: 2 } })).data.claim;
    expect(earlyClaim).toHaveLength(2);

    await redis!.stop();
    await until(async () => (await readyz(s)) === 503);

    const during = await s.gql(PUBLISH_BATCH, { is: Array.from({ length: 10 }, (_, i) => ({ queueId, body: { i: 10 + i } })) });
    expect(during.errors).toBeUndefined();
    expect((await s.gql(DEPTH, { q: queueId })).data.queueDepth).toEqual({ pending: 18, claimed: 2, delayed: 0 });

    // FIFO order holds on the MariaDB path too: the oldest pending ones come first
    const claimed = (await s.gql(CLAIM, { i: { queueId, batchSize: 5 } })).data.claim as { id: string; claimToken: string; body: { i: number } }[];
    expect(claimed.map((m) => m.body.i)).toEqual([2, 3, 4, 5, 6]);
    const done = await s.gql(COMPLETE_BATCH, { is: [...earlyClaim, ...claimed.slice(0, 4)].map((m: { id: string; claimToken: string }) => ({ messageId: m.id, claimToken: m.claimToken })) });
    expect(done.errors).toBeUndefined();
    const failed = await s.gql(FAIL, { i: { messageId: claimed[4]!.id, claimToken: claimed[4]!.claimToken, reason: "flaky" } });
    expect(failed.data.fail.state).toBe("PENDING");
    expect((await s.gql(DEPTH, { q: queueId })).data.queueDepth).toMatchObject({ pending: 14, claimed: 0 });

    await redis!.start();
    await until(async () => (await readyz(s)) === 200);
    const t = Date.now();
    await s.sweep("reconciler", t);
    await s.sweep("reconciler", t + REPAIR_GRACE_MS);
    expect((await s.gql(DEPTH, { q: queueId })).data.queueDepth).toMatchObject({ pending: 14, claimed: 0 });

    // drain the rest through Redis: each of the 20 completed exactly once
    const seen = new Set([...earlyClaim, ...claimed.slice(0, 4)].map((m: { id: string }) => m.id));
    for (let guard = 0; guard < 100 && seen.size < 20; guard++) {
      const got = (await s.gql(CLAIM, { i: { queueId, batchSize: 10 } })).data.claim as { id: string; claimToken: string }[];
      if (!got.length) {
        await new Promise((r) => setTimeout(r, 200)); // the failed one waits out its backoff
        continue;
      }
      for (const m of got) {
        expect(seen.has(m.id)).toBe(false);
        seen.add(m.id);
        await s.gql(COMPLETE, { i: { messageId: m.id, claimToken: m.claimToken } });
      }
    }
    const all = [...before.data.publishBatch, ...during.data.publishBatch].map((p: { message: { id: string } }) => p.message.id);
    expect(seen).toEqual(new Set(all));
    expect((await s.gql(DEPTH, { q: queueId })).data.queueDepth).toEqual({ pending: 0, claimed: 0, delayed: 0 });
  });

  test("serves consumer groups of BROADCAST queues through MariaDB too", async ({ server: s, redis, newQueue }) => {
    const queueId = await newQueue({ consumerMode: "BROADCAST" });
    for (const g of ["a", "b"]) await s.gql(CLAIM, { i: { queueId, consumerGroup: g } });
    await redis!.stop();
    await until(async () => (await readyz(s)) === 503);
    const published = await s.gql(PUBLISH_BATCH, { is: Array.from({ length: 5 }, (_, i) => ({ queueId, body: { i } })) });
    expect(published.errors).toBeUndefined();
    for (const g of ["a", "b"]) {
      const got = (await s.gql(CLAIM, { i: { queueId, consumerGroup: g, batchSize: 10 } })).data.claim as { id: string; claimToken: string; body: { i: number } }[];
      expect(got.map((m) => m.body.i)).toEqual([0, 1, 2, 3, 4]);
      expect((await s.gql(COMPLETE_BATCH, { is: got.map((m) => ({ messageId: m.id, claimToken: m.claimToken })) })).errors).toBeUndefined();
    }
    expect((await messagesOf(s, { q: queueId })).map((m) => m.state)).toEqual(Array(5).fill("COMPLETED"));
    await redis!.start();
    await until(async () => (await readyz(s)) === 200);
  });
});
