import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { QueueKeys } from "../../src/redis/keys.js";
import { T0, VIS, seed, stateOf, useRedis, zentries } from "./support.js";

/*
 * admit-5.lua through QueueScripts.admit, against real Redis: occupancy is pending +
 * delayed + claimed + what other reservations hold (admitted − drops owed); REJECT takes
 * all or none, DEAD_LETTER what fits, DROP_OLDEST min(n, maxDepth) and says how many of
 * the pending or delayed to drop; reservations lapse after the ttl.
 */

const t = useRedis("admit");
const TTL = 60_000;
type Policy = "REJECT" | "DEAD_LETTER" | "DROP_OLDEST";

const admit = (q: QueueKeys, maxDepth: number, n: number, policy: Policy, o: { reservation?: string; now?: number } = {}) =>
  t.scripts.admit(q, { now: o.now ?? T0, ttlMs: TTL, maxDepth, n, reservation: o.reservation ?? randomUUID(), policy });

/** A queue holding `pending` ready, `delayed` delayed and `claimed` claimed ids. */
async function queueWith(counts: { pending?: number; delayed?: number; claimed?: number }): Promise<QueueKeys> {
  const q = t.newQueue();
  const ids = (p: string, n = 0) => Array.from({ length: n }, (_, i) => `${p}${i}`);
  await seed(t.redis, q, {
    pending: ids("p", counts.pending).map((id, i): [string, number] => [id, i]),
    delayed: ids("d", counts.delayed).map((id): [string, number] => [id, T0 + 5_000]),
    scores: Object.fromEntries(ids("d", counts.delayed).map((id) => [id, 1])),
    claims: ids("c", counts.claimed).map((id): [string, number] => [id, T0 + VIS]),
    locks: Object.fromEntries(ids("c", counts.claimed).map((id) => [id, randomUUID()])),
  });
  return q;
}

const reservations = async (q: QueueKeys) => ({ reserved: await t.redis.hgetall(q.reserved), reservedAt: await zentries(t.redis, q.reservedAt) });

describe("admit-5.lua: REJECT", () => {
  it("counts pending, delayed and claimed ids; admits all n when they fit and none when one more would not", async () => {
    const q = await queueWith({ pending: 2, delayed: 1, claimed: 1 }); // occupancy 4
    const before = await stateOf(t.redis, q);

    expect(await admit(q, 6, 3, "REJECT", { reservation: "too-many" })).toEqual({ admitted: 0, drops: 0 });
    // nothing admitted, nothing reserved
    expect(await t.redis.exists(q.reserved, q.reservedAt)).toBe(0);

    expect(await admit(q, 6, 2, "REJECT", { reservation: "fits" })).toEqual({ admitted: 2, drops: 0 });
    expect(await reservations(q)).toEqual({ reserved: { fits: "2:0" }, reservedAt: [["fits", T0]] });

    // the queue itself is only read
    expect(await stateOf(t.redis, q)).toEqual(before);
  });

  it("counts the room other publishers reserved until enqueue releases it", async () => {
    const q = t.newQueue();
    expect(await admit(q, 3, 2, "REJECT", { reservation: "first" })).toEqual({ admitted: 2, drops: 0 });
    // only 1 left: the reservation counts although nothing is enqueued yet
    expect(await admit(q, 3, 2, "REJECT")).toEqual({ admitted: 0, drops: 0 });
    expect(await admit(q, 3, 1, "REJECT", { reservation: "second" })).toEqual({ admitted: 1, drops: 0 });
    expect(await admit(q, 3, 1, "REJECT")).toEqual({ admitted: 0, drops: 0 });

    // "first" enqueues its two: they count as pending now, its reservation no more
    await t.scripts.enqueue(q, [{ id: "a", score: 1, visibleAt: 0 }, { id: "b", score: 2, visibleAt: 0 }], { reservation: "first", dropped: [] });
    expect(await reservations(q)).toEqual({ reserved: { second: "1:0" }, reservedAt: [["second", T0]] });
    expect(await admit(q, 3, 1, "REJECT")).toEqual({ admitted: 0, drops: 0 });

    // "second" gives its room back without enqueueing (admission.release): room for one
    await t.scripts.enqueue(q, [], { reservation: "second", dropped: [] });
    expect(await admit(q, 3, 2, "REJECT")).toEqual({ admitted: 0, drops: 0 });
    expect(await admit(q, 3, 1, "REJECT")).toEqual({ admitted: 1, drops: 0 });
  });
});

