import { afterAll, describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import { QueueScripts } from "../../src/redis/scripts.js";
import { REDIS_URL, T0, VIS, tokens, useRedis, zrange } from "./support.js";

/*
 * claim-5.lua through QueueScripts.claim, against real Redis: lowest order scores first,
 * one id per token, the lock and the claim's expiry taken, due delayed ids promoted first;
 * and under 20 connections racing, each id handed out once.
 */

const t = useRedis("claim");

describe("claim", () => {
  it("hands out the lowest order scores first, at most one per token", async () => {
    const q = await t.queueWith([
      { id: "m3", score: 30, visibleAt: 0 },
      { id: "m1", score: 10, visibleAt: 0 },
      { id: "m5", score: 50, visibleAt: 0 },
      { id: "m2", score: 20, visibleAt: 0 },
      { id: "m4", score: 40, visibleAt: 0 },
    ]);
    const batches: string[][] = [];
    for (let i = 0; i < 4; i++) {
      const tk = tokens(2);
      const got = await t.scripts.claim(q, { now: T0, visibilityMs: VIS, tokens: tk });
      // Each id comes back with the token given for its slot.
      expect(got.map((c) => c.token)).toEqual(tk.slice(0, got.length));
      batches.push(got.map((c) => c.id));
    }
    expect(batches).toEqual([["m1", "m2"], ["m3", "m4"], ["m5"], []]);
  });

  it("takes the lock and records the claim's expiry at now + visibility", async () => {
    const q = await t.queueWith([
      { id: "a", score: 1, visibleAt: 0 },
      { id: "b", score: 2, visibleAt: 0 },
    ]);
    const [claimed] = await t.scripts.claim(q, { now: T0, visibilityMs: VIS, tokens: tokens(1) });
    expect(claimed!.id).toBe("a");
    expect(await t.redis.hgetall(q.locks)).toEqual({ a: claimed!.token });
    expect(await zrange(t.redis, q.claims)).toEqual(["a", String(T0 + VIS)]);
    expect(await zrange(t.redis, q.pending)).toEqual(["b", "2"]);
  });

  it("returns nothing and writes nothing on an empty queue", async () => {
    const q = t.newQueue();
    expect(await t.scripts.claim(q, { now: T0, visibilityMs: VIS, tokens: tokens(3) })).toEqual([]);
    expect(await t.redis.exists(q.pending, q.delayed, q.scores, q.claims, q.locks)).toBe(0);
  });

  it("keeps a delayed id until its visible-at, then promotes it with its stored order score", async () => {
    const q = t.newQueue();
    const visibleAt = T0 + 5_000;
    await t.scripts.enqueue(q, [
      { id: "ready-10", score: 10, visibleAt: 0 },
      { id: "ready-20", score: 20, visibleAt: 0 },
      // Lowest order score of all, but not visible yet.
      { id: "late-1", score: 1, visibleAt },
    ]);

    const early = await t.scripts.claim(q, { now: visibleAt - 1, visibilityMs: VIS, tokens: tokens(1) });
    expect(early.map((c) => c.id)).toEqual(["ready-10"]);
    expect(await t.scripts.depth(q)).toEqual({ ready: 1, delayed: 1, claimed: 1 });

    // Due at exactly visible-at. It beats ready-20 only if it kept score 1 (not its visible-at).
    const due = await t.scripts.claim(q, { now: visibleAt, visibilityMs: VIS, tokens: tokens(1) });
    expect(due.map((c) => c.id)).toEqual(["late-1"]);
    expect(await t.redis.zscore(q.claims, "late-1")).toBe(String(visibleAt + VIS));
    expect(await t.redis.exists(q.delayed, q.scores)).toBe(0);
    expect(await zrange(t.redis, q.pending)).toEqual(["ready-20", "20"]);
  });
});

describe("claim under real concurrency", () => {
  const CONNECTIONS = 20;
  const MESSAGES = 500;
  const BATCH = 3;
  let conns: Redis[] = [];

  afterAll(() => {
    for (const c of conns) c.disconnect();
  });

  it(`${CONNECTIONS} connections claiming in a loop hand out each of ${MESSAGES} ids exactly once`, async () => {
    const ids = Array.from({ length: MESSAGES }, (_, i) => `msg-${String(i).padStart(3, "0")}`);
    const q = await t.queueWith(ids.map((id, i) => ({ id, score: i, visibleAt: 0 })));

    conns = Array.from({ length: CONNECTIONS }, () => new Redis(REDIS_URL));
    // All connected first, so the claim loops really race.
    await Promise.all(conns.map((c) => c.ping()));
    const perWorker = await Promise.all(
      conns.map(async (conn) => {
        const mine = new QueueScripts(conn, t.keys);
        const got: { id: string; token: string }[] = [];
        for (;;) {
          const batch = await mine.claim(q, { now: T0, visibilityMs: VIS, tokens: tokens(BATCH) });
          if (batch.length === 0) return got;
          got.push(...batch);
        }
      }),
    );

    const all = perWorker.flat();
    expect(all).toHaveLength(MESSAGES);
    expect(all.map((c) => c.id).sort()).toEqual(ids);
    // Every handed-out token is the one holding that id's lock.
    expect(await t.redis.hgetall(q.locks)).toEqual(Object.fromEntries(all.map((c) => [c.id, c.token])));
    expect(await t.scripts.depth(q)).toEqual({ ready: 0, delayed: 0, claimed: MESSAGES });
    expect(perWorker.filter((got) => got.length > 0).length).toBeGreaterThan(1);
  });
});
