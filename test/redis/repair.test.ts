import { describe, expect, it } from "vitest";
import type { QueueKeys } from "../../src/redis/keys.js";
import type { RepairOp } from "../../src/redis/scripts.js";
import { EMPTY, T0, VIS, seed, stateOf, useRedis } from "./support.js";

/*
 * repair-5.lua through QueueScripts.repair, against real Redis: each operation first
 * clears the id from all five structures, then requeue puts it where it can be claimed
 * (pending, or delayed until visible-at with its score kept), relock gives it its lock
 * and claim, remove leaves it nowhere. The answer counts the operations applied.
 */

const t = useRedis("repair");

/** A queue where "x" is everywhere at once, with stale values, and "other" is claimed. */
async function tangled(): Promise<QueueKeys> {
  const q = t.newQueue();
  await seed(t.redis, q, {
    pending: [["x", 99]],
    delayed: [["x", T0 + 99]],
    scores: { x: 98 },
    claims: [["x", T0 - 1], ["other", T0 + VIS]],
    locks: { x: "stale-token", other: "other-token" },
  });
  return q;
}
const OTHER = { claims: [["other", T0 + VIS]] as [string, number][], locks: { other: "other-token" } };

describe("repair-5.lua", () => {
  it("requeue: the id is only in pending with its score, no lock or claim, when visible-at is now or past", async () => {
    const q = await tangled();
    expect(await t.scripts.repair(q, T0, [{ op: "requeue", id: "x", score: 7, visibleAt: 0 }])).toBe(1);
    expect(await stateOf(t.redis, q)).toEqual({ ...EMPTY, ...OTHER, pending: [["x", 7]] });

    const atNow = await tangled();
    expect(await t.scripts.repair(atNow, T0, [{ op: "requeue", id: "x", score: 7, visibleAt: T0 }])).toBe(1);
    expect(await stateOf(t.redis, atNow)).toEqual({ ...EMPTY, ...OTHER, pending: [["x", 7]] });
  });

  it("requeue with a later visible-at: only in delayed, its score kept in scores", async () => {
    const q = await tangled();
    expect(await t.scripts.repair(q, T0, [{ op: "requeue", id: "x", score: 7, visibleAt: T0 + 1 }])).toBe(1);
    expect(await stateOf(t.redis, q)).toEqual({ ...EMPTY, ...OTHER, delayed: [["x", T0 + 1]], scores: { x: 7 } });
  });

  it("relock: the id has the given lock token and claim expiry, and is neither pending nor delayed", async () => {
    const q = await tangled();
    expect(await t.scripts.repair(q, T0, [{ op: "relock", id: "x", token: "db-token", expiresAt: T0 + VIS }])).toBe(1);
    expect(await stateOf(t.redis, q)).toEqual({
      ...EMPTY,
      claims: [["other", T0 + VIS], ["x", T0 + VIS]],
      locks: { x: "db-token", other: "other-token" },
    });
  });

  it("remove: the id is nowhere", async () => {
    const q = await tangled();
    expect(await t.scripts.repair(q, T0, [{ op: "remove", id: "x" }])).toBe(1);
    expect(await stateOf(t.redis, q)).toEqual({ ...EMPTY, ...OTHER });
  });

  it("applies a batch in order, the last operation on an id deciding its state, and counts every operation", async () => {
    const q = await tangled();
    const ops: RepairOp[] = [
      { op: "requeue", id: "x", score: 1, visibleAt: 0 },
      { op: "relock", id: "x", token: "last", expiresAt: T0 + 5 },
      { op: "remove", id: "other" },
      { op: "requeue", id: "new", score: 3, visibleAt: T0 + 10 },
      { op: "remove", id: "never-there" },
    ];
    expect(await t.scripts.repair(q, T0, ops)).toBe(5);
    const after = await stateOf(t.redis, q);
    expect(after).toEqual({ ...EMPTY, delayed: [["new", T0 + 10]], scores: { new: 3 }, claims: [["x", T0 + 5]], locks: { x: "last" } });
    // the same repairs again: the same answer and the same state
    expect(await t.scripts.repair(q, T0, ops)).toBe(5);
    expect(await stateOf(t.redis, q)).toEqual(after);
  });

  it("applies more than one call's worth (1,000) of operations, every one of them", async () => {
    const q = t.newQueue();
    const ops: RepairOp[] = Array.from({ length: 2_345 }, (_, i) => ({ op: "requeue", id: `m${i}`, score: i, visibleAt: 0 }));
    expect(await t.scripts.repair(q, T0, ops)).toBe(2_345);
    expect(await t.scripts.depth(q)).toEqual({ ready: 2_345, delayed: 0, claimed: 0 });
    expect(await t.redis.zscore(q.pending, "m2344")).toBe("2344");
  });

  it("answers 0 and writes nothing for no operations", async () => {
    const q = t.newQueue();
    expect(await t.scripts.repair(q, T0, [])).toBe(0);
    expect(await stateOf(t.redis, q)).toEqual(EMPTY);
  });
});