describe("admit-5.lua: DEAD_LETTER", () => {
  it("admits as many as fit, and nothing (no reservation) on a full queue", async () => {
    const q = await queueWith({ pending: 1, delayed: 1, claimed: 1 });
    expect(await admit(q, 5, 4, "DEAD_LETTER", { reservation: "part" })).toEqual({ admitted: 2, drops: 0 });
    expect(await reservations(q)).toEqual({ reserved: { part: "2:0" }, reservedAt: [["part", T0]] });
    expect(await admit(q, 5, 1, "DEAD_LETTER", { reservation: "none" })).toEqual({ admitted: 0, drops: 0 });
    expect(await t.redis.hexists(q.reserved, "none")).toBe(0);
  });

  it("admits nothing when the queue is already over its maxDepth (room never goes negative)", async () => {
    const q = await queueWith({ pending: 4 });
    expect(await admit(q, 2, 3, "DEAD_LETTER")).toEqual({ admitted: 0, drops: 0 });
    expect(await admit(q, 2, 3, "REJECT")).toEqual({ admitted: 0, drops: 0 });
  });

  it("subtracts the drops a reservation still owes from what it holds, summed over reservations", async () => {
    const q = t.newQueue();
    // "5:4": five arriving, four leaving, so it holds one; "2:0" holds two
    await t.redis.hset(q.reserved, { dropper: "5:4", plain: "2:0" });
    await t.redis.zadd(q.reservedAt, T0, "dropper", T0, "plain");
    expect(await admit(q, 10, 10, "DEAD_LETTER")).toEqual({ admitted: 7, drops: 0 });
  });
});

describe("admit-5.lua: DROP_OLDEST", () => {
  it("admits min(n, maxDepth) and owes a drop for each beyond the room", async () => {
    const roomy = await queueWith({ pending: 2 });
    expect(await admit(roomy, 3, 1, "DROP_OLDEST")).toEqual({ admitted: 1, drops: 0 });

    const full = await queueWith({ pending: 3 });
    expect(await admit(full, 3, 2, "DROP_OLDEST", { reservation: "r" })).toEqual({ admitted: 2, drops: 2 });
    expect(await reservations(full)).toEqual({ reserved: { r: "2:2" }, reservedAt: [["r", T0]] });

    const flood = await queueWith({ pending: 3 });
    expect(await admit(flood, 3, 5, "DROP_OLDEST")).toEqual({ admitted: 3, drops: 3 });
  });

  it("owes drops only from pending and delayed ids, never claimed ones", async () => {
    const mostlyClaimed = await queueWith({ pending: 1, claimed: 2 });
    expect(await admit(mostlyClaimed, 3, 2, "DROP_OLDEST")).toEqual({ admitted: 2, drops: 1 });

    const delayedOnly = await queueWith({ delayed: 2, claimed: 1 });
    expect(await admit(delayedOnly, 3, 1, "DROP_OLDEST")).toEqual({ admitted: 1, drops: 1 });
  });

  it("a drop-owing reservation holds only its net room, so the next publisher sees the queue exactly full", async () => {
    const q = await queueWith({ pending: 3 });
    expect(await admit(q, 4, 3, "DROP_OLDEST", { reservation: "dropper" })).toEqual({ admitted: 3, drops: 2 }); // holds 1
    expect(await admit(q, 4, 1, "REJECT")).toEqual({ admitted: 0, drops: 0 });
    expect(await admit(q, 5, 1, "REJECT")).toEqual({ admitted: 1, drops: 0 });
  });
});

describe("admit-5.lua: lapsed reservations", () => {
  it("drops reservations ttl ms old or older from both structures and stops counting them", async () => {
    const q = t.newQueue();
    await t.redis.hset(q.reserved, { dead: "3:0", alive: "2:0" });
    await t.redis.zadd(q.reservedAt, T0 - TTL, "dead", T0 - TTL + 1, "alive");
    // maxDepth 5: with "dead" still counted there would be no room at all
    expect(await admit(q, 5, 3, "REJECT", { reservation: "new" })).toEqual({ admitted: 3, drops: 0 });
    expect(await reservations(q)).toEqual({ reserved: { alive: "2:0", new: "3:0" }, reservedAt: [["alive", T0 - TTL + 1], ["new", T0]] });
  });

  it("lapses a reservation even when the admit that finds it admits nothing", async () => {
    const q = await queueWith({ pending: 1 });
    await t.redis.hset(q.reserved, "dead", "1:0");
    await t.redis.zadd(q.reservedAt, T0 - 2 * TTL, "dead");
    expect(await admit(q, 1, 1, "REJECT", { reservation: "refused" })).toEqual({ admitted: 0, drops: 0 });
    expect(await t.redis.exists(q.reserved, q.reservedAt)).toBe(0);
  });
});
