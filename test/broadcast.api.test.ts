import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { code, startTestServer, uniq, type TestServer } from "./support/server.js";
import { subscribe } from "./support/subscription.js";
import { PUBLISH, PUBLISH_BATCH, createQueue, createScope } from "./support/fixtures.js";

const CLAIM = `mutation($i: ClaimInput!) { claim(input: $i) { id claimToken attempts state } }`;
const COMPLETE_BATCH = `mutation($is: [CompleteInput!]!) { completeBatch(inputs: $is) { id state } }`;
const FAIL = `mutation($i: FailInput!) { fail(input: $i) { id state } }`;
const GROUP_DEPTH = `query($q: ID!, $g: String) { queueDepth(queueId: $q, consumerGroup: $g) { pending claimed delayed } }`;

let s: TestServer;
let scopeId: string;
beforeAll(async () => {
  s = await startTestServer({ DATABASE_POOL_SIZE: "16" });
  scopeId = await createScope(s);
});
afterAll(() => s?.stop());


async function join(queueId: string, group: string) {
  const r = await s.gql(CLAIM, { i: { queueId, consumerGroup: group } });
  expect(r.errors).toBeUndefined();
  return r.data.claim;
}

/** A group's worker: claims and completes until its group has nothing left. */
async function drain(queueId: string, group: string, seen: string[]) {
  for (;;) {
    const got = (await s.gql(CLAIM, { i: { queueId, consumerGroup: group, batchSize: 50 } })).data.claim as { id: string; claimToken: string; attempts: number }[];
    if (!got.length) return;
    for (const m of got) expect(m.attempts).toBe(1);
    seen.push(...got.map((m) => m.id));
    const done = await s.gql(COMPLETE_BATCH, { is: got.map((m) => ({ messageId: m.id, claimToken: m.claimToken, response: { by: group } })) });
    expect(done.errors).toBeUndefined();
  }
}

async function states(queueId: string) {
  const r = await s.gql(`query($q: ID!) { messages(queueId: $q, first: 500) { edges { node { state response } } } }`, { q: queueId });
  return r.data.messages.edges.map((e: { node: unknown }) => e.node) as { state: string; response: unknown }[];
}

