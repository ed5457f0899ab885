import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { code, ok, startTestServer, steppedClock, uniq, type GqlResult, type TestServer } from "./support/server.js";
import { subscribe, SubscriptionError } from "./support/subscription.js";
import { startPrivateRedis, type PrivateRedis } from "./support/redis-server.js";
import { PUBLISH, createQueue, createScope } from "./support/fixtures.js";
import { PERMISSIONS } from "../src/domain/actor.js";

/*
 * Limits are tiny here (one operation per 10 s) and the servers read a stepped clock,
 * so nothing refills while a test runs and `retryAfter` is exact; "waiting" is a step
 * of the clock. A and B share the database, the Redis prefix and the clock: two
 * processes as far as the limits go.
 */

const CREATE = `mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret apiKey { id } } }`;
const UPDATE = `mutation($id: ID!, $i: UpdateApiKeyInput!) { updateApiKey(id: $id, input: $i) { id } }`;
const WHO = `{ scopes { id } }`;
const COUNT = `query($q: ID!) { messages(queueId: $q, first: 500) { edges { node { id } } } }`;
const EVERY_10_S = 0.1;

const clock = steppedClock();
let a: TestServer;
let b: TestServer;
beforeAll(async () => {
  a = await startTestServer({}, { clock });
  b = await startTestServer({}, { clock, peerOf: a });
});
afterAll(async () => {
  await b?.stop();
  await a?.stop();
});

/** A key of tenant "default" holding every permission, with its own rate limit. */
async function limitedKey(burst: number, perSecond = EVERY_10_S): Promise<{ id: string; secret: string }> {
  const r = (await ok(a.gql(CREATE, { i: { permissions: [...PERMISSIONS], rateLimit: { perSecond, burst } } }))).createApiKey;
  return { id: r.apiKey.id, secret: r.secret };
}

const retryAfterOf = (r: GqlResult) => (r.errors?.[0]?.extensions as { retryAfter?: number } | undefined)?.retryAfter;
const goes = async (server: TestServer, secret: string) => (await server.gql(WHO, {}, secret)).errors === undefined;

