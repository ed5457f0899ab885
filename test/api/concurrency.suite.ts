import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { uniq, type TestServer } from "../support/server.js";
import { createQueue, createScope } from "../support/api.js";
import { CLAIM, COMPLETE_BATCH, DEPTH, MESSAGE_STATES, PUBLISH, PUBLISH_BATCH } from "../support/ops.js";

let s: TestServer;
let scopeId: string;

async function publishMany(queueId: string, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i += 250) {
    const inputs = Array.from({ length: Math.min(250, n - i) }, (_, j) => ({ queueId, body: { n: i + j } }));
    const r = await s.gql(PUBLISH_BATCH, { is: inputs });
    expect(r.errors).toBeUndefined();
    ids.push(...r.data.publishBatch.map((p: any) => p.message.id));
  }
  return ids;
}

/** One worker: claims until the queue answers empty, completing each batch it got. */
async function worker(queueId: string, batchSize: number, seen: string[], consumerId: string): Promise<void> {
  for (;;) {
    const r = await s.gql(CLAIM, { i: { queueId, batchSize, consumerId } });
    expect(r.errors).toBeUndefined();
    const got = r.data.claim as { id: string; claimToken: string; attempts: number }[];
    if (got.length === 0) return;
    for (const m of got) expect(m.attempts).toBe(1);
    seen.push(...got.map((m) => m.id));
    const done = await s.gql(COMPLETE_BATCH, { is: got.map((m) => ({ messageId: m.id, claimToken: m.claimToken })) });
    expect(done.errors).toBeUndefined();
    expect(done.data.completeBatch.every((m: any) => m.state === "COMPLETED")).toBe(true);
  }
}

/**
 * The concurrency suite against a server `start` gives with these overrides of the
 * environment: the plain Redis in concurrency.api.test.ts, a Redis Cluster in cluster.api.test.ts.
 */
export function concurrencySuite(start: (env: Record<string, string>) => Promise<TestServer>): void {
  beforeAll(async () => {
    s = await start({ DATABASE_POOL_SIZE: "16" });
    scopeId = await createScope(s);
  });
  afterAll(() => s?.stop());

  describe("20 concurrent claimers over 1,000 messages", () => {
    for (const batchSize of [1, 10]) {
      it(`delivers each message exactly once with batchSize ${batchSize}`, async () => {
        const queueId = await createQueue(s, scopeId);
        const published = await publishMany(queueId, 1000);
        expect(new Set(published).size).toBe(1000);
        expect((await s.gql(DEPTH, { q: queueId })).data.queueDepth).toEqual({ pending: 1000, claimed: 0, delayed: 0 });

        const seen: string[] = [];
        await Promise.all(Array.from({ length: 20 }, (_, w) => worker(queueId, batchSize, seen, `worker-${w}`)));

        expect(seen.length).toBe(1000);
        expect(new Set(seen)).toEqual(new Set(published));
        expect((await s.gql(DEPTH, { q: queueId })).data.queueDepth).toEqual({ pending: 0, claimed: 0, delayed: 0 });
        const completed = await s.gql(MESSAGE_STATES, { q: queueId, state: "COMPLETED", first: 500 });
        const rest = await s.gql(MESSAGE_STATES, { q: queueId, state: "COMPLETED", first: 500, after: completed.data.messages.pageInfo.endCursor });
        expect(completed.data.messages.edges.length + rest.data.messages.edges.length).toBe(1000);
        expect(rest.data.messages.pageInfo.hasNextPage).toBe(false);
        const pending = await s.gql(MESSAGE_STATES, { q: queueId, state: "PENDING" });
        expect(pending.data.messages.edges).toEqual([]);
      });
    }
  });

  describe("idempotency under concurrent duplicates", () => {
    it("stores one message for 50 concurrent publishes with one key", async () => {
      const queueId = await createQueue(s, scopeId);
      const key = `order-${uniq()}`;
      const results = await Promise.all(
        Array.from({ length: 50 }, () => s.gql(PUBLISH, { i: { queueId, body: { order: 7, items: [1, 2] }, idempotencyKey: key } })),
      );
      for (const r of results) expect(r.errors).toBeUndefined();
      const payloads = results.map((r) => r.data.publish);
      expect(payloads.filter((p) => !p.duplicate)).toHaveLength(1);
      expect(payloads.filter((p) => p.duplicate)).toHaveLength(49);
      expect(new Set(payloads.map((p) => p.message.id)).size).toBe(1);
      expect((await s.gql(DEPTH, { q: queueId })).data.queueDepth.pending).toBe(1);

      // same body with its keys in another order is the same body
      const again = await s.gql(PUBLISH, { i: { queueId, body: { items: [1, 2], order: 7 }, idempotencyKey: key } });
      expect(again.data.publish).toMatchObject({ duplicate: true, message: { id: payloads[0].message.id } });

      const conflict = await s.gql(PUBLISH, { i: { queueId, body: { order: 8 }, idempotencyKey: key } });
      expect(conflict.errors?.[0]?.extensions?.code).toBe("SCAIQUEUE_IDEMPOTENCY_CONFLICT");
      expect((await s.gql(DEPTH, { q: queueId })).data.queueDepth.pending).toBe(1);
    });

    it("refuses a whole batch when one item conflicts, and keys are per queue", async () => {
      const queueId = await createQueue(s, scopeId);
      const other = await createQueue(s, scopeId);
      const key = `k-${uniq()}`;
      await s.gql(PUBLISH, { i: { queueId, body: { v: 1 }, idempotencyKey: key } });
      const r = await s.gql(PUBLISH_BATCH, {
        is: [
          { queueId, body: { fresh: true } },
          { queueId, body: { v: 2 }, idempotencyKey: key },
        ],
      });
      expect(r.errors?.[0]?.extensions?.code).toBe("SCAIQUEUE_IDEMPOTENCY_CONFLICT");
      expect(r.errors?.[0]?.extensions?.details).toEqual([{ field: "inputs.1.idempotencyKey", message: expect.any(String) }]);
      expect((await s.gql(DEPTH, { q: queueId })).data.queueDepth.pending).toBe(1);

      const elsewhere = await s.gql(PUBLISH, { i: { queueId: other, body: { v: 2 }, idempotencyKey: key } });
      expect(elsewhere.data.publish.duplicate).toBe(false);
    });
  });
}
