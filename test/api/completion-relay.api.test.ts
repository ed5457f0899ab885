import { describe, expect, test } from "../support/test.js";
import { uniq, type TestServer } from "../support/server.js";
import { subscribe } from "../support/subscription.js";
import { pick } from "../support/api.js";
import { CLAIM, COMPLETE, COMPLETE_BATCH, COMPLETED, COMPLETED_WITH_MESSAGE, CREATE_RULE, MESSAGE, PUBLISH, PUBLISH_BATCH } from "../support/ops.js";

/** A waiter on `correlationId`, live and quiet, then a message of that correlation id published and claimed. */
async function claimedWhileAwaited(s: TestServer, queueId: string, correlationId: string) {
  const client = s.wsClient();
  const waiter = subscribe(client, COMPLETED, { c: correlationId });
  expect(await waiter.quiet(300)).toBe(true);
  await s.gql(PUBLISH, { i: { queueId, body: {}, correlationId } });
  const m = (await s.gql(CLAIM, { i: { queueId } })).data.claim[0] as { id: string; claimToken: string };
  return { client, waiter, m };
}

describe("completion relay", () => {
  test("delivers a committed completion whose event was lost with its process, exactly once", async ({ server: s, newQueue }) => {
    const { client, waiter, m } = await claimedWhileAwaited(s, await newQueue(), `lost-${uniq()}`);

    // The process dies right after the commit: nothing reaches Redis after it.
    const bus = s.app.deps.bus;
    const publish = bus.publish;
    bus.publish = async () => {};
    try {
      expect((await s.gql(COMPLETE, { i: { messageId: m.id, claimToken: m.claimToken } })).data.complete.id).toBe(m.id);
    } finally {
      bus.publish = publish;
    }
    expect(await waiter.quiet(300)).toBe(true);

    // Too fresh to relay: it could still be on its way from a live process.
    expect(await s.sweep("completion_relay", Date.now())).toBe(0);
    expect(await s.sweep("completion_relay", Date.now() + 3000)).toBe(1);
    expect(pick((await waiter.next()).messageCompleted, "eventId", "messageId")).toEqual({ eventId: `${m.id}:completed`, messageId: m.id });
    expect(await s.sweep("completion_relay", Date.now() + 4000)).toBe(0);
    expect(await waiter.quiet(300)).toBe(true);
    waiter.close();
    await client.dispose();
  });

  test("relays lost completions whose messages a rule then archived, and more than a sweep's page of them", async ({ server: s, scope: scopeId, newQueue }) => {
    const queueId = await newQueue();
    const archived = await newQueue();
    const rule = await s.gql(CREATE_RULE, {
      i: { scopeId, name: "archive on completion", trigger: "MESSAGE_COMPLETED", sourceQueueId: archived, condition: { field: "messageType", op: "exists" }, action: { type: "ARCHIVE" } },
    });
    expect(rule.errors).toBeUndefined();
    const c = `lost-many-${uniq()}`;
    const client = s.wsClient();
    const waiter = subscribe(client, COMPLETED_WITH_MESSAGE, { c });
    expect(await waiter.quiet(300)).toBe(true);
    // 2,001 completions (one over the relay's page) lost with their process: 2,000 in a plain queue, one archived by the rule
    await s.gql(PUBLISH, { i: { queueId: archived, body: {}, correlationId: c, messageType: "archived" } });
    const first = (await s.gql(CLAIM, { i: { queueId: archived } })).data.claim[0];
    for (let i = 0; i < 20; i++) {
      await s.gql(PUBLISH_BATCH, { is: Array.from({ length: 100 }, () => ({ queueId, body: {}, correlationId: c })) });
    }
    // the tests before swept with clocks ahead of real time: the relay starts from here
    await s.app.deps.scripts.writeMark("completion_relay", Date.now() - 1);
    const bus = s.app.deps.bus;
    const publish = bus.publish;
    bus.publish = async () => {};
    const ids = [first.id];
    try {
      await s.gql(COMPLETE, { i: { messageId: first.id, claimToken: first.claimToken, response: { n: 0 } } });
      for (let i = 0; i < 20; i++) {
        const got = (await s.gql(CLAIM, { i: { queueId, batchSize: 100 } })).data.claim;
        await s.gql(COMPLETE_BATCH, { is: got.map((m: { id: string; claimToken: string }) => ({ messageId: m.id, claimToken: m.claimToken, response: { n: 1 } })) });
        ids.push(...got.map((m: { id: string }) => m.id));
      }
    } finally {
      bus.publish = publish;
    }
    expect(ids).toHaveLength(2001);
    expect((await s.gql(MESSAGE, { id: first.id })).data.message.state).toBe("ARCHIVED");

    let relayed = 0;
    for (let sweep = 0; sweep < 3; sweep++) relayed += await s.sweep("completion_relay", Date.now() + 3000);
    expect(relayed).toBe(2001);
    const got = new Map<string, { response: unknown }>();
    for (let i = 0; i < 2001; i++) {
      const e = (await waiter.next()).messageCompleted;
      got.set(e.messageId, e);
    }
    expect([...got.keys()].sort()).toEqual([...ids].sort());
    expect(got.get(first.id)!.response).toEqual({ n: 0 });
    expect(got.get(ids[1]!)!.response).toEqual({ n: 1 });
    expect(await waiter.quiet(300)).toBe(true);
    waiter.close();
    await client.dispose();
  });

  test("does not resend completions that were published", async ({ server: s, newQueue }) => {
    const { client, waiter, m } = await claimedWhileAwaited(s, await newQueue(), `ok-${uniq()}`);
    await s.gql(COMPLETE, { i: { messageId: m.id, claimToken: m.claimToken } });
    expect((await waiter.next()).messageCompleted.messageId).toBe(m.id);
    // noted as published (earlier tests' sweeps may have moved the relay's mark past it)
    expect(await s.app.deps.bus.alreadyPublished([`${m.id}:completed`])).toEqual([true]);
    expect(await s.sweep("completion_relay", Date.now() + 3000)).toBe(0);
    expect(await waiter.quiet(300)).toBe(true);
    waiter.close();
    await client.dispose();
  });
});
