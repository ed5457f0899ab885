import { afterAll, beforeAll } from "vitest";
import { describe, expect, test } from "../support/test.js";
import { code, ok, startTestServer, uniq, type GqlResult, type TestServer } from "../support/server.js";
import { subscribe, SubscriptionError } from "../support/subscription.js";
import { startPrivateRedis, type PrivateRedis } from "../support/redis-server.js";
import { createQueue, createScope } from "../support/api.js";
import { readyz, until } from "../support/wait.js";
import { COMPLETED, CREATE_API_KEY as CREATE, MESSAGE_STATES, PUBLISH, SCOPES as WHO, UPDATE_API_KEY as UPDATE } from "../support/ops.js";
import { PERMISSIONS } from "../../src/domain/actor.js";

/*
 * Limits are tiny here (one operation per 10 s) and the servers read a stepped clock,
 * so nothing refills while a test runs and `retryAfter` is exact; "waiting" is a step
 * of the clock. A (`server`) and B (`peer`) share the database, the Redis prefix and the clock: two
 * processes as far as the limits go.
 */

const EVERY_10_S = 0.1;

test.override({ stepped: true });

/** A key of tenant "default" holding every permission, with its own rate limit, made through `a`. */
async function limitedKey(a: TestServer, burst: number, perSecond = EVERY_10_S): Promise<{ id: string; secret: string }> {
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
  test("a key past its limit gets RATE_LIMITED with retryAfter (HTTP 429 and Retry-After), runs nothing, and goes again after that long", async ({ server: a, clock }) => {
    const queueId = await createQueue(a, await createScope(a));
    const hammer = await limitedKey(a, 3);
    const other = await limitedKey(a, 3);
    for (let n = 1; n <= 3; n++) await ok(a.gql(PUBLISH, { i: { queueId, body: { n } } }, hammer.secret));
    const refused = await a.gql(PUBLISH, { i: { queueId, body: { n: 4 } } }, hammer.secret);
    expect(refused.status).toBe(429);
    expect(code(refused)).toBe("RATE_LIMITED");
    expect(retryAfterOf(refused)).toBe(10); // the next token is one interval away
    expect(refused.data ?? null).toBeNull();
    expect((await ok(a.gql(MESSAGE_STATES, { q: queueId, first: 500 }))).messages.edges).toHaveLength(3);

    const again = await raw(a, hammer.secret);
    expect({ status: again.status, retryAfter: again.retryAfter, code: code(again.body) }).toEqual({ status: 429, retryAfter: "10", code: "RATE_LIMITED" });
    expect(again.body.errors![0]!.extensions).toEqual({ code: "RATE_LIMITED", retryAfter: 10 }); // no http internals in the body

    // another key of the same tenant has its own allowance
    for (let n = 0; n < 3; n++) expect(await goes(a, other.secret)).toBe(true);

    clock.advance(10_000);
    expect(await goes(a, hammer.secret)).toBe(true);
    expect(await goes(a, hammer.secret)).toBe(false);
  });

  test("holds across two processes sharing Redis", async ({ server: a, peer: b }) => {
    const k = await limitedKey(a, 4);
    expect([await goes(a, k.secret), await goes(b, k.secret), await goes(a, k.secret), await goes(b, k.secret)]).toEqual([true, true, true, true]);
    expect(code(await b.gql(WHO, {}, k.secret))).toBe("RATE_LIMITED");
    expect(code(await a.gql(WHO, {}, k.secret))).toBe("RATE_LIMITED");
  });

  test("counts each graphql-ws operation; a refused one gets RATE_LIMITED with retryAfter and the socket stays open", async ({ server: a, peer: b, clock }) => {
    const k = await limitedKey(a, 2);
    const client = b.wsClient(k.secret);
    const live = subscribe(client, COMPLETED, { c: `c-${uniq()}` });
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

  test("a changed limit applies on every process at once", async ({ server: a, peer: b }) => {
    const k = await limitedKey(a, 1);
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
  test.beforeAll(async ({ clock }) => {
    t = await startTestServer({ RATE_LIMIT_TENANT_PER_S: String(EVERY_10_S), RATE_LIMIT_TENANT_BURST: "5" }, { clock });
  });
  afterAll(() => t?.stop());

  test("caps the sum of the tenant's keys, each under its own generous limit; other tenants are untouched", async ({ clock }) => {
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


  test("every operation goes (fail open); the limit is back when Redis is", async () => {
    const key = await r.newKey(`t-${uniq()}`);
    expect([await goes(r, key), await goes(r, key)]).toEqual([true, false]);

    await redis.stop();
    await until(async () => (await readyz(r)) === 503);
    for (let n = 0; n < 3; n++) expect(await goes(r, key)).toBe(true);

    await redis.start(); // empty: it kept nothing
    await until(async () => (await readyz(r)) === 200);
    expect([await goes(r, key), await goes(r, key)]).toEqual([true, false]);
  });
});
