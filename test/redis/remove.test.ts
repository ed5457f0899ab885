import { describe, expect, it } from "vitest";
import { EMPTY, T0, VIS, seed, stateOf, tokens, useRedis } from "./support.js";

/*
 * remove-5.lua through QueueScripts.remove, against real Redis: each id leaves pending,
 * delayed, scores, claims and locks altogether; the answer counts the ids that were
 * still present in any of them.
 */

const t = useRedis("remove");

describe("remove-5.lua", () => {
  it("takes each id out of every structure, whatever state it was in, and leaves the others", async () => {
    const q = t.newQueue();
    await t.scripts.enqueue(q, [
      { id: "claimed", score: 1, visibleAt: 0 },
      { id: "keep-claimed", score: 2, visibleAt: 0 },
      { id: "ready", score: 3, visibleAt: 0 },
      { id: "keep-ready", score: 4, visibleAt: 0 },
      { id: "delayed", score: 5, visibleAt: T0 + 1_000 },
      { id: "keep-delayed", score: 6, visibleAt: T0 + 2_000 },
    ]);
    const claims = await t.scripts.claim(q, { now: T0, visibilityMs: VIS, tokens: tokens(2) });
    expect(await t.scripts.remove(q, ["claimed", "ready", "delayed"])).toBe(3);
    expect(await stateOf(t.redis, q)).toEqual({
      pending: [["keep-ready", 4]],
      delayed: [["keep-delayed", T0 + 2_000]],
      scores: { "keep-delayed": 6 },
      claims: [["keep-claimed", T0 + VIS]],
      locks: { "keep-claimed": claims[1]!.token },
    });
  });

  it("counts an id present in only one structure, whichever it is", async () => {
    const q = t.newQueue();
    await seed(t.redis, q, {
      pending: [["only-pending", 1]],
      delayed: [["only-delayed", T0]],
      scores: { "only-score": 1 },
      claims: [["only-claim", T0]],
      locks: { "only-lock": "tok" },
    });
    for (const id of ["only-pending", "only-delayed", "only-score", "only-claim", "only-lock"]) {
      expect(await t.scripts.remove(q, [id]), id).toBe(1);
    }
    expect(await stateOf(t.redis, q)).toEqual(EMPTY);
  });

  it("counts only ids still present: unknown ones, a repeat and an id given twice count nothing more", async () => {
    const q = t.newQueue();
    await seed(t.redis, q, { pending: [["a", 1], ["b", 2]] });
    expect(await t.scripts.remove(q, ["a", "ghost", "a"])).toBe(1);
    expect(await t.scripts.remove(q, ["a"])).toBe(0);
    expect(await stateOf(t.redis, q)).toEqual({ ...EMPTY, pending: [["b", 2]] });
  });

  it("answers 0 for no ids", async () => {
    const q = t.newQueue();
    await seed(t.redis, q, { pending: [["a", 1]] });
    expect(await t.scripts.remove(q, [])).toBe(0);
    expect(await stateOf(t.redis, q)).toEqual({ ...EMPTY, pending: [["a", 1]] });
  });
});
