import { describe, expect, test } from "../support/test.js";
import { uniq, type TestServer } from "../support/server.js";
import { subscribe } from "../support/subscription.js";
import { createQueue, createScope, messagesOf, pick, systemQueue } from "../support/api.js";
import { AUDIT_LOG, CLAIM, COMPLETE, COMPLETED, CREATE_API_KEY, CREATE_RULE as RULE, CREATE_SCOPE, PUBLISH, TRACE } from "../support/ops.js";

/*
 * The ScaiQueue pipeline tutorial (reference §10), the circuit breaker, trace and the
 * audit trail, end to end over HTTP and graphql-ws.
 */

/** A correlation chain's messages in publish order, with queueId flattened. */
async function chainOf(s: TestServer, correlationId: string): Promise<any[]> {
  return (await messagesOf(s, { c: correlationId, first: 100 })).map(({ queue, ...m }) => ({ ...m, queueId: queue.id }));
}

const nodesOf = (s: TestServer, queueId: string) => messagesOf(s, { q: queueId, first: 100 });

describe("the two-stage order pipeline", () => {
  let scopeId: string;
  let intake: string;
  let priority: string;

  test.beforeAll(async ({ server: s }) => {
    const r = await s.gql(CREATE_SCOPE, { i: { slug: `orders-${uniq()}`, displayName: "Orders" } });
    scopeId = r.data.createScope.id;
    intake = await createQueue(s, scopeId, { slug: "intake", ordering: "FIFO" });
    priority = await createQueue(s, scopeId, { slug: "priority-orders", ordering: "PRIORITY" });
    const rule = await s.gql(RULE, {
      i: {
        scopeId,
        name: "premium to priority",
        sourceQueueId: intake,
        condition: { field: "labels.customer_tier", op: "eq", value: "premium" },
        action: { type: "ROUTE", targetQueueId: priority, setPriorityTier: "HIGH" },
      },
    });
    expect(rule.errors).toBeUndefined();
    expect(rule.data.createRoutingRule).toMatchObject({ name: "premium to priority", position: 0, trigger: "MESSAGE_PUBLISHED", sourceQueue: { id: intake } });
  });

  test("routes premium orders into the priority queue as HIGH, leaves others, and wakes the waiter with the final completion", async ({ server: s }) => {
    const premium = `order-${uniq()}`;
    const standard = `order-${uniq()}`;
    const ws = s.wsClient();
    const waiter = subscribe(ws, COMPLETED, { c: premium });
    try {
      // the subscription is live once the server has answered on it; publish after a short settle
      await new Promise((r) => setTimeout(r, 200));
      const p = await s.gql(PUBLISH, { i: { queueId: intake, body: { sku: "A-1", qty: 2 }, labels: { customer_tier: "premium" }, correlationId: premium } });
      expect(p.errors).toBeUndefined();
      expect(p.data.publish.message.state).toBe("ARCHIVED");
      const q = await s.gql(PUBLISH, { i: { queueId: intake, body: { sku: "B-2", qty: 1 }, labels: { customer_tier: "standard" }, correlationId: standard } });
      expect(q.data.publish.message.state).toBe("PENDING");

      const chain = await chainOf(s, premium);
      expect(chain).toHaveLength(2);
      const [original, child] = chain;
      expect(original).toMatchObject({ queueId: intake, state: "ARCHIVED" });
      expect(child).toMatchObject({ queueId: priority, state: "PENDING", priorityTier: "HIGH", correlationId: premium, causationId: original.id, parentId: original.id });
      expect(child.labels).toEqual({ customer_tier: "premium" });

      // nothing premium is claimable from intake; the standard order is
      const fromIntake = await s.gql(CLAIM, { i: { queueId: intake, batchSize: 10 } });
      expect(fromIntake.data.claim.map((m: { body: any }) => m.body.sku)).toEqual(["B-2"]);
      const [claimed] = (await s.gql(CLAIM, { i: { queueId: priority } })).data.claim;
      expect(claimed).toMatchObject({ id: child.id, priorityTier: "HIGH" });
      const done = await s.gql(COMPLETE, { i: { messageId: child.id, claimToken: claimed.claimToken, response: { shipped: true } } });
      expect(done.data.complete.state).toBe("COMPLETED");

      expect(pick((await waiter.next()).messageCompleted, "messageId", "queueId", "response")).toEqual({ messageId: child.id, queueId: priority, response: { shipped: true } });

      const trace = (await s.gql(TRACE, { s: scopeId, c: premium })).data.trace;
      expect(trace.map((e: any) => [e.type, e.messageId])).toEqual([
        ["scaiqueue.message.published", original.id],
        ["scaiqueue.message.routed", original.id],
        ["scaiqueue.message.published", child.id],
        ["scaiqueue.message.claimed", child.id],
        ["scaiqueue.message.completed", child.id],
      ]);
      // the same events are consumable messages of _events
      const events = await nodesOf(s, await systemQueue(s, scopeId, "_events"));
      expect(events.filter((e) => e.correlationId === premium).map((e) => e.messageType)).toEqual(trace.map((e: any) => e.type));
    } finally {
      waiter.close();
      await ws.dispose();
    }
  });

  test("writes an audit entry for every mutation, with the API key as actor and the correlation id", async ({ server: s }) => {
    const corr = `order-${uniq()}`;
    const issued = await s.gql(CREATE_API_KEY, {
      i: { name: "worker", permissions: ["scaiqueue:publish", "scaiqueue:consume"] },
    });
    expect(issued.errors).toBeUndefined();
    const key: string = issued.data.createApiKey.secret;
    const keyId: string = issued.data.createApiKey.apiKey.id;
    const queue = await createQueue(s, scopeId);
    const p = await s.gql(PUBLISH, { i: { queueId: queue, body: { sku: "C-3" }, labels: { customer_tier: "standard" }, correlationId: corr } }, key);
    const id = p.data.publish.message.id;
    const [c] = (await s.gql(CLAIM, { i: { queueId: queue } }, key)).data.claim;
    expect(c.id).toBe(id);
    await s.gql(COMPLETE, { i: { messageId: id, claimToken: c.claimToken } }, key);

    const entries = (await s.gql(AUDIT_LOG, { s: scopeId, c: corr })).data.auditLog;
    expect(entries.map((e: any) => e.action).sort()).toEqual(["claim", "complete", "publish"]);
    // the actor is the key's id, never its secret
    for (const e of entries) expect(e).toMatchObject({ actor: keyId, scopeId, queueId: queue, messageId: id, correlationId: corr });
    expect(JSON.stringify(entries)).not.toContain(key);
    expect(JSON.stringify(entries)).not.toContain(c.claimToken);

    const rules = (await s.gql(AUDIT_LOG, { s: scopeId, a: "createRoutingRule" })).data.auditLog;
    expect(rules).toHaveLength(1);
    expect(rules[0].details).toMatchObject({ name: "premium to priority" });
  });
});

