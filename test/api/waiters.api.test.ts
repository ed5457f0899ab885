import { describe, expect, test } from "../support/test.js";
import { startTestServer, uniq, type TestServer } from "../support/server.js";
import { subscribe } from "../support/subscription.js";
import { createQueue, createScope } from "../support/api.js";
import { CLAIM, COMPLETE, COMPLETED, DEPTH_CHANGES, EVENTS, PUBLISH } from "../support/ops.js";

async function publishAndClaim(s: TestServer, queueId: string, correlationId: string) {
  await s.gql(PUBLISH, { i: { queueId, body: { c: correlationId }, correlationId } });
  const claimed = await s.gql(CLAIM, { i: { queueId } });
  return claimed.data.claim[0] as { id: string; claimToken: string };
}

describe("messageCompleted", () => {
  test("delivers a completion racing the subscription exactly once, for each of 40 waiters", async ({ server: s, newQueue }) => {
    const queueId = await newQueue();
    const client = s.wsClient();
    const claimed: { id: string; claimToken: string; c: string }[] = [];
    for (let i = 0; i < 40; i++) {
      const c = `race-${uniq()}`;
      claimed.push({ ...(await publishAndClaim(s, queueId, c)), c });
    }
    const races = await Promise.all(
      claimed.map(async (m, i) => {
        const c = m.c;
        // subscribe and complete at the same moment, in both orders
        const start = () => subscribe(client, COMPLETED, { c });
        const finish = () => s.gql(COMPLETE, { i: { messageId: m.id, claimToken: m.claimToken, response: { i } } });
        let waiter;
        if (i % 2) {
          waiter = start();
          await finish();
        } else {
          const done = finish();
          waiter = start();
          await done;
        }
        return { waiter, messageId: m.id, i };
      }),
    );
    for (const { waiter, messageId, i } of races) {
      expect((await waiter.next()).messageCompleted).toMatchObject({ messageId, response: { i } });
    }
    for (const { waiter } of races) {
      expect(await waiter.quiet(50)).toBe(true);
      waiter.close();
    }
    await client.dispose();
  });

  test("keeps the stream open for further completions of the same correlation id", async ({ server: s, newQueue }) => {
    const queueId = await newQueue();
    const c = `chain-${uniq()}`;
    const client = s.wsClient();
    const waiter = subscribe(client, COMPLETED, { c });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const m = await publishAndClaim(s, queueId, c);
      await s.gql(COMPLETE, { i: { messageId: m.id, claimToken: m.claimToken } });
      ids.push(m.id);
      expect((await waiter.next()).messageCompleted.messageId).toBe(m.id);
    }
    waiter.close();
    // a late waiter gets all three at once, in completion order
    const late = subscribe(client, COMPLETED, { c });
    const got = [await late.next(), await late.next(), await late.next()].map((e) => e.messageCompleted.messageId);
    expect(got).toEqual(ids);
    late.close();
    await client.dispose();
  });

  test("gives late waiters subscribing at once each their own chain's completions, also across tenants with the same correlation id", async ({ server: s, newQueue }) => {
    const other = await startTestServer({}, { peerOf: s });
    const otherKey = await s.newKey(`tenant-${uniq()}`);
    const otherQueue = await createQueue(s, await createScope(s, otherKey), {}, otherKey);
    const queueId = await newQueue();
    const chains = Array.from({ length: 30 }, () => `late-${uniq()}`);
    const done = new Map<string, string[]>();
    for (const [i, c] of chains.entries()) {
      for (let n = 0; n < 1 + (i % 3); n++) {
        const m = await publishAndClaim(s, queueId, c);
        await s.gql(COMPLETE, { i: { messageId: m.id, claimToken: m.claimToken } });
        done.set(c, [...(done.get(c) ?? []), m.id]);
      }
    }
    // the other tenant's message with the first chain's correlation id
    await s.gql(PUBLISH, { i: { queueId: otherQueue, body: {}, correlationId: chains[0] } }, otherKey);
    const theirs = (await s.gql(CLAIM, { i: { queueId: otherQueue } }, otherKey)).data.claim[0];
    await s.gql(COMPLETE, { i: { messageId: theirs.id, claimToken: theirs.claimToken } }, otherKey);

    const client = other.wsClient();
    const waiters = chains.map((c) => subscribe(client, COMPLETED, { c }));
    for (const [i, c] of chains.entries()) {
      const got: string[] = [];
      for (let n = 0; n < done.get(c)!.length; n++) got.push((await waiters[i]!.next()).messageCompleted.messageId);
      expect(got).toEqual(done.get(c));
    }
    for (const w of waiters) {
      expect(await w.quiet(50)).toBe(true);
      w.close();
    }
    await client.dispose();
    await other.stop();
  });
});

