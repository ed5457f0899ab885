import { randomUUID } from "node:crypto";
import { describe, expect, it, vi } from "vitest";
import { RateLimiter } from "../../src/domain/api-keys/rate-limits.js";
import type { Actor } from "../../src/domain/actor.js";
import { T0, useRedis } from "./support.js";

/* rateLimit-2.lua through its wrapper, with the time as a number we step: nothing sleeps. */

const t = useRedis("rate-limit");
const UNLIMITED = { intervalMs: 0, burst: 1 };
const perSecond = (n: number, burst: number) => ({ intervalMs: 1000 / n, burst });

const buckets = () => t.keys.rateLimit(randomUUID(), randomUUID());
type Limit = { intervalMs: number; burst: number };
/** One operation: 0 when it may go, else the ms to wait. */
const one = async (b: { key: string; tenant: string }, now: number, key: Limit, tenant: Limit) => {
  const r = await t.scripts.rateLimit(b, now, key, tenant);
  expect(r.taken === 1 ? r.waitMs === 0 : r.taken === 0 && r.waitMs >= 1).toBe(true); // went, or waits
  return r.waitMs;
};

describe("rateLimit", () => {
  it("lets a burst through at once, then one operation per interval, answering the ms to wait", async () => {
    const b = buckets();
    const key = perSecond(2, 3); // one every 500 ms, three at once
    const take = (now: number) => one(b, now, key, UNLIMITED);
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
    const a = t.keys.rateLimit(tenantId, randomUUID());
    const b = t.keys.rateLimit(tenantId, randomUUID());
    const key = perSecond(1, 2);
    const tenant = perSecond(1, 3);
    expect(await one(a, T0, key, tenant)).toBe(0);
    expect(await one(a, T0, key, tenant)).toBe(0);
    expect(await one(a, T0, key, tenant)).toBe(1000); // a's own limit
    expect(await one(b, T0, key, tenant)).toBe(0); // the tenant's third
    expect(await one(b, T0, key, tenant)).toBe(1000); // the tenant is spent, b is not
    // b's refusal took nothing from b: once the tenant has room, b still has its second
    expect(await one(b, T0 + 1000, key, tenant)).toBe(0);
  });

  it("answers the longest wait among the buckets that refuse, at least 1 ms", async () => {
    const b = buckets();
    const slowTenant = perSecond(0.1, 1); // one per 10 s
    expect(await one(b, T0, perSecond(1, 1), slowTenant)).toBe(0);
    expect(await one(b, T0 + 1, perSecond(1, 1), slowTenant)).toBe(9_999);
    expect(await one(b, T0 + 9_999.5, perSecond(1, 1), slowTenant)).toBe(1);
  });

  it("leaves an unlimited bucket untouched and lets its bucket expire once full again", async () => {
    const b = buckets();
    expect(await one(b, T0, UNLIMITED, UNLIMITED)).toBe(0);
    expect(await t.redis.exists(b.key, b.tenant)).toBe(0);
    expect(await one(b, T0, perSecond(10, 5), UNLIMITED)).toBe(0);
    expect(await t.redis.exists(b.tenant)).toBe(0);
    const ttl = await t.redis.pttl(b.key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(100);
  });

  it("takes up to n at once, as many as both buckets hold, and waits only when they hold none", async () => {
    const tenantId = randomUUID();
    const a = t.keys.rateLimit(tenantId, randomUUID());
    const b = t.keys.rateLimit(tenantId, randomUUID());
    const key = perSecond(100, 30); // one per 10 ms, 30 at once
    const tenant = perSecond(100, 50);
    expect(await t.scripts.rateLimit(a, T0, key, tenant, 20)).toEqual({ taken: 20, waitMs: 0 });
    expect(await t.scripts.rateLimit(a, T0, key, tenant, 20)).toEqual({ taken: 10, waitMs: 0 }); // a's burst is spent
    expect(await t.scripts.rateLimit(b, T0, key, tenant, 30)).toEqual({ taken: 20, waitMs: 0 }); // the tenant's 50 are
    expect(await t.scripts.rateLimit(b, T0, key, tenant, 30)).toEqual({ taken: 0, waitMs: 10 });
    expect(await t.scripts.rateLimit(b, T0 + 35, key, tenant, 30)).toEqual({ taken: 3, waitMs: 0 }); // 3.5 intervals later
    // over 1 s the tenant let through its burst and one per interval, no more
    let taken = 53;
    for (let at = T0 + 40; at <= T0 + 1000; at += 40) taken += (await t.scripts.rateLimit(at % 80 ? a : b, at, key, tenant, 30)).taken;
    expect(taken).toBe(50 + 100);
  });
});

describe("RateLimiter", () => {
  const actor = () => ({ tenantId: randomUUID(), keyId: randomUUID() }) as Actor;
  const limiter = (perSecond: number, burst: number) => {
    let now = T0;
    const l = new RateLimiter(t.scripts, { key: { perSecond, burst }, tenant: { perSecond: 0, burst: 1 } }, () => now, (err) => {
      throw err;
    });
    return { l, at: (t: number) => (now = t) };
  };
  const counting = async <T>(fn: (calls: () => number) => Promise<T>): Promise<T> => {
    const spy = vi.spyOn(t.scripts, "rateLimit");
    try {
      return await fn(() => spy.mock.calls.length);
    } finally {
      spy.mockRestore();
    }
  };

  it("serves a steady caller's 100 ms of operations with one Redis call, sized by what it used before", async () => {
    const { l, at } = limiter(10_000, 20_000);
    const who = actor();
    await counting(async (calls) => {
      for (let i = 0; i < 50; i++) expect(await l.take(who, null)).toBeNull();
      const firstWindow = calls();
      expect(firstWindow).toBeLessThan(10); // it learns the rate: 1, 2, 4, … at a time
      at(T0 + 100);
      for (let i = 0; i < 50; i++) expect(await l.take(who, null)).toBeNull();
      expect(calls() - firstWindow).toBe(1);
    });
  });

  it("makes concurrent callers wait for one refill, and never lets more through than the limit", async () => {
    const { l } = limiter(5_000, 5_000); // at most 50 per call
    const who = actor();
    // Leave 50 in the bucket. (Its key expires in real time when it is full again: with a
    // short burst it could expire while the stepped clock stands still, refilling it.)
    const left = await t.scripts.rateLimit(t.keys.rateLimit(who.tenantId, who.keyId), T0, perSecond(5_000, 5_000), UNLIMITED, 4_950);
    expect(left.taken).toBe(4_950);
    await counting(async (calls) => {
      const answers = await Promise.all(Array.from({ length: 200 }, () => l.take(who, null)));
      expect(answers.filter((a) => a === null)).toHaveLength(50);
      expect(answers.filter((a) => a === 1)).toHaveLength(150); // retry in (at least) a second
      expect(calls()).toBeLessThanOrEqual(4);
    });
  });

  it("is exact below 200 operations per second, and lets operations taken ahead lapse after 100 ms", async () => {
    const slow = limiter(1, 3); // its bucket key lives 3 s of real time: the stepped clock cannot outlast it
    const who = actor();
    expect([await slow.l.take(who, null), await slow.l.take(who, null), await slow.l.take(who, null)]).toEqual([null, null, null]);
    expect(await slow.l.take(who, null)).toBe(1);

    const fast = limiter(10_000, 20_000);
    const other = actor();
    for (let i = 0; i < 30; i++) await fast.l.take(other, null);
    await counting(async (calls) => {
      fast.at(T0 + 100);
      expect(await fast.l.take(other, null)).toBeNull(); // takes the 30 the last window used
      expect(calls()).toBe(1);
      fast.at(T0 + 150);
      expect(await fast.l.take(other, null)).toBeNull();
      expect(calls()).toBe(1);
      fast.at(T0 + 200);
      expect(await fast.l.take(other, null)).toBeNull(); // the 28 left have lapsed: Redis again
      expect(calls()).toBe(2);
    });
  });
});
