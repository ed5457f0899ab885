import { describe, expect, it } from "vitest";
import { claimedQueue, EMPTY, T0, VIS, seed, stateOf, tokens, useRedis } from "./support.js";

/*
 * requeue-5.lua through QueueScripts.requeue, against real Redis: each id's lock and
 * claim are dropped and it becomes claimable again, in pending with its order score, or
 * in delayed until a visible-at later than now (its order score kept in scores). The
 * answer is the number of ids requeued.
 */

const t = useRedis("requeue");

const claimed = (ids: string[]) => claimedQueue(t, ids);

describe("requeue-5.lua", () => {
  it("ends the claims and puts ids with visible-at 0, past or now into pending with their order score", async () => {
    const { q } = await claimed(["zero", "past", "now"]);
    const now = T0 + 1_000;
    expect(
      await t.scripts.requeue(q, now, [
        { id: "zero", score: 30, visibleAt: 0 },
        { id: "past", score: 10, visibleAt: now - 1 },
        { id: "now", score: 20, visibleAt: now },
      ]),
    ).toBe(3);
    expect(await stateOf(t.redis, q)).toEqual({ ...EMPTY, pending: [["past", 10], ["now", 20], ["zero", 30]] });
  });

  it("puts an id with a later visible-at into delayed, its order score kept in scores, and claim takes it then with that score", async () => {
    const { q } = await claimed(["backoff", "ready"]);
    const now = T0 + 1_000;
    const visibleAt = now + 5_000;
    expect(await t.scripts.requeue(q, now, [{ id: "backoff", score: 1, visibleAt }, { id: "ready", score: 2, visibleAt: 0 }])).toBe(2);
    expect(await stateOf(t.redis, q)).toEqual({ ...EMPTY, pending: [["ready", 2]], delayed: [["backoff", visibleAt]], scores: { backoff: 1 } });

    expect((await t.scripts.claim(q, { now: visibleAt - 1, visibilityMs: VIS, tokens: tokens(1) })).map((c) => c.id)).toEqual(["ready"]);
    expect(await t.scripts.claim(q, { now: visibleAt - 1, visibilityMs: VIS, tokens: tokens(1) })).toEqual([]);
    expect((await t.scripts.claim(q, { now: visibleAt, visibilityMs: VIS, tokens: tokens(1) })).map((c) => c.id)).toEqual(["backoff"]);
  });

  it("leaves the other claims of the queue alone", async () => {
    const { q, claims } = await claimed(["gone", "kept"]);
    expect(await t.scripts.requeue(q, T0 + 1, [{ id: "gone", score: 5, visibleAt: 0 }])).toBe(1);
    expect(await stateOf(t.redis, q)).toEqual({ ...EMPTY, pending: [["gone", 5]], claims: [["kept", T0 + VIS]], locks: { kept: claims[1]!.token } });
  });

  it("frees the id for a new claim with a new token", async () => {
    const { q, claims } = await claimed(["a"]);
    await t.scripts.requeue(q, T0 + 1, [{ id: "a", score: 0, visibleAt: 0 }]);
    const [again] = await t.scripts.claim(q, { now: T0 + 2, visibilityMs: VIS, tokens: ["second-token"] });
    expect(again).toEqual({ id: "a", token: "second-token" });
    expect(again!.token).not.toBe(claims[0]!.token);
    expect(await t.redis.hgetall(q.locks)).toEqual({ a: "second-token" });
    expect(await t.redis.zscore(q.claims, "a")).toBe(String(T0 + 2 + VIS));
  });

  it("on a repeat keeps one entry per id, with the latest order score and visible-at", async () => {
    const { q } = await claimed(["a"]);
    expect(await t.scripts.requeue(q, T0 + 1, [{ id: "a", score: 5, visibleAt: 0 }])).toBe(1);
    expect(await t.scripts.requeue(q, T0 + 2, [{ id: "a", score: 6, visibleAt: 0 }])).toBe(1);
    expect(await stateOf(t.redis, q)).toEqual({ ...EMPTY, pending: [["a", 6]] });

    const { q: d } = await claimed(["b"]);
    await t.scripts.requeue(d, T0 + 1, [{ id: "b", score: 5, visibleAt: T0 + 100 }]);
    await t.scripts.requeue(d, T0 + 2, [{ id: "b", score: 6, visibleAt: T0 + 200 }]);
    expect(await stateOf(t.redis, d)).toEqual({ ...EMPTY, delayed: [["b", T0 + 200]], scores: { b: 6 } });
  });

  it("answers 0 and writes nothing for no ids", async () => {
    const q = t.newQueue();
    expect(await t.scripts.requeue(q, T0, [])).toBe(0);
    expect(await stateOf(t.redis, q)).toEqual(EMPTY);
  });

  // routing gives a PENDING message a new tier's score; one still in delayed (not promoted yet) must not be in both sets
  it("an id still in delayed, requeued with a past visible-at, is only in pending afterwards, with the new score", async () => {
    const q = t.newQueue();
    await seed(t.redis, q, { delayed: [["due", T0 - 1]], scores: { due: 50 } });
    expect(await t.scripts.requeue(q, T0, [{ id: "due", score: 10, visibleAt: 0 }])).toBe(1);
    expect(await stateOf(t.redis, q)).toEqual({ ...EMPTY, pending: [["due", 10]] });
  });
});