describe("BROADCAST queues", () => {
  it("give every message to each of three groups, once each; a message completes when all three have", async () => {
    const queueId = await createQueue(s, scopeId, { consumerMode: "BROADCAST" });
    for (const g of ["a", "b", "c"]) expect(await join(queueId, g)).toEqual([]);
    const correlationId = `fan-${uniq()}`;
    const client = s.wsClient();
    const waiter = subscribe(client, `subscription($c: String!) { messageCompleted(correlationId: $c) { messageId response } }`, { c: correlationId });
    expect(await waiter.quiet(300)).toBe(true);

    const published = await s.gql(PUBLISH_BATCH, {
      is: Array.from({ length: 300 }, (_, i) => ({ queueId, body: { i }, correlationId: i === 0 ? correlationId : null })),
    });
    const ids = published.data.publishBatch.map((p: { message: { id: string } }) => p.message.id);
    expect((await s.gql(GROUP_DEPTH, { q: queueId, g: "a" })).data.queueDepth).toEqual({ pending: 300, claimed: 0, delayed: 0 });
    expect((await s.gql(GROUP_DEPTH, { q: queueId })).data.queueDepth.pending).toBe(900);

    const seen: Record<string, string[]> = { a: [], b: [], c: [] };
    await drain(queueId, "a", seen.a!); // one group first: the waiter must not wake yet
    expect(await waiter.quiet(300)).toBe(true);
    await Promise.all(["b", "c"].flatMap((g) => [drain(queueId, g, seen[g]!), drain(queueId, g, seen[g]!)]));
    for (const g of ["a", "b", "c"]) {
      expect(seen[g]!.length).toBe(300);
      expect(new Set(seen[g])).toEqual(new Set(ids));
      expect((await s.gql(GROUP_DEPTH, { q: queueId, g })).data.queueDepth).toEqual({ pending: 0, claimed: 0, delayed: 0 });
    }
    const all = await states(queueId);
    expect(all.filter((m) => m.state === "COMPLETED")).toHaveLength(300);
    expect(all[0]!.response).toEqual({ a: { by: "a" }, b: { by: "b" }, c: { by: "c" } });
    expect((await waiter.next()).messageCompleted).toEqual({ messageId: ids[0], response: { a: { by: "a" }, b: { by: "b" }, c: { by: "c" } } });
    waiter.close();
    await client.dispose();
  });

  it("lets one group's failures dead-letter without touching the others", async () => {
    const queueId = await createQueue(s, scopeId, { consumerMode: "BROADCAST", maxRetries: 2 });
    await join(queueId, "ok");
    await join(queueId, "broken");
    await s.gql(PUBLISH_BATCH, { is: Array.from({ length: 20 }, (_, i) => ({ queueId, body: { i } })) });
    const dlqBefore = await deadLetterDepth();

    // the broken group fails every delivery twice: the first retries, the second dead-letters
    for (let round = 0; round < 2; round++) {
      for (;;) {
        const got = (await s.gql(CLAIM, { i: { queueId, consumerGroup: "broken", batchSize: 20 } })).data.claim as { id: string; claimToken: string }[];
        if (!got.length) break;
        for (const m of got) expect((await s.gql(FAIL, { i: { messageId: m.id, claimToken: m.claimToken, reason: "nope" } })).errors).toBeUndefined();
      }
      await new Promise((r) => setTimeout(r, 1100)); // the retry's backoff (base 1 s, first retry ≤ 1 s)
    }
    expect((await s.gql(GROUP_DEPTH, { q: queueId, g: "broken" })).data.queueDepth).toEqual({ pending: 0, claimed: 0, delayed: 0 });
    expect(await deadLetterDepth()).toBe(dlqBefore + 20);
    // the ok group still has all 20, untouched
    expect((await s.gql(GROUP_DEPTH, { q: queueId, g: "ok" })).data.queueDepth).toEqual({ pending: 20, claimed: 0, delayed: 0 });
    const okSeen: string[] = [];
    await drain(queueId, "ok", okSeen);
    expect(okSeen).toHaveLength(20);
    expect((await states(queueId)).map((m) => m.state)).toEqual(Array(20).fill("DEAD_LETTERED"));
  });

  it("gives a group only what was published after it joined, and needs a group to claim", async () => {
    const queueId = await createQueue(s, scopeId, { consumerMode: "BROADCAST" });
    await join(queueId, "early");
    await s.gql(PUBLISH, { i: { queueId, body: { n: 1 } } });
    expect(await join(queueId, "late")).toEqual([]);
    await s.gql(PUBLISH, { i: { queueId, body: { n: 2 } } });
    expect((await s.gql(GROUP_DEPTH, { q: queueId, g: "early" })).data.queueDepth.pending).toBe(2);
    expect((await s.gql(GROUP_DEPTH, { q: queueId, g: "late" })).data.queueDepth.pending).toBe(1);
    expect(code(await s.gql(CLAIM, { i: { queueId } }))).toBe("VALIDATION_ERROR");
    // a message published while no group has joined is delivered to nobody: it completes at once
    const lonely = await createQueue(s, scopeId, { consumerMode: "BROADCAST" });
    const r = await s.gql(PUBLISH, { i: { queueId: lonely, body: {} } });
    expect(r.data.publish.message.state).toBe("COMPLETED");
  });
});

async function deadLetterDepth(): Promise<number> {
  const scope = await s.gql(`query($s: ID!) { scope(id: $s) { queues { slug depth { pending } } } }`, { s: scopeId });
  return scope.data.scope.queues.find((q: { slug: string }) => q.slug === "_dead_letter").depth.pending;
}