/** POSTs WHO with `secret` and answers the status, the Retry-After header and the body. */
async function raw(server: TestServer, secret: string) {
  const res = await fetch(server.url, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${secret}` },
    body: JSON.stringify({ query: WHO }),
  });
  return { status: res.status, retryAfter: res.headers.get("retry-after"), body: (await res.json()) as GqlResult };
}

describe("per key", () => {
  it("a key past its limit gets RATE_LIMITED with retryAfter (HTTP 429 and Retry-After), runs nothing, and goes again after that long", async () => {
    const queueId = await createQueue(a, await createScope(a));
    const hammer = await limitedKey(3);
    const other = await limitedKey(3);
    for (let n = 1; n <= 3; n++) await ok(a.gql(PUBLISH, { i: { queueId, body: { n } } }, hammer.secret));
    const refused = await a.gql(PUBLISH, { i: { queueId, body: { n: 4 } } }, hammer.secret);
    expect(refused.status).toBe(429);
    expect(code(refused)).toBe("RATE_LIMITED");
    expect(retryAfterOf(refused)).toBe(10); // the next token is one interval away
    expect(refused.data ?? null).toBeNull();
    expect((await ok(a.gql(COUNT, { q: queueId }))).messages.edges).toHaveLength(3);

    const again = await raw(a, hammer.secret);
    expect({ status: again.status, retryAfter: again.retryAfter, code: code(again.body) }).toEqual({ status: 429, retryAfter: "10", code: "RATE_LIMITED" });
    expect(again.body.errors![0]!.extensions).toEqual({ code: "RATE_LIMITED", retryAfter: 10 }); // no http internals in the body

    // another key of the same tenant has its own allowance
    for (let n = 0; n < 3; n++) expect(await goes(a, other.secret)).toBe(true);

    clock.advance(10_000);
    expect(await goes(a, hammer.secret)).toBe(true);
    expect(await goes(a, hammer.secret)).toBe(false);
  });

  it("holds across two processes sharing Redis", async () => {
    const k = await limitedKey(4);
    expect([await goes(a, k.secret), await goes(b, k.secret), await goes(a, k.secret), await goes(b, k.secret)]).toEqual([true, true, true, true]);
    expect(code(await b.gql(WHO, {}, k.secret))).toBe("RATE_LIMITED");
    expect(code(await a.gql(WHO, {}, k.secret))).toBe("RATE_LIMITED");
  });

  it("counts each graphql-ws operation; a refused one gets RATE_LIMITED with retryAfter and the socket stays open", async () => {
    const k = await limitedKey(2);
    const client = b.wsClient(k.secret);
    const live = subscribe(client, `subscription($c: String!) { messageCompleted(correlationId: $c) { messageId } }`, { c: `c-${uniq()}` });
    expect(await live.quiet(300)).toBe(true); // live, and counted, before the next one
    const query = subscribe(client, WHO);
    expect(await query.next()).toEqual({ scopes: expect.any(Array) });
    const refused = subscribe(client, WHO);
    const err = await refused.next().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SubscriptionError);
    expect((err as SubscriptionError).errors[0]!.extensions).toEqual({ code: "RATE_LIMITED", retryAfter: 10 });
    expect(await live.quiet(300)).toBe(true); // the first subscription is untouched

    clock.advance(10_000);
    const later = subscribe(client, WHO);
    expect(await later.next()).toEqual({ scopes: expect.any(Array) });
    for (const s of [live, query, refused, later]) s.close();
    await client.dispose();
  });

  it("a changed limit applies on every process at once", async () => {
    const k = await limitedKey(1);
    expect([await goes(a, k.secret), await goes(b, k.secret)]).toEqual([true, false]);
    await ok(a.gql(UPDATE, { id: k.id, i: { rateLimit: { perSecond: 0 } } })); // unlimited
    expect(await goes(a, k.secret)).toBe(true);
    // B hears of the change through Redis; its cached lookup would otherwise keep the old limit
    const deadline = Date.now() + 1000;
    while (!(await goes(b, k.secret)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (let n = 0; n < 5; n++) expect(await goes(b, k.secret)).toBe(true);
  });
});

describe("per tenant", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ RATE_LIMIT_TENANT_PER_S: String(EVERY_10_S), RATE_LIMIT_TENANT_BURST: "5" }, { clock });
  });
  afterAll(() => t?.stop());

  it("caps the sum of the tenant's keys, each under its own generous limit; other tenants are untouched", async () => {
    const tenant = `t-${uniq()}`;
    const [k1, k2] = [await t.newKey(tenant), await t.newKey(tenant)];
    const other = await t.newKey(`t-${uniq()}`);
    const went = [];
    for (const key of [k1, k1, k1, k2, k2]) went.push(await goes(t, key));
    expect(went).toEqual([true, true, true, true, true]);
    for (const key of [k1, k2]) {
      const r = await t.gql(WHO, {}, key);
      expect({ code: code(r), retryAfter: retryAfterOf(r), status: r.status }).toEqual({ code: "RATE_LIMITED", retryAfter: 10, status: 429 });
    }
    for (let n = 0; n < 5; n++) expect(await goes(t, other)).toBe(true);
    clock.advance(10_000);
    expect(await goes(t, k2)).toBe(true);
  });
});

describe("while Redis is down", () => {
  let redis: PrivateRedis;
  let r: TestServer;
  beforeAll(async () => {
    redis = await startPrivateRedis();
    r = await startTestServer({ REDIS_URL: redis.url, RATE_LIMIT_KEY_PER_S: String(EVERY_10_S), RATE_LIMIT_KEY_BURST: "1" });
  });
  afterAll(async () => {
    await r?.stop();
    await redis?.stop();
  });

  const readyz = async () => (await fetch(r.url.replace("/graphql", "/readyz"))).status;
  async function until(check: () => Promise<boolean>, ms = 10_000) {
    const end = Date.now() + ms;
    while (!(await check())) {
      if (Date.now() > end) throw new Error("condition not reached");
      await new Promise((res) => setTimeout(res, 100));
    }
  }

  it("every operation goes (fail open); the limit is back when Redis is", async () => {
    const key = await r.newKey(`t-${uniq()}`);
    expect([await goes(r, key), await goes(r, key)]).toEqual([true, false]);

    await redis.stop();
    await until(async () => (await readyz()) === 503);
    for (let n = 0; n < 3; n++) expect(await goes(r, key)).toBe(true);

    await redis.start(); // empty: it kept nothing
    await until(async () => (await readyz()) === 200);
    expect([await goes(r, key), await goes(r, key)]).toEqual([true, false]);
  });
});