describe("the circuit breaker", () => {
  test("stops an A → B → A loop at 16 hops with an _integrity record; nothing is duplicated or lost", async ({ server: s }) => {
    const scopeId = await createScope(s);
    const a = await createQueue(s, scopeId);
    const b = await createQueue(s, scopeId);
    for (const [from, to] of [[a, b], [b, a]]) {
      const r = await s.gql(RULE, { i: { scopeId, name: `${from}>${to}`, sourceQueueId: from, condition: { all: [] }, action: { type: "ROUTE", targetQueueId: to } } });
      expect(r.errors).toBeUndefined();
    }
    const corr = `loop-${uniq()}`;
    const p = await s.gql(PUBLISH, { i: { queueId: a, body: { n: 1 }, correlationId: corr } });
    expect(p.errors).toBeUndefined();

    const chain = (await chainOf(s, corr)).filter((m) => m.queueId === a || m.queueId === b);
    // the original and 16 hops: 17 messages, the last one pending where the breaker stopped it
    expect(chain).toHaveLength(17);
    expect(chain.filter((m: any) => m.state === "PENDING")).toHaveLength(1);
    expect(chain.slice(0, 16).every((m: any) => m.state === "ARCHIVED")).toBe(true);
    const last = chain[16];
    expect(last).toMatchObject({ state: "PENDING", queueId: a });
    for (let i = 1; i < chain.length; i++) expect(chain[i].parentId).toBe(chain[i - 1].id);

    const integrity = (await nodesOf(s, await systemQueue(s, scopeId, "_integrity"))).filter((m) => m.correlationId === corr);
    expect(integrity).toHaveLength(1);
    expect(integrity[0]).toMatchObject({ messageType: "scaiqueue.integrity.routing_refused", causationId: last.id });
    expect(integrity[0].body).toMatchObject({ messageId: last.id, hops: 16 });
    expect(integrity[0].body.reason).toMatch(/circuit breaker/);

    // events of system-queue messages (the _integrity record) are never mirrored into _events
    const events = await nodesOf(s, await systemQueue(s, scopeId, "_events"));
    expect(events.length).toBeGreaterThan(0);
    expect(events.filter((e) => e.body.messageId === integrity[0].id)).toEqual([]);

    // exactly one claimable message for the chain, across both queues
    const claimed = [...(await s.gql(CLAIM, { i: { queueId: a, batchSize: 50 } })).data.claim, ...(await s.gql(CLAIM, { i: { queueId: b, batchSize: 50 } })).data.claim];
    expect(claimed.map((m: any) => m.id)).toEqual([last.id]);
  });

  test("routes a completed message onwards and counts those hops too", async ({ server: s }) => {
    const scopeId = await createScope(s);
    const a = await createQueue(s, scopeId);
    const b = await createQueue(s, scopeId);
    await s.gql(RULE, { i: { scopeId, name: "next stage", trigger: "MESSAGE_COMPLETED", sourceQueueId: a, condition: { all: [] }, action: { type: "COPY", targetQueueId: b, patch: { stage: 2 } } } });
    const corr = `stage-${uniq()}`;
    const id = (await s.gql(PUBLISH, { i: { queueId: a, body: { stage: 1 }, correlationId: corr } })).data.publish.message.id;
    const [c] = (await s.gql(CLAIM, { i: { queueId: a } })).data.claim;
    await s.gql(COMPLETE, { i: { messageId: id, claimToken: c.claimToken } });
    const [next] = (await s.gql(CLAIM, { i: { queueId: b } })).data.claim;
    expect(next.body).toEqual({ stage: 2 });
    const chain = await chainOf(s, corr);
    expect(chain.map((m: any) => [m.queueId, m.state])).toEqual([
      [a, "COMPLETED"],
      [b, "CLAIMED"],
    ]);
    expect(chain[1].causationId).toBe(id);
  });
});
