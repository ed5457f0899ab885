import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./support/server.js";
import { startPrivateRedis, type PrivateRedis } from "./support/redis-server.js";
import { CLAIM, COMPLETE, COMPLETE_BATCH, DEPTH, PUBLISH_BATCH, createQueue, createScope } from "./support/fixtures.js";
import { REPAIR_GRACE_MS } from "../src/domain/reconcile.js";

let redis: PrivateRedis;
let s: TestServer;
let scopeId: string;
beforeAll(async () => {
  redis = await startPrivateRedis();
  s = await startTestServer({ REDIS_URL: redis.url });
  scopeId = await createScope(s);
});
afterAll(async () => {
  await s?.stop();
  await redis?.stop();
});

const readyz = async () => (await fetch(s.url.replace("/graphql", "/readyz"))).status;
async function until(check: () => Promise<boolean>, ms = 10_000) {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error("condition not reached");
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("while Redis is down", () => {
  it("publish, claim, complete and fail keep working through MariaDB; nothing is lost when Redis returns", async () => {
    const queueId = await createQueue(s, scopeId, { maxRetries: 5 });
    const before = await s.gql(PUBLISH_BATCH, { is: Array.from({ length: 10 }, (_, i) => ({ queueId, body: { i } })) });
    const earlyClaim = (await s.gql(CLAIM, { i: { queueId, batchSize: 2 } })).data.claim;
    expect(earlyClaim).toHaveLength(2);

    await redis.stop();
    await until(async () => (await readyz()) === 503);

    const during = await s.gql(PUBLISH_BATCH, { is: Array.from({ length: 10 }, (_, i) => ({ queueId, body: { i: 10 + i } })) });
    expect(during.errors).toBeUndefined();
    expect((await s.gql(DEPTH, { q: queueId })).data.queueDepth).toEqual({ pending: 18, claimed: 2, delayed: 0 });

    // FIFO order holds on the MariaDB path too: the oldest pending ones come first
    const claimed = (await s.gql(CLAIM, { i: { queueId, batchSize: 5 } })).data.claim as { id: string; claimToken: string; body: { i: number } }[];
    expect(claimed.map((m) => m.body.i)).toEqual([2, 3, 4, 5, 6]);
    const done = await s.gql(COMPLETE_BATCH, { is: [...earlyClaim, ...claimed.slice(0, 4)].map((m: { id: string; claimToken: string }) => ({ messageId: m.id, claimToken: m.claimToken })) });
    expect(done.errors).toBeUndefined();
    const failed = await s.gql(`mutation($i: FailInput!) { fail(input: $i) { state } }`, { i: { messageId: claimed[4]!.id, claimToken: claimed[4]!.claimToken, reason: "flaky" } });
    expect(failed.data.fail.state).toBe("PENDING");
    expect((await s.gql(DEPTH, { q: queueId })).data.queueDepth).toMatchObject({ pending: 14, claimed: 0 });

    await redis.start();
    await until(async () => (await readyz()) === 200);
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

  it("serves consumer groups of BROADCAST queues through MariaDB too", async () => {
    const queueId = await createQueue(s, scopeId, { consumerMode: "BROADCAST" });
    const CLAIM_GROUP = `mutation($i: ClaimInput!) { claim(input: $i) { id claimToken body } }`;
    for (const g of ["a", "b"]) await s.gql(CLAIM_GROUP, { i: { queueId, consumerGroup: g } });
    await redis.stop();
    await until(async () => (await readyz()) === 503);
    const published = await s.gql(PUBLISH_BATCH, { is: Array.from({ length: 5 }, (_, i) => ({ queueId, body: { i } })) });
    expect(published.errors).toBeUndefined();
    for (const g of ["a", "b"]) {
      const got = (await s.gql(CLAIM_GROUP, { i: { queueId, consumerGroup: g, batchSize: 10 } })).data.claim as { id: string; claimToken: string; body: { i: number } }[];
      expect(got.map((m) => m.body.i)).toEqual([0, 1, 2, 3, 4]);
      expect((await s.gql(COMPLETE_BATCH, { is: got.map((m) => ({ messageId: m.id, claimToken: m.claimToken })) })).errors).toBeUndefined();
    }
    const r = await s.gql(`query($q: ID!) { messages(queueId: $q) { edges { node { state } } } }`, { q: queueId });
    expect(r.data.messages.edges.map((e: { node: { state: string } }) => e.node.state)).toEqual(Array(5).fill("COMPLETED"));
    await redis.start();
    await until(async () => (await readyz()) === 200);
  });
});