describe("messageEvents", () => {
  test("reach subscriptions on any process that begin after a tenant's events went unheard", async ({ server: s }) => {
    const key = await s.newKey(`tenant-${uniq()}`);
    const queueId = await createQueue(s, await createScope(s, key), {}, key);
    const cycle = async (c: string) => {
      await s.gql(PUBLISH, { i: { queueId, body: {}, correlationId: c } }, key);
      const m = (await s.gql(CLAIM, { i: { queueId } }, key)).data.claim[0] as { id: string; claimToken: string };
      await s.gql(COMPLETE, { i: { messageId: m.id, claimToken: m.claimToken } }, key);
      return m.id;
    };
    // nobody listens to this tenant: its events are not sent, and its completions count as published
    const unheard = [await cycle(`quiet-${uniq()}`), await cycle(`quiet-${uniq()}`)];
    expect(await s.app.deps.bus.alreadyPublished(unheard.map((id) => `${id}:completed`))).toEqual([true, true]);

    const other = await startTestServer({}, { peerOf: s });
    const client = other.wsClient(key);
    const c = `heard-${uniq()}`;
    const events = subscribe(client, EVENTS, { q: queueId });
    const waiter = subscribe(client, COMPLETED, { c });
    expect(await events.quiet(300)).toBe(true);
    const id = await cycle(c);
    const seen = [await events.next(), await events.next(), await events.next()].map((e) => [e.messageEvents.type, e.messageEvents.messageId]);
    expect(seen).toEqual(["published", "claimed", "completed"].map((t) => [`scaiqueue.message.${t}`, id]));
    expect((await waiter.next()).messageCompleted.messageId).toBe(id);
    events.close();
    waiter.close();
    await client.dispose();
    await other.stop();
  });

  test("streams a queue's lifecycle events in order, filtered by type when asked", async ({ server: s, newQueue }) => {
    const queueId = await newQueue();
    const client = s.wsClient();
    const all = subscribe(client, EVENTS, { q: queueId });
    const onlyClaimed = subscribe(client, EVENTS, { q: queueId, t: ["scaiqueue.message.claimed"] });
    expect(await all.quiet(300)).toBe(true);
    const m = await publishAndClaim(s, queueId, `ev-${uniq()}`);
    await s.gql(COMPLETE, { i: { messageId: m.id, claimToken: m.claimToken } });
    const seen = [await all.next(), await all.next(), await all.next()].map((e) => e.messageEvents);
    expect(seen.map((e) => [e.type, e.state, e.message.attempts])).toEqual([
      ["scaiqueue.message.published", "PENDING", 0],
      ["scaiqueue.message.claimed", "CLAIMED", 1],
      ["scaiqueue.message.completed", "COMPLETED", 1],
    ]);
    expect((await onlyClaimed.next()).messageEvents).toMatchObject({ type: "scaiqueue.message.claimed", messageId: m.id });
    expect(await onlyClaimed.quiet(200)).toBe(true);
    all.close();
    onlyClaimed.close();
    await client.dispose();
  });

  test("gives each event's message as of the event, with its body, labels, dates and response", async ({ server: s, newQueue }) => {
    const queueId = await newQueue();
    const client = s.wsClient();
    const events = subscribe(client, EVENTS, { q: queueId });
    expect(await events.quiet(300)).toBe(true);
    const c = `full-${uniq()}`;
    const body = { order: 7, items: [{ sku: "a", qty: 2 }], note: null };
    const published = (await s.gql(PUBLISH, { i: { queueId, body, correlationId: c, labels: { tier: "gold" }, priorityTier: "HIGH" } })).data.publish.message;
    const claimed = (await s.gql(CLAIM, { i: { queueId, consumerId: "worker-1" } })).data.claim[0];
    await s.gql(COMPLETE, { i: { messageId: claimed.id, claimToken: claimed.claimToken, response: { total: 14 } } });
    const [p, cl, done] = [await events.next(), await events.next(), await events.next()].map((e) => e.messageEvents);
    const same = { id: published.id, body, labels: { tier: "gold" }, correlationId: c, priorityTier: "HIGH", queue: { id: queueId } };
    expect(p).toMatchObject({ type: "scaiqueue.message.published", state: "PENDING", response: null, message: { ...same, state: "PENDING", attempts: 0, claimedBy: null, claimExpiresAt: null, completedAt: null, response: null } });
    expect(cl).toMatchObject({ type: "scaiqueue.message.claimed", state: "CLAIMED", message: { ...same, state: "CLAIMED", attempts: 1, claimedBy: "worker-1", completedAt: null } });
    expect(Date.parse(cl.message.claimExpiresAt)).toBeGreaterThan(Date.parse(cl.message.createdAt));
    expect(done).toMatchObject({ type: "scaiqueue.message.completed", state: "COMPLETED", response: { total: 14 }, message: { ...same, state: "COMPLETED", attempts: 1, claimExpiresAt: null, response: { total: 14 } } });
    expect(Date.parse(done.message.completedAt)).toBeGreaterThanOrEqual(Date.parse(done.message.createdAt));
    expect(p.message.createdAt).toBe(done.message.createdAt);
    events.close();
    await client.dispose();
  });

  test("needs a filter, and refuses another tenant's queue as not found", async ({ server: s, newQueue }) => {
    const queueId = await newQueue();
    const client = s.wsClient();
    const none = subscribe(client, `subscription { messageEvents { type } }`);
    await expect(none.next()).rejects.toMatchObject({ code: "VALIDATION_ERROR" });
    none.close();
    const stranger = s.wsClient(await s.newKey(`other-${uniq()}`));
    const foreign = subscribe(stranger, EVENTS, { q: queueId });
    await expect(foreign.next()).rejects.toMatchObject({ code: "SCAIQUEUE_QUEUE_NOT_FOUND" });
    foreign.close();
    await client.dispose();
    await stranger.dispose();
  });
});

