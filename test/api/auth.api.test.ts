import { describe, expect, test } from "../support/test.js";
import { runCli } from "../support/process.js";
import { ok, code, uniq, type TestServer } from "../support/server.js";
import { subscribe, SubscriptionError } from "../support/subscription.js";
import { createQueue, createScope } from "../support/api.js";
import {
  CHANGE_STATE, CLAIM, COMPLETE, COMPLETE_BATCH, COMPLETED, CREATE_QUEUE, CREATE_SCOPE, DEPTH, EVENTS, MESSAGE, MESSAGES, PUBLISH, PUBLISH_BATCH, QUEUE, SCOPE, SCOPES, SNAPSHOT,
} from "../support/ops.js";
import { createDb } from "../../src/db/client.js";
import { PERMISSIONS, type Permission } from "../../src/domain/actor.js";

/** Everything of tenant "default" a write could touch (all its messages), read with the admin key. */
const snapshot = (s: TestServer): Promise<unknown> => ok(s.gql(SNAPSHOT, {}));

type World = {
  scopeId: string;
  scopeSlug: string;
  queueId: string;
  pausedScopeId: string;
  pausedQueueId: string;
  correlationId: string;
  pendingId: string;
  claimed: { id: string; claimToken: string }[];
};

/** Made with the admin key: a scope and queue holding one pending and two claimed messages, plus paused ones to resume. */
async function world(s: TestServer): Promise<World> {
  const scopeSlug = `auth-${uniq()}`;
  const scopeId = (await ok(s.gql(CREATE_SCOPE, { i: { slug: scopeSlug, displayName: "Auth" } }))).createScope.id;
  const queueId = await createQueue(s, scopeId);
  const pausedScopeId = await createScope(s);
  await ok(s.gql(CHANGE_STATE("pause", "Scope"), { id: pausedScopeId }));
  const pausedQueueId = await createQueue(s, scopeId);
  await ok(s.gql(CHANGE_STATE("pause", "Queue"), { id: pausedQueueId }));
  const correlationId = `corr-${uniq()}`;
  const inputs = [1, 2, 3].map((n) => ({ queueId, body: { n }, correlationId }));
  const published = (await ok(s.gql(PUBLISH_BATCH, { is: inputs }))).publishBatch;
  const claimed = (await ok(s.gql(CLAIM, { i: { queueId, batchSize: 2 } }))).claim;
  return { scopeId, scopeSlug, queueId, pausedScopeId, pausedQueueId, correlationId, pendingId: published[2].message.id, claimed };
}

type Op = { name: string; query: string; vars: (w: World) => Record<string, unknown> };

/** Every operation served today, by the one permission it needs (contract §2). */
const OPS: Record<Permission, Op[]> = {
  "scaiqueue:view": [
    { name: "scopes", query: SCOPES, vars: () => ({}) },
    { name: "scope", query: SCOPE, vars: (w) => ({ id: w.scopeId }) },
    { name: "queue", query: QUEUE, vars: (w) => ({ id: w.queueId }) },
    { name: "message", query: MESSAGE, vars: (w) => ({ id: w.pendingId }) },
    { name: "messages", query: MESSAGES, vars: (w) => ({ q: w.queueId }) },
    { name: "queueDepth", query: DEPTH, vars: (w) => ({ q: w.queueId }) },
  ],
  "scaiqueue:publish": [
    { name: "publish", query: PUBLISH, vars: (w) => ({ i: { queueId: w.queueId, body: { n: 4 } } }) },
    { name: "publishBatch", query: PUBLISH_BATCH, vars: (w) => ({ is: [{ queueId: w.queueId, body: { n: 5 } }] }) },
  ],
  "scaiqueue:consume": [
    { name: "claim", query: CLAIM, vars: (w) => ({ i: { queueId: w.queueId } }) },
    { name: "complete", query: COMPLETE, vars: (w) => ({ i: { messageId: w.claimed[0]!.id, claimToken: w.claimed[0]!.claimToken } }) },
    {
      name: "completeBatch",
      query: COMPLETE_BATCH,
      vars: (w) => ({ is: [{ messageId: w.claimed[1]!.id, claimToken: w.claimed[1]!.claimToken }] }),
    },
  ],
  "scaiqueue:manage": [
    { name: "createScope", query: CREATE_SCOPE, vars: () => ({ i: { slug: `made-${uniq()}`, displayName: "Made" } }) },
    { name: "pauseScope", query: CHANGE_STATE("pause", "Scope"), vars: (w) => ({ id: w.scopeId }) },
    { name: "resumeScope", query: CHANGE_STATE("resume", "Scope"), vars: (w) => ({ id: w.pausedScopeId }) },
    { name: "createQueue", query: CREATE_QUEUE, vars: (w) => ({ i: { scopeId: w.scopeId, slug: `q-${uniq()}`, displayName: "Q" } }) },
    { name: "pauseQueue", query: CHANGE_STATE("pause", "Queue"), vars: (w) => ({ id: w.queueId }) },
    { name: "resumeQueue", query: CHANGE_STATE("resume", "Queue"), vars: (w) => ({ id: w.pausedQueueId }) },
  ],
};

