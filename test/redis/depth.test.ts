import { describe, expect, it } from "vitest";
import { T0, VIS, tokens, useRedis } from "./support.js";

/* depth-3.lua through QueueScripts.depth, against real Redis. */

const t = useRedis("depth");

describe("depth", () => {
  it("counts ready, delayed and claimed ids as they move", async () => {
    const q = t.newQueue();
    expect(await t.scripts.depth(q)).toEqual({ ready: 0, delayed: 0, claimed: 0 });
    await t.scripts.enqueue(q, [
      { id: "r1", score: 1, visibleAt: 0 },
      { id: "r2", score: 2, visibleAt: 0 },
      { id: "r3", score: 3, visibleAt: 0 },
      { id: "d1", score: 4, visibleAt: T0 + 1_000 },
      { id: "d2", score: 5, visibleAt: T0 + 2_000 },
    ]);
    expect(await t.scripts.depth(q)).toEqual({ ready: 3, delayed: 2, claimed: 0 });
    const claims = await t.scripts.claim(q, { now: T0, visibilityMs: VIS, tokens: tokens(1) });
    expect(await t.scripts.depth(q)).toEqual({ ready: 2, delayed: 2, claimed: 1 });
    await t.scripts.settle(q, T0 + 1, claims);
    expect(await t.scripts.depth(q)).toEqual({ ready: 2, delayed: 2, claimed: 0 });
    // A claim at T0 + 1s promotes d1 (and takes r2, the lowest score).
    await t.scripts.claim(q, { now: T0 + 1_000, visibilityMs: VIS, tokens: tokens(1) });
    expect(await t.scripts.depth(q)).toEqual({ ready: 2, delayed: 1, claimed: 1 });
  });
});
