import { describe, expect, test } from "../support/test.js";
import type { TestServer } from "../support/server.js";
import { CLAIM, DEPTH, PUBLISH, PUBLISH_BATCH } from "../support/ops.js";

/** Claims one at a time until empty and returns the bodies' `n` in the order handed out. */
async function drainOrder(s: TestServer, queueId: string): Promise<number[]> {
  const order: number[] = [];
  for (;;) {
    const r = await s.gql(CLAIM, { i: { queueId } });
    expect(r.errors).toBeUndefined();
    if (!r.data.claim.length) return order;
    order.push(r.data.claim[0].body.n);
  }
}

describe("claim order", () => {
  test("FIFO hands out by publish time", async ({ server, gql, newQueue }) => {
    const queueId = await newQueue({ ordering: "FIFO" });
    for (let n = 0; n < 5; n++) await gql(PUBLISH, { i: { queueId, body: { n } } });
    // and inside one batch, in the batch's order
    await gql(PUBLISH_BATCH, { is: [5, 6, 7, 8, 9].map((n) => ({ queueId, body: { n } })) });
    expect(await drainOrder(server, queueId)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  test("PRIORITY hands out by tier, then score (higher first), then publish time", async ({ server, gql, newQueue }) => {
    const queueId = await newQueue({ ordering: "PRIORITY" });
    const msgs = [
      { n: 0, priorityTier: "LOW", priorityScore: 1000 },
      { n: 1, priorityTier: "NORMAL", priorityScore: 0 },
      { n: 2, priorityTier: "CRITICAL", priorityScore: 0 },
      { n: 3, priorityTier: "HIGH", priorityScore: 5 },
      { n: 4, priorityTier: "HIGH", priorityScore: 500 },
      { n: 5, priorityTier: "BACKGROUND", priorityScore: 1000 },
      { n: 6, priorityTier: "HIGH", priorityScore: 500 },
      { n: 7 }, // NORMAL, score 0 by default: after n=1 by publish time
      { n: 8, priorityTier: "NORMAL", priorityScore: 1 },
    ];
    for (const { n, ...p } of msgs) await gql(PUBLISH, { i: { queueId, body: { n }, ...p } });
    expect(await drainOrder(server, queueId)).toEqual([2, 4, 6, 3, 8, 1, 7, 0, 5]);
  });

  test("DEADLINE hands out by deadline (earliest first, none last), then publish time", async ({ server, gql, newQueue }) => {
    const queueId = await newQueue({ ordering: "DEADLINE" });
    const at = (min: number) => new Date(Date.now() + min * 60_000).toISOString();
    const msgs = [
      { n: 0 },
      { n: 1, deadline: at(30) },
      { n: 2, deadline: at(10) },
      { n: 3 },
      { n: 4, deadline: at(20) },
      { n: 5, deadline: at(10) },
    ];
    // publish n=5 with the same deadline as n=2: same instant, so publish time decides
    msgs[5]!.deadline = msgs[2]!.deadline;
    for (const { n, ...p } of msgs) await gql(PUBLISH, { i: { queueId, body: { n }, ...p } });
    expect(await drainOrder(server, queueId)).toEqual([2, 5, 4, 1, 0, 3]);
  });

  test("does not hand out a message before its delayUntil", async ({ server, gql, newQueue }) => {
    const queueId = await newQueue();
    const soon = new Date(Date.now() + 1500).toISOString();
    await gql(PUBLISH, { i: { queueId, body: { n: 1 }, delayUntil: soon } });
    await gql(PUBLISH, { i: { queueId, body: { n: 2 } } });
    const depth = await gql(DEPTH, { q: queueId });
    expect(depth.data.queueDepth).toEqual({ pending: 2, delayed: 1, claimed: 0 });
    expect(await drainOrder(server, queueId)).toEqual([2]);
    // delayUntil lies in real time here (the API takes the wall clock), so wait it out once
    await new Promise((r) => setTimeout(r, 1600));
    expect(await drainOrder(server, queueId)).toEqual([1]);
  });
});