/** The error code each subscription ends with, or "event" when one arrives. */
async function subscriptionOutcomes(s: TestServer, key: string, w: World, trigger?: () => Promise<unknown>): Promise<string[]> {
  const client = s.wsClient(key);
  const subs = [subscribe(client, COMPLETED, { c: w.correlationId }), subscribe(client, EVENTS, { q: w.queueId })];
  try {
    if (trigger) {
      expect(await subs[0]!.quiet(300)).toBe(true); // let both subscriptions go live first
      await trigger();
    }
    return await Promise.all(
      subs.map((sub) => sub.next().then(() => "event", (e) => (e instanceof SubscriptionError ? String(e.code) : String(e)))),
    );
  } finally {
    subs.forEach((sub) => sub.close());
    await client.dispose();
  }
}

describe("credentials", () => {
  test.for([
    ["no Authorization header", null, "AUTH_TOKEN_MISSING"],
    ["a wrong secret", `sqk_${uniq(20)}`, "AUTH_TOKEN_INVALID"],
  ] as const)("%s is refused over HTTP: query and mutation, nothing written", async ([, key, expected], { server: s }) => {
    const w = await world(s);
    const before = await snapshot(s);
    const query = await s.gql(SCOPES, {}, key);
    expect(code(query)).toBe(expected);
    expect(query.data ?? null).toBeNull();
    for (const op of [OPS["scaiqueue:manage"][0]!, OPS["scaiqueue:publish"][0]!]) {
      expect(code(await s.gql(op.query, op.vars(w), key)), op.name).toBe(expected);
    }
    expect(await snapshot(s)).toEqual(before);
  });

  test.for([
    ["no connectionParams", null, "AUTH_TOKEN_MISSING"],
    ["a wrong secret", `sqk_${uniq(20)}`, "AUTH_TOKEN_INVALID"],
  ] as const)("%s: the graphql-ws socket is closed with 4403 and the code as reason", async ([, key, expected], { server: s }) => {
    const client = s.wsClient(key);
    const closed = new Promise<{ code: number; reason: string }>((resolve) => client.on("closed", (e) => resolve(e as never)));
    const waiter = subscribe(client, COMPLETED, { c: `corr-${uniq()}` });
    const event = await closed;
    expect({ code: event.code, reason: String(event.reason) }).toEqual({ code: 4403, reason: expected });
    await expect(waiter.next()).rejects.toMatchObject({ code: 4403 }); // the waiter hears the close, no event
    waiter.close();
    await client.dispose();
  });
});

describe.each(PERMISSIONS)("permission %s", (perm) => {
  test("a key holding the other three is refused every operation that needs it, and nothing is written", async ({ server: s }) => {
    const w = await world(s);
    const key = await s.newKey("default", PERMISSIONS.filter((p) => p !== perm));
    const before = await snapshot(s);
    for (const op of OPS[perm]) {
      const r = await s.gql(op.query, op.vars(w), key);
      expect(code(r), op.name).toBe("AUTHZ_PERMISSION_DENIED");
      expect(r.data?.[op.name] ?? null, op.name).toBeNull();
    }
    if (perm === "scaiqueue:view") {
      expect(await subscriptionOutcomes(s, key, w)).toEqual(["AUTHZ_PERMISSION_DENIED", "AUTHZ_PERMISSION_DENIED"]);
    }
    expect(await snapshot(s)).toEqual(before);
  });

  test("a key holding only it can do those operations", async ({ server: s }) => {
    const w = await world(s);
    const key = await s.newKey("default", [perm]);
    for (const op of OPS[perm]) {
      const r = await s.gql(op.query, op.vars(w), key);
      expect(r.errors, `${op.name}: ${JSON.stringify(r.errors)}`).toBeUndefined();
      expect(r.data[op.name], op.name).not.toBeNull();
    }
    if (perm === "scaiqueue:view") {
      // the admin completes a claimed message; both of the view key's subscriptions hear it
      const { id, claimToken } = w.claimed[0]!;
      const outcomes = await subscriptionOutcomes(s, key, w, () => ok(s.gql(COMPLETE, { i: { messageId: id, claimToken } })));
      expect(outcomes).toEqual(["event", "event"]);
    }
  });
});

