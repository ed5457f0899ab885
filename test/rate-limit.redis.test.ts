import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import { createKeys } from "../src/redis/keys.js";
import { QueueScripts } from "../src/redis/scripts.js";
import { deleteKeys, uniq } from "./support/server.js";

/* rateLimit-2.lua through its wrapper, with the time as a number we step: nothing sleeps. */

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const keys = createKeys(`sqt${uniq(4)}`);
const T0 = 1_800_000_000_000;
const UNLIMITED = { intervalMs: 0, burst: 1 };
const perSecond = (n: number, burst: number) => ({ intervalMs: 1000 / n, burst });

let redis: Redis;
let scripts: QueueScripts;
beforeAll(() => {
  redis = new Redis(REDIS_URL);
  scripts = new QueueScripts(redis, keys);
});
afterAll(async () => {
  redis?.disconnect();
  await deleteKeys(REDIS_URL, keys.all);
});

const buckets = () => keys.rateLimit(randomUUID(), randomUUID());

describe("rateLimit", () => {
  it("lets a burst through at once, then one operation per interval, answering the ms to wait", async () => {
    const b = buckets();
    const key = perSecond(2, 3); // one every 500 ms, three at once
    const take = (now: number) => scripts.rateLimit(b, now, key, UNLIMITED);
    expect([await take(T0), await take(T0), await take(T0)]).toEqual([0, 0, 0]);
    expect(await take(T0)).toBe(500);
    expect(await take(T0 + 200)).toBe(300); // a refusal takes nothing
    expect(await take(T0 + 500)).toBe(0);
    expect(await take(T0 + 500)).toBe(500);
    // after a quiet spell the whole burst is back, no more
    expect(await Promise.all([0, 1, 2, 3].map(() => take(T0 + 60_000)))).toEqual([0, 0, 0, 500]);
  });

  it("takes from the key and the tenant together, or from neither", async () => {
    const tenantId = randomUUID();
    const a = keys.rateLimit(tenantId, randomUUID());
    const b = keys.rateLimit(tenantId, randomUUID());
    const key = perSecond(1, 2);
    const tenant = perSecond(1, 3);
    expect(await scripts.rateLimit(a, T0, key, tenant)).toBe(0);
    expect(await scripts.rateLimit(a, T0, key, tenant)).toBe(0);
    expect(await scripts.rateLimit(a, T0, key, tenant)).toBe(1000); // a's own limit
    expect(await scripts.rateLimit(b, T0, key, tenant)).toBe(0); // the tenant's third
    expect(await scripts.rateLimit(b, T0, key, tenant)).toBe(1000); // the tenant is spent, b is not
    // b's refusal took nothing from b: once the tenant has room, b still has its second
    expect(await scripts.rateLimit(b, T0 + 1000, key, tenant)).toBe(0);
  });

  it("answers the longest wait among the buckets that refuse, at least 1 ms", async () => {
    const b = buckets();
    const slowTenant = perSecond(0.1, 1); // one per 10 s
    expect(await scripts.rateLimit(b, T0, perSecond(1, 1), slowTenant)).toBe(0);
    expect(await scripts.rateLimit(b, T0 + 1, perSecond(1, 1), slowTenant)).toBe(9_999);
    expect(await scripts.rateLimit(b, T0 + 9_999.5, perSecond(1, 1), slowTenant)).toBe(1);
  });

  it("leaves an unlimited bucket untouched and lets its bucket expire once full again", async () => {
    const b = buckets();
    expect(await scripts.rateLimit(b, T0, UNLIMITED, UNLIMITED)).toBe(0);
    expect(await redis.exists(b.key, b.tenant)).toBe(0);
    expect(await scripts.rateLimit(b, T0, perSecond(10, 5), UNLIMITED)).toBe(0);
    expect(await redis.exists(b.tenant)).toBe(0);
    const ttl = await redis.pttl(b.key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(100);
  });
});
