import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { code, startTestServer, type TestServer } from "./support/server.js";
import { CLAIM, DEPTH, PUBLISH, PUBLISH_BATCH, createQueue, createScope } from "./support/fixtures.js";

let s: TestServer;
let scopeId: string;
beforeAll(async () => {
  s = await startTestServer({ DATABASE_POOL_SIZE: "16" });
  scopeId = await createScope(s);
});
afterAll(() => s?.stop());

const MAX = 50;

/** 20 publishers × 10 single publishes, all at once. */
async function storm(queueId: string) {
  return (
    await Promise.all(
      Array.from({ length: 20 }, async (_, p) => {
        const out = [];
        for (let i = 0; i < 10; i++) out.push(await s.gql(PUBLISH, { i: { queueId, body: { p, i } } }));
        return out;
      }),
    )
  ).flat();
}

async function countByState(queueId: string): Promise<Record<string, number>> {
  const r = await s.gql(`query($q: ID!) { messages(queueId: $q, first: 500) { edges { node { state } } } }`, { q: queueId });
  const counts: Record<string, number> = {};
  for (const e of r.data.messages.edges) counts[e.node.state] = (counts[e.node.state] ?? 0) + 1;
  return counts;
}

async function deadLetterCount(): Promise<number> {
  const scope = await s.gql(`query($s: ID!) { scope(id: $s) { queues { slug depth { pending } } } }`, { s: scopeId });
  return scope.data.scope.queues.find((q: { slug: string }) => q.slug === "_dead_letter").depth.pending;
}

describe("maxDepth under 200 concurrent publishes into room for 50", () => {
  it("REJECT accepts exactly 50 and refuses the rest with SCAIQUEUE_QUEUE_FULL", async () => {
    const queueId = await createQueue(s, scopeId, { maxDepth: MAX, overflowPolicy: "REJECT" });
    const results = await storm(queueId);
    expect(results.filter((r) => r.data?.publish).length).toBe(MAX);
    expect(results.filter((r) => code(r) === "SCAIQUEUE_QUEUE_FULL").length).toBe(200 - MAX);
    expect(await countByState(queueId)).toEqual({ PENDING: MAX });
    expect((await s.gql(DEPTH, { q: queueId })).data.queueDepth).toEqual({ pending: MAX, claimed: 0, delayed: 0 });
    // claimed messages still count; a completed one frees its place
    const claimed = await s.gql(CLAIM, { i: { queueId } });
    expect(code(await s.gql(PUBLISH, { i: { queueId, body: {} } }))).toBe("SCAIQUEUE_QUEUE_FULL");
    const m = claimed.data.claim[0];
    await s.gql(`mutation($i: CompleteInput!) { complete(input: $i) { id } }`, { i: { messageId: m.id, claimToken: m.claimToken } });
    expect((await s.gql(PUBLISH, { i: { queueId, body: {} } })).data.publish.message.state).toBe("PENDING");
    // a batch that does not fit whole is refused whole
    const batch = await s.gql(PUBLISH_BATCH, { is: [{ queueId, body: {} }] });
    expect(code(batch)).toBe("SCAIQUEUE_QUEUE_FULL");
  });

  it("DEAD_LETTER keeps exactly 50 and dead-letters the other newcomers with copies in _dead_letter", async () => {
    const before = await deadLetterCount();
    const queueId = await createQueue(s, scopeId, { maxDepth: MAX, overflowPolicy: "DEAD_LETTER" });
    const results = await storm(queueId);
    for (const r of results) expect(r.errors).toBeUndefined();
    const states = results.map((r) => r.data.publish.message.state);
    expect(states.filter((x) => x === "PENDING").length).toBe(MAX);
    expect(states.filter((x) => x === "DEAD_LETTERED").length).toBe(200 - MAX);
    expect(await countByState(queueId)).toEqual({ PENDING: MAX, DEAD_LETTERED: 200 - MAX });
    expect(await deadLetterCount()).toBe(before + 200 - MAX);
  });

  it("DROP_OLDEST takes every newcomer and drops exactly as many of the oldest", async () => {
    const queueId = await createQueue(s, scopeId, { maxDepth: MAX, overflowPolicy: "DROP_OLDEST" });
    const first = await s.gql(PUBLISH_BATCH, { is: Array.from({ length: MAX }, (_, i) => ({ queueId, body: { first: i } })) });
    const firstIds = first.data.publishBatch.map((p: { message: { id: string } }) => p.message.id);
    const results = await storm(queueId);
    for (const r of results) expect(r.errors).toBeUndefined();
    expect(await countByState(queueId)).toEqual({ PENDING: MAX, EXPIRED: 200 });
    expect((await s.gql(DEPTH, { q: queueId })).data.queueDepth).toEqual({ pending: MAX, claimed: 0, delayed: 0 });
    // the first fifty were the oldest: all of them were dropped, with the reason
    const dropped = await s.gql(`query($q: ID!) { messages(queueId: $q, state: EXPIRED, first: 50) { edges { node { id failureReason } } } }`, { q: queueId });
    expect(dropped.data.messages.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual(firstIds);
    expect(dropped.data.messages.edges[0].node.failureReason).toMatch(/DROP_OLDEST/);
  });
});
