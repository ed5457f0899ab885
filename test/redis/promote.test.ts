import { describe, expect, it } from "vitest";
import { EMPTY, T0, seed, stateOf, useRedis } from "./support.js";

/*
 * promote-3.lua through QueueScripts.promote, against real Redis: delayed ids whose
 * visible-at is now or earlier move into pending with the order score kept for them in
 * scores, at most `limit` per call, earliest visible-at first; later ones stay.
 */

const t = useRedis("promote");

describe("promote-3.lua", () => {
  it("moves ids due at or before now into pending with their kept order score, and leaves later ones delayed", async () => {
    const q = t.newQueue();
    await seed(t.redis, q, {
      pending: [["ready", 4]],
      delayed: [["long-due", T0 - 10_000], ["due-now", T0], ["next-ms", T0 + 1]],
      scores: { "long-due": 5, "due-now": 3, "next-ms": 1 },
    });
    expect(await t.scripts.promote(q, T0, 100)).toBe(2);
    expect(await stateOf(t.redis, q)).toEqual({
      ...EMPTY,
      // ordered by their order scores, not by when they became visible
      pending: [["due-now", 3], ["ready", 4], ["long-due", 5]],
      delayed: [["next-ms", T0 + 1]],
      scores: { "next-ms": 1 },
    });
  });

  it("moves at most `limit` per call, the earliest visible-at first, the rest on later calls", async () => {
    const q = t.newQueue();
    // order scores run against visible-at, so the pending order tells nothing about which moved
    const ids = ["v1", "v2", "v3", "v4", "v5"];
    await seed(t.redis, q, {
      delayed: ids.map((id, i): [string, number] => [id, T0 - 5_000 + i]),
      scores: Object.fromEntries(ids.map((id, i) => [id, 100 - i])),
    });
    expect(await t.scripts.promote(q, T0, 2)).toBe(2);
    expect((await stateOf(t.redis, q)).delayed.map(([id]) => id)).toEqual(["v3", "v4", "v5"]);
    expect(await t.scripts.promote(q, T0, 2)).toBe(2);
    expect(await t.scripts.promote(q, T0, 2)).toBe(1);
    expect(await t.scripts.promote(q, T0, 2)).toBe(0);
    expect(await stateOf(t.redis, q)).toEqual({ ...EMPTY, pending: ids.map((id, i): [string, number] => [id, 100 - i]).reverse() });
  });

  it("promotes an id with no kept order score at now", async () => {
    const q = t.newQueue();
    await seed(t.redis, q, { delayed: [["lost-score", T0 - 1]] });
    expect(await t.scripts.promote(q, T0, 10)).toBe(1);
    expect(await stateOf(t.redis, q)).toEqual({ ...EMPTY, pending: [["lost-score", T0]] });
  });

  it("moves nothing and writes nothing when nothing is due, and nothing more on a repeat", async () => {
    const empty = t.newQueue();
    expect(await t.scripts.promote(empty, T0, 10)).toBe(0);
    expect(await t.redis.exists(empty.pending, empty.delayed, empty.scores)).toBe(0);

    const q = t.newQueue();
    await seed(t.redis, q, { delayed: [["soon", T0 + 1_000]], scores: { soon: 9 } });
    expect(await t.scripts.promote(q, T0, 10)).toBe(0);
    expect(await t.scripts.promote(q, T0 + 1_000, 10)).toBe(1);
    expect(await t.scripts.promote(q, T0 + 1_000, 10)).toBe(0);
    expect(await stateOf(t.redis, q)).toEqual({ ...EMPTY, pending: [["soon", 9]] });
  });

  it("hands a promoted id to claim in its order-score place", async () => {
    const q = t.newQueue();
    await t.scripts.enqueue(q, [
      { id: "ready-20", score: 20, visibleAt: 0 },
      { id: "late-10", score: 10, visibleAt: T0 + 500 },
    ]);
    expect(await t.scripts.promote(q, T0 + 500, 10)).toBe(1);
    expect(await t.scripts.depth(q)).toEqual({ ready: 2, delayed: 0, claimed: 0 });
    // claim at a time before visible-at: only promote can have made late-10 claimable
    const got = await t.scripts.claim(q, { now: T0, visibilityMs: 1_000, tokens: ["tok"] });
    expect(got).toEqual([{ id: "late-10", token: "tok" }]);
  });
});