describe("tenant isolation", () => {
  let w: World;
  let other: string;
  test.beforeAll(async ({ server: s }) => {
    w = await world(s);
    other = await s.newKey(`other-${uniq()}`);
  });

  test("by-id and by-slug reads of our objects answer null (queueDepth: not found)", async ({ server: s }) => {
    const r = await s.gql(
      `query($s: ID!, $slug: String!, $q: ID!, $m: ID!) {
        byId: scope(id: $s) { id } bySlug: scope(slug: $slug) { id } queue(id: $q) { id } message(id: $m) { id }
      }`,
      { s: w.scopeId, slug: w.scopeSlug, q: w.queueId, m: w.pendingId },
      other,
    );
    expect(r.errors).toBeUndefined();
    expect(r.data).toEqual({ byId: null, bySlug: null, queue: null, message: null });
    expect(code(await s.gql(DEPTH, { q: w.queueId }, other))).toBe("SCAIQUEUE_QUEUE_NOT_FOUND");
  });

  test("mutations on our ids answer the NOT_FOUND codes and write nothing", async ({ server: s }) => {
    const { id, claimToken } = w.claimed[0]!;
    const cases: [string, string, Record<string, unknown>, string][] = [
      ["createQueue", CREATE_QUEUE, { i: { scopeId: w.scopeId, slug: `q-${uniq()}`, displayName: "Q" } }, "SCAIQUEUE_SCOPE_NOT_FOUND"],
      ["pauseScope", CHANGE_STATE("pause", "Scope"), { id: w.scopeId }, "SCAIQUEUE_SCOPE_NOT_FOUND"],
      ["resumeScope", CHANGE_STATE("resume", "Scope"), { id: w.pausedScopeId }, "SCAIQUEUE_SCOPE_NOT_FOUND"],
      ["publish", PUBLISH, { i: { queueId: w.queueId, body: { x: 1 } } }, "SCAIQUEUE_QUEUE_NOT_FOUND"],
      ["publishBatch", PUBLISH_BATCH, { is: [{ queueId: w.queueId, body: { x: 1 } }] }, "SCAIQUEUE_QUEUE_NOT_FOUND"],
      ["claim", CLAIM, { i: { queueId: w.queueId } }, "SCAIQUEUE_QUEUE_NOT_FOUND"],
      ["pauseQueue", CHANGE_STATE("pause", "Queue"), { id: w.queueId }, "SCAIQUEUE_QUEUE_NOT_FOUND"],
      ["resumeQueue", CHANGE_STATE("resume", "Queue"), { id: w.pausedQueueId }, "SCAIQUEUE_QUEUE_NOT_FOUND"],
      ["complete", COMPLETE, { i: { messageId: id, claimToken } }, "SCAIQUEUE_MESSAGE_NOT_FOUND"],
      ["completeBatch", COMPLETE_BATCH, { is: [{ messageId: id, claimToken }] }, "SCAIQUEUE_MESSAGE_NOT_FOUND"],
    ];
    const before = await snapshot(s);
    for (const [name, query, vars, expected] of cases) {
      expect(code(await s.gql(query, vars, other)), name).toBe(expected);
    }
    expect(await snapshot(s)).toEqual(before);
  });

  test("the other tenant's scopes and messages lists leave ours out, even with the same slug", async ({ server: s }) => {
    // slugs are unique per tenant, so the other tenant may take ours
    const theirScope = (await ok(s.gql(CREATE_SCOPE, { i: { slug: w.scopeSlug, displayName: "Theirs" } }, other))).createScope.id;
    const theirQueue = await createQueue(s, theirScope, {}, other);
    const theirMessage = (await ok(s.gql(PUBLISH, { i: { queueId: theirQueue, body: 1, correlationId: w.correlationId } }, other)))
      .publish.message.id;
    const seen = await ok(
      s.gql(
        `query($slug: String!, $q: ID!, $s: ID!, $c: String!) {
          scopes { id } scope(slug: $slug) { id }
          all: messages { edges { node { id } } }
          byCorrelation: messages(correlationId: $c) { edges { node { id } } }
          ourQueue: messages(queueId: $q) { edges { node { id } } }
          ourScope: messages(scopeId: $s) { edges { node { id } } }
        }`,
        { slug: w.scopeSlug, q: w.queueId, s: w.scopeId, c: w.correlationId },
        other,
      ),
    );
    const ids = (c: any) => c.edges.map((e: any) => e.node.id);
    expect(seen.scopes).toEqual([{ id: theirScope }]);
    expect(seen.scope).toEqual({ id: theirScope });
    expect(ids(seen.all)).toEqual([theirMessage]);
    expect(ids(seen.byCorrelation)).toEqual([theirMessage]);
    expect(ids(seen.ourQueue)).toEqual([]);
    expect(ids(seen.ourScope)).toEqual([]);
  });

  test("the other tenant's waiter on our correlation id hears nothing when we complete", async ({ server: s }) => {
    const fresh = await world(s);
    const theirs = s.wsClient(other);
    const ours = s.wsClient();
    const theirWaiter = subscribe(theirs, COMPLETED, { c: fresh.correlationId });
    const ourWaiter = subscribe(ours, COMPLETED, { c: fresh.correlationId });
    const theirEvents = subscribe(theirs, EVENTS, { q: fresh.queueId });
    try {
      await expect(theirEvents.next()).rejects.toMatchObject({ code: "SCAIQUEUE_QUEUE_NOT_FOUND" });
      expect(await theirWaiter.quiet(300)).toBe(true); // both waiters are live before we complete
      const { id, claimToken } = fresh.claimed[0]!;
      await ok(s.gql(COMPLETE, { i: { messageId: id, claimToken } }));
      expect((await ourWaiter.next()).messageCompleted).toMatchObject({ messageId: id, correlationId: fresh.correlationId });
      expect(await theirWaiter.quiet(300)).toBe(true);
    } finally {
      [theirWaiter, ourWaiter, theirEvents].forEach((sub) => sub.close());
      await theirs.dispose();
      await ours.dispose();
    }
  });
});