describe("queueDepth subscription", () => {
  test("sends the depth at once, then each change, coalesced", async ({ server: s, newQueue }) => {
    const queueId = await newQueue();
    const client = s.wsClient();
    const depth = subscribe(client, DEPTH_CHANGES, { q: queueId });
    expect((await depth.next()).queueDepth).toEqual({ pending: 0, claimed: 0, delayed: 0 });
    await s.gql(PUBLISH, { i: { queueId, body: {} } });
    expect((await depth.next()).queueDepth).toEqual({ pending: 1, claimed: 0, delayed: 0 });
    const m = await publishAndClaim(s, queueId, `d-${uniq()}`); // a publish and a claim in quick succession
    const next = (await depth.next()).queueDepth;
    expect([{ pending: 2, claimed: 0, delayed: 0 }, { pending: 1, claimed: 1, delayed: 0 }]).toContainEqual(next);
    if (next.claimed === 0) expect((await depth.next()).queueDepth).toEqual({ pending: 1, claimed: 1, delayed: 0 });
    await s.gql(COMPLETE, { i: { messageId: m.id, claimToken: m.claimToken } });
    expect((await depth.next()).queueDepth).toEqual({ pending: 1, claimed: 0, delayed: 0 });
    depth.close();
    await client.dispose();
  });
});
