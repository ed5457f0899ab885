import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { uniq, type TestServer } from "../support/server.js";
import { subscribe } from "../support/subscription.js";
import { COMPLETED_WITH_MESSAGE as COMPLETED } from "../support/ops.js";

let s: TestServer;

/** The five quickstart steps, as a newcomer types them in GraphiQL. */
async function quickstart(correlationId: string) {
  const scope = await s.gql(`mutation { createScope(input: { slug: "quickstart-${uniq()}", displayName: "Quickstart" }) { id queues { slug system } } }`);
  expect(scope.errors).toBeUndefined();
  expect(scope.data.createScope.queues.map((q: any) => q.slug).sort()).toEqual(
    ["_audit", "_corrections", "_dead_letter", "_events", "_integrity"],
  );
  const queue = await s.gql(
    `mutation($s: ID!) { createQueue(input: { scopeId: $s, slug: "tasks", displayName: "Tasks", ordering: FIFO, consumerMode: COMPETING }) { id depth { pending } } }`,
    { s: scope.data.createScope.id },
  );
  const queueId = queue.data.createQueue.id;
  const published = await s.gql(
    `mutation($q: ID!, $c: String!) { publish(input: { queueId: $q, messageType: "task.new", body: { task: "summarize", doc: 42 }, correlationId: $c }) { duplicate message { id state } } }`,
    { q: queueId, c: correlationId },
  );
  expect(published.data.publish).toMatchObject({ duplicate: false, message: { state: "PENDING" } });
  const messageId = published.data.publish.message.id;

  const claimed = await s.gql(
    `mutation($q: ID!) { claim(input: { queueId: $q, batchSize: 1, consumerId: "worker-1" }) { id state attempts claimToken claimedBy } }`,
    { q: queueId },
  );
  expect(claimed.data.claim).toEqual([
    { id: messageId, state: "CLAIMED", attempts: 1, claimToken: expect.any(String), claimedBy: "worker-1" },
  ]);
  const done = await s.gql(
    `mutation($m: ID!, $t: String!) { complete(input: { messageId: $m, claimToken: $t, response: { summary: "ok" } }) { id state response } }`,
    { m: messageId, t: claimed.data.claim[0].claimToken },
  );
  expect(done.data.complete).toEqual({ id: messageId, state: "COMPLETED", response: { summary: "ok" } });
  const depth = await s.gql(`query($q: ID!) { queue(id: $q) { depth { pending claimed delayed } } }`, { q: queueId });
  expect(depth.data.queue.depth).toEqual({ pending: 0, claimed: 0, delayed: 0 });
  return messageId;
}

/**
 * The quickstart suite against a server `start` gives: the plain Redis in
 * quickstart.api.test.ts, a Redis Cluster in cluster.api.test.ts.
 */
export function quickstartSuite(start: () => Promise<TestServer>): void {
  beforeAll(async () => {
    s = await start();
  });
  afterAll(() => s?.stop());

  describe("quickstart", () => {
    it("wakes a waiter subscribed before the publish", async () => {
      const correlationId = `order-${uniq()}`;
      const client = s.wsClient();
      const waiter = subscribe(client, COMPLETED, { c: correlationId });
      // the subscription is live once the server has confirmed it; give the handshake a moment
      expect(await waiter.quiet(300)).toBe(true);
      const messageId = await quickstart(correlationId);
      const event = (await waiter.next()).messageCompleted;
      expect(event).toMatchObject({
        type: "scaiqueue.message.completed",
        messageId,
        correlationId,
        state: "COMPLETED",
        response: { summary: "ok" },
        message: { id: messageId, state: "COMPLETED", response: { summary: "ok" } },
      });
      expect(await waiter.quiet(300)).toBe(true); // exactly once
      waiter.close();
      await client.dispose();
    });

    it("wakes a waiter that subscribes after the completion, at once", async () => {
      const correlationId = `order-${uniq()}`;
      const messageId = await quickstart(correlationId);
      const client = s.wsClient();
      const waiter = subscribe(client, COMPLETED, { c: correlationId });
      const event = (await waiter.next(2000)).messageCompleted;
      expect(event).toMatchObject({ messageId, correlationId, type: "scaiqueue.message.completed" });
      expect(await waiter.quiet(300)).toBe(true);
      waiter.close();
      await client.dispose();
    });
  });
}