describe("apikey CLI", () => {
  async function tenantCounts(s: TestServer, slug: string): Promise<{ tenants: number; keys: number }> {
    const db = createDb({ database: { url: s.config.database.url, poolSize: 1 } });
    try {
      return { tenants: await db.tenant.count({ where: { slug } }), keys: await db.apiKey.count() };
    } finally {
      await db.$disconnect();
    }
  }

  test("creates a key whose secret (last stdout line) may view but not manage", async ({ server: s }) => {
    const tenant = `cli-${uniq()}`;
    const run = await runCli(s, "apikey", "create", "--tenant", tenant, "--permissions", "scaiqueue:view");
    expect(run.exit, run.stderr).toBe(0);
    const secret = run.stdout.trim().split("\n").at(-1)!;
    expect(secret).toMatch(/^\S{16,}$/);
    expect(await ok(s.gql(SCOPES, {}, secret))).toEqual({ scopes: [] }); // a new tenant has none
    const refused = await s.gql(CREATE_SCOPE, { i: { slug: `cli-${uniq()}`, displayName: "No" } }, secret);
    expect(code(refused)).toBe("AUTHZ_PERMISSION_DENIED");
  });

  test("refuses unknown permissions with a non-zero exit and creates nothing", async ({ server: s }) => {
    const tenant = `cli-bad-${uniq()}`;
    const before = await tenantCounts(s, tenant);
    const run = await runCli(s, "apikey", "create", "--tenant", tenant, "--permissions", "scaiqueue:view,scaiqueue:admin");
    expect(run.exit).not.toBe(0);
    expect(run.stdout.trim()).toBe("");
    expect(await tenantCounts(s, tenant)).toEqual({ ...before, tenants: 0 });
  });
});
