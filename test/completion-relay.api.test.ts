import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, uniq, type TestServer } from "./support/server.js";
import { subscribe } from "./support/subscription.js";
import { CLAIM, COMPLETE, PUBLISH, createQueue, createScope } from "./support/fixtures.js";

let s: TestServer;
let queueId: string;
beforeAll(async () => {
  s = await startTestServer();
  queueId = await createQueue(s, await createScope(s));
});
afterAll(() => s?.stop());

const WAIT = `subscription($c: String!) { messageCompleted(correlationId: $c) { eventId messageId } }`;

async function claimed(correlationId: string) {
  await s.gql(PUBLISH, { i: { queueId, body: {}, correlationId } });
  return (await s.gql(CLAIM, { i: { queueId } })).data.claim[0] as { id: string; claimToken: string };
}

describe("completion relay", () => {
  it("delivers a committed completion whose event was lost with its process, exactly once", async () => {
    const c = `lost-${uniq()}`;
    const client = s.wsClient();
    const waiter = subscribe(client, WAIT, { c });
    expect(await waiter.quiet(300)).toBe(true);
    const m = await claimed(c);

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
    expect((await waiter.next()).messageCompleted).toEqual({ eventId: `${m.id}:completed`, messageId: m.id });
    expect(await s.sweep("completion_relay", Date.now() + 4000)).toBe(0);
    expect(await waiter.quiet(300)).toBe(true);
    waiter.close();
    await client.dispose();
  });

  it("does not resend completions that were published", async () => {
    const c = `ok-${uniq()}`;
    const client = s.wsClient();
    const waiter = subscribe(client, WAIT, { c });
    expect(await waiter.quiet(300)).toBe(true);
    const m = await claimed(c);
    await s.gql(COMPLETE, { i: { messageId: m.id, claimToken: m.claimToken } });
    expect((await waiter.next()).messageCompleted.messageId).toBe(m.id);
    expect(await s.sweep("completion_relay", Date.now() + 3000)).toBe(0);
    expect(await waiter.quiet(300)).toBe(true);
    waiter.close();
    await client.dispose();
  });
});
