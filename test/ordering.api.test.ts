import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./support/server.js";
import { CLAIM, PUBLISH, PUBLISH_BATCH, createQueue, createScope } from "./support/fixtures.js";

let s: TestServer;
let scopeId: string;
beforeAll(async () => {
  s = await startTestServer();
  scopeId = await createScope(s);
});
afterAll(() => s?.stop());

/** Claims one at a time until empty and returns the bodies' `n` in the order handed out. */
async function drainOrder(queueId: string): Promise<number[]> {
  const order: number[] = [];
  for (;;) {
    const r = await s.gql(CLAIM, { i: { queueId } });
    expect(r.errors).toBeUndefined();
    if (!r.data.claim.length) return order;
    order.push(r.data.claim[0].body.n);
  }
}

describe("claim order", () => {
  it("FIFO hands out by publish time", async () => {
    const queueId = await createQueue(s, scopeId, { ordering: "FIFO" });
    for (let n = 0; n < 5; n++) await s.gql(PUBLISH, { i: { queueId, body: { n } } });
    // and inside one batch, in the batch's order
    await s.gql(PUBLISH_BATCH, { is: [5, 6, 7, 8, 9].map((n) => ({ queueId, body: { n } })) });
    expect(await drainOrder(queueId)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it("PRIORITY hands out by tier, then score (higher first), then publish time", async () => {
    const queueId = await createQueue(s, scopeId, { ordering: "PRIORITY" });
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
    for (const { n, ...p } of msgs) await s.gql(PUBLISH, { i: { queueId, body: { n }, ...p } });
    expect(await drainOrder(queueId)).toEqual([2, 4, 6, 3, 8, 1, 7, 0, 5]);
  });

  it("DEADLINE hands out by deadline (earliest first, none last), then publish time", async () => {
    const queueId = await createQueue(s, scopeId, { ordering: "DEADLINE" });
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
    for (const { n, ...p } of msgs) await s.gql(PUBLISH, { i: { queueId, body: { n }, ...p } });
    expect(await drainOrder(queueId)).toEqual([2, 5, 4, 1, 0, 3]);
  });

  it("does not hand out a message before its delayUntil", async () => {
    const queueId = await createQueue(s, scopeId);
    const soon = new Date(Date.now() + 1500).toISOString();
    await s.gql(PUBLISH, { i: { queueId, body: { n: 1 }, delayUntil: soon } });
    await s.gql(PUBLISH, { i: { queueId, body: { n: 2 } } });
    const depth = await s.gql(`query($q: ID!) { queueDepth(queueId: $q) { pending delayed claimed } }`, { q: queueId });
    expect(depth.data.queueDepth).toEqual({ pending: 2, delayed: 1, claimed: 0 });
    expect(await drainOrder(queueId)).toEqual([2]);
    // delayUntil lies in real time here (the API takes the wall clock), so wait it out once
    await new Promise((r) => setTimeout(r, 1600));
    expect(await drainOrder(queueId)).toEqual([1]);
  });
});
