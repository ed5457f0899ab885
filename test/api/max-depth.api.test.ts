import { describe, expect, test } from "../support/test.js";
import { code, type TestServer } from "../support/server.js";
import { deadLetterDepth, stateCounts } from "../support/api.js";
import { CLAIM, COMPLETE, DEPTH, MESSAGES, PUBLISH, PUBLISH_BATCH } from "../support/ops.js";

test.override({ serverEnv: { DATABASE_POOL_SIZE: "16" } });

const MAX = 50;

/** 20 publishers × 10 single publishes, all at once. */
async function storm(s: TestServer, queueId: string) {
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

describe("maxDepth under 200 concurrent publishes into room for 50", () => {
  test("REJECT accepts exactly 50 and refuses the rest with SCAIQUEUE_QUEUE_FULL", async ({ server, gql, newQueue }) => {
    const queueId = await newQueue({ maxDepth: MAX, overflowPolicy: "REJECT" });
    const results = await storm(server, queueId);
    expect(results.filter((r) => r.data?.publish).length).toBe(MAX);
    expect(results.filter((r) => code(r) === "SCAIQUEUE_QUEUE_FULL").length).toBe(200 - MAX);
    expect(await stateCounts(server, queueId)).toEqual({ PENDING: MAX });
    expect((await gql(DEPTH, { q: queueId })).data.queueDepth).toEqual({ pending: MAX, claimed: 0, delayed: 0 });
    // claimed messages still count; a completed one frees its place
    const claimed = await gql(CLAIM, { i: { queueId } });
    expect(code(await gql(PUBLISH, { i: { queueId, body: {} } }))).toBe("SCAIQUEUE_QUEUE_FULL");
    const m = claimed.data.claim[0];
    await gql(COMPLETE, { i: { messageId: m.id, claimToken: m.claimToken } });
    expect((await gql(PUBLISH, { i: { queueId, body: {} } })).data.publish.message.state).toBe("PENDING");
    // a batch that does not fit whole is refused whole
    const batch = await gql(PUBLISH_BATCH, { is: [{ queueId, body: {} }] });
    expect(code(batch)).toBe("SCAIQUEUE_QUEUE_FULL");
  });

  test("DEAD_LETTER keeps exactly 50 and dead-letters the other newcomers with copies in _dead_letter", async ({ server, scope, newQueue }) => {
    const before = await deadLetterDepth(server, scope);
    const queueId = await newQueue({ maxDepth: MAX, overflowPolicy: "DEAD_LETTER" });
    const results = await storm(server, queueId);
    for (const r of results) expect(r.errors).toBeUndefined();
    const states = results.map((r) => r.data.publish.message.state);
    expect(states.filter((x) => x === "PENDING").length).toBe(MAX);
    expect(states.filter((x) => x === "DEAD_LETTERED").length).toBe(200 - MAX);
    expect(await stateCounts(server, queueId)).toEqual({ PENDING: MAX, DEAD_LETTERED: 200 - MAX });
    expect(await deadLetterDepth(server, scope)).toBe(before + 200 - MAX);
  });

  test("DROP_OLDEST takes every newcomer and drops exactly as many of the oldest", async ({ server, gql, newQueue }) => {
    const queueId = await newQueue({ maxDepth: MAX, overflowPolicy: "DROP_OLDEST" });
    const first = await gql(PUBLISH_BATCH, { is: Array.from({ length: MAX }, (_, i) => ({ queueId, body: { first: i } })) });
    const firstIds = first.data.publishBatch.map((p: { message: { id: string } }) => p.message.id);
    const results = await storm(server, queueId);
    for (const r of results) expect(r.errors).toBeUndefined();
    expect(await stateCounts(server, queueId)).toEqual({ PENDING: MAX, EXPIRED: 200 });
    expect((await gql(DEPTH, { q: queueId })).data.queueDepth).toEqual({ pending: MAX, claimed: 0, delayed: 0 });
    // the first fifty were the oldest: all of them were dropped, with the reason
    const dropped = await gql(MESSAGES, { q: queueId, state: "EXPIRED", first: 50 });
    expect(dropped.data.messages.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual(firstIds);
    expect(dropped.data.messages.edges[0].node.failureReason).toMatch(/DROP_OLDEST/);
  });
});
