import { describe, expect, test } from "../support/test.js";
import { code, uniq, type TestServer } from "../support/server.js";
import { subscribe } from "../support/subscription.js";
import { deadLetterDepth, messagesOf, pick } from "../support/api.js";
import { CLAIM, COMPLETE_BATCH, COMPLETED, DEPTH, FAIL, PUBLISH, PUBLISH_BATCH } from "../support/ops.js";

test.override({ serverEnv: { DATABASE_POOL_SIZE: "16" } });

async function join(s: TestServer, queueId: string, group: string) {
  const r = await s.gql(CLAIM, { i: { queueId, consumerGroup: group } });
  expect(r.errors).toBeUndefined();
  return r.data.claim;
}

/** A group's worker: claims and completes until its group has nothing left. */
async function drain(s: TestServer, queueId: string, group: string, seen: string[]) {
  for (;;) {
    const got = (await s.gql(CLAIM, { i: { queueId, consumerGroup: group, batchSize: 50 } })).data.claim as { id: string; claimToken: string; attempts: number }[];
    if (!got.length) return;
    for (const m of got) expect(m.attempts).toBe(1);
    seen.push(...got.map((m) => m.id));
    const done = await s.gql(COMPLETE_BATCH, { is: got.map((m) => ({ messageId: m.id, claimToken: m.claimToken, response: { by: group } })) });
    expect(done.errors).toBeUndefined();
  }
}

const states = (s: TestServer, queueId: string): Promise<{ state: string; response: unknown }[]> => messagesOf(s, { q: queueId, first: 500 });

describe("BROADCAST queues", () => {
  test("give every message to each of three groups, once each; a message completes when all three have", async ({ server, gql, newQueue }) => {
    const queueId = await newQueue({ consumerMode: "BROADCAST" });
    for (const g of ["a", "b", "c"]) expect(await join(server, queueId, g)).toEqual([]);
    const correlationId = `fan-${uniq()}`;
    const client = server.wsClient();
    const waiter = subscribe(client, COMPLETED, { c: correlationId });
    expect(await waiter.quiet(300)).toBe(true);

    const published = await gql(PUBLISH_BATCH, {
      is: Array.from({ length: 300 }, (_, i) => ({ queueId, body: { i }, correlationId: i === 0 ? correlationId : null })),
    });
    const ids = published.data.publishBatch.map((p: { message: { id: string } }) => p.message.id);
    expect((await gql(DEPTH, { q: queueId, g: "a" })).data.queueDepth).toEqual({ pending: 300, claimed: 0, delayed: 0 });
    expect((await gql(DEPTH, { q: queueId })).data.queueDepth.pending).toBe(900);

    const seen: Record<string, string[]> = { a: [], b: [], c: [] };
    await drain(server, queueId, "a", seen.a!); // one group first: the waiter must not wake yet
    expect(await waiter.quiet(300)).toBe(true);
    await Promise.all(["b", "c"].flatMap((g) => [drain(server, queueId, g, seen[g]!), drain(server, queueId, g, seen[g]!)]));
    for (const g of ["a", "b", "c"]) {
      expect(seen[g]!.length).toBe(300);
      expect(new Set(seen[g])).toEqual(new Set(ids));
      expect((await gql(DEPTH, { q: queueId, g })).data.queueDepth).toEqual({ pending: 0, claimed: 0, delayed: 0 });
    }
    const all = await states(server, queueId);
    expect(all.filter((m) => m.state === "COMPLETED")).toHaveLength(300);
    expect(all[0]!.response).toEqual({ a: { by: "a" }, b: { by: "b" }, c: { by: "c" } });
    expect(pick((await waiter.next()).messageCompleted, "messageId", "response")).toEqual({ messageId: ids[0], response: { a: { by: "a" }, b: { by: "b" }, c: { by: "c" } } });
    waiter.close();
    await client.dispose();
  });

  test("lets one group's failures dead-letter without touching the others", async ({ server, gql, scope, newQueue }) => {
    const queueId = await newQueue({ consumerMode: "BROADCAST", maxRetries: 2 });
    await join(server, queueId, "ok");
    await join(server, queueId, "broken");
    await gql(PUBLISH_BATCH, { is: Array.from({ length: 20 }, (_, i) => ({ queueId, body: { i } })) });
    const dlqBefore = await deadLetterDepth(server, scope);

    // the broken group fails every delivery twice: the first retries, the second dead-letters
    for (let round = 0; round < 2; round++) {
      for (;;) {
        const got = (await gql(CLAIM, { i: { queueId, consumerGroup: "broken", batchSize: 20 } })).data.claim as { id: string; claimToken: string }[];
        if (!got.length) break;
        for (const m of got) expect((await gql(FAIL, { i: { messageId: m.id, claimToken: m.claimToken, reason: "nope" } })).errors).toBeUndefined();
      }
      await new Promise((r) => setTimeout(r, 1100)); // the retry's backoff (base 1 s, first retry ≤ 1 s)
    }
    expect((await gql(DEPTH, { q: queueId, g: "broken" })).data.queueDepth).toEqual({ pending: 0, claimed: 0, delayed: 0 });
    expect(await deadLetterDepth(server, scope)).toBe(dlqBefore + 20);
    // the ok group still has all 20, untouched
    expect((await gql(DEPTH, { q: queueId, g: "ok" })).data.queueDepth).toEqual({ pending: 20, claimed: 0, delayed: 0 });
    const okSeen: string[] = [];
    await drain(server, queueId, "ok", okSeen);
    expect(okSeen).toHaveLength(20);
    expect((await states(server, queueId)).map((m) => m.state)).toEqual(Array(20).fill("DEAD_LETTERED"));
  });

  test("gives a group only what was published after it joined, and needs a group to claim", async ({ server, gql, newQueue }) => {
    const queueId = await newQueue({ consumerMode: "BROADCAST" });
    await join(server, queueId, "early");
    await gql(PUBLISH, { i: { queueId, body: { n: 1 } } });
    expect(await join(server, queueId, "late")).toEqual([]);
    await gql(PUBLISH, { i: { queueId, body: { n: 2 } } });
    expect((await gql(DEPTH, { q: queueId, g: "early" })).data.queueDepth.pending).toBe(2);
    expect((await gql(DEPTH, { q: queueId, g: "late" })).data.queueDepth.pending).toBe(1);
    expect(code(await gql(CLAIM, { i: { queueId } }))).toBe("VALIDATION_ERROR");
    // a message published while no group has joined is delivered to nobody: it completes at once
    const lonely = await newQueue({ consumerMode: "BROADCAST" });
    const r = await gql(PUBLISH, { i: { queueId: lonely, body: {} } });
    expect(r.data.publish.message.state).toBe("COMPLETED");
  });
});
