import { describe, expect, it } from "vitest";
import { ORDER_EPOCH_MS, orderScore, type PriorityTier } from "../../src/domain/intake/ordering.js";
import type { QueueKeys } from "../../src/redis/keys.js";
import { seed, useRedis, zentries, type Entries } from "./support.js";

/*
 * age-1.lua, against real Redis: in a PRIORITY queue's pending set a LOW or BACKGROUND
 * id that waited one step ranks at least as LOW, after two steps as NORMAL, keeping its
 * priority score and publish time; higher tiers are never touched. Scores are built by
 * src/domain/ordering.ts, as the service builds them. The paging contract ({ raised,
 * next }) is tested on the script itself, the whole sweep through QueueScripts.age.
 */

const t = useRedis("age");
const STEP = 60_000;
const NOW = 10 * 86_400_000; // ms since the ordering epoch

/** A message's order score, published `waited` ms before NOW. */
const score = (tier: PriorityTier, priorityScore: number, waited: number) =>
  orderScore("PRIORITY", { createdAt: new Date(ORDER_EPOCH_MS + NOW - waited), priorityTier: tier, priorityScore, deadline: null });

type Member = { id: string; tier: PriorityTier; ps: number; waited: number };
const entries = (ms: Member[]): Entries => ms.map((m): [string, number] => [m.id, score(m.tier, m.ps, m.waited)]);
const byScore = (e: Entries) => [...e].sort((a, b) => a[1] - b[1]);

async function queueOf(ms: Member[]): Promise<QueueKeys> {
  const q = t.newQueue();
  await seed(t.redis, q, { pending: entries(ms) });
  return q;
}

/** One call of the script: [raised, next]. */
const ageOnce = (q: QueueKeys, limit: number, offset: number) => t.redis.age(q.pending, NOW, STEP, limit, offset);

// A sweep whose `next` never reaches -1 loops for ever: fail it fast rather than at the 60 s default.
describe("age-1.lua", { timeout: 5_000 }, () => {
  it("raises BACKGROUND to LOW after one step and LOW or BACKGROUND to NORMAL after two, in place within the new tier", async () => {
    const members: (Member & { to: PriorityTier })[] = [
      { id: "critical-old", tier: "CRITICAL", ps: 500, waited: 100 * STEP, to: "CRITICAL" },
      { id: "normal-old", tier: "NORMAL", ps: 0, waited: 100 * STEP, to: "NORMAL" },
      { id: "low-one-step", tier: "LOW", ps: 500, waited: STEP, to: "LOW" },
      { id: "low-nearly-two", tier: "LOW", ps: 400, waited: 2 * STEP - 1, to: "LOW" },
      { id: "low-two-steps", tier: "LOW", ps: 300, waited: 2 * STEP, to: "NORMAL" },
      // the lowest score of its tier (score 1000, published at the epoch): the first of the range
      { id: "low-at-epoch", tier: "LOW", ps: 1000, waited: NOW, to: "NORMAL" },
      { id: "bg-nearly-one", tier: "BACKGROUND", ps: 900, waited: STEP - 1, to: "BACKGROUND" },
      { id: "bg-one-step", tier: "BACKGROUND", ps: 800, waited: STEP, to: "LOW" },
      { id: "bg-nearly-two", tier: "BACKGROUND", ps: 700, waited: 2 * STEP - 1, to: "LOW" },
      { id: "bg-two-steps", tier: "BACKGROUND", ps: 600, waited: 2 * STEP, to: "NORMAL" },
      { id: "bg-ancient", tier: "BACKGROUND", ps: 0, waited: 1000 * STEP, to: "NORMAL" },
    ];
    const q = await queueOf(members);

    expect(await t.scripts.age(q, NOW, STEP, 1000)).toBe(6);
    // same priority score and publish time, new tier; the set's order follows
    expect(await zentries(t.redis, q.pending)).toEqual(byScore(entries(members.map((m) => ({ ...m, tier: m.to })))));
  });

  it("raises nothing more on a repeat at the same time, and raises a LOW-by-aging id again once it is two steps old", async () => {
    const q = await queueOf([{ id: "bg", tier: "BACKGROUND", ps: 10, waited: STEP }]);
    expect(await t.scripts.age(q, NOW, STEP, 1000)).toBe(1);
    expect(await t.scripts.age(q, NOW, STEP, 1000)).toBe(0);
    expect(await zentries(t.redis, q.pending)).toEqual(entries([{ id: "bg", tier: "LOW", ps: 10, waited: STEP }]));

    expect(await t.scripts.age(q, NOW + STEP, STEP, 1000)).toBe(1);
    expect(await zentries(t.redis, q.pending)).toEqual(entries([{ id: "bg", tier: "NORMAL", ps: 10, waited: STEP }]));
  });

  it("does nothing on an empty or all-young queue", async () => {
    const empty = t.newQueue();
    expect(await ageOnce(empty, 10, 0)).toEqual([0, -1]);
    expect(await t.redis.exists(empty.pending)).toBe(0);

    const young = await queueOf([
      { id: "low", tier: "LOW", ps: 1, waited: 0 },
      { id: "bg", tier: "BACKGROUND", ps: 1, waited: STEP - 1 },
    ]);
    const before = await zentries(t.redis, young.pending);
    expect(await t.scripts.age(young, NOW, STEP, 1000)).toBe(0);
    expect(await zentries(t.redis, young.pending)).toEqual(before);
  });

  it("looks at `limit` members from `offset` and answers next = offset + limit − raised, -1 once a call saw fewer than limit", async () => {
    const q = await queueOf([
      { id: "normal", tier: "NORMAL", ps: 0, waited: 100 * STEP }, // outside the range: never counted
      { id: "old-1", tier: "LOW", ps: 1000, waited: 3 * STEP },
      { id: "young-1", tier: "LOW", ps: 900, waited: 0 },
      { id: "old-2", tier: "LOW", ps: 800, waited: 3 * STEP },
      { id: "young-2", tier: "LOW", ps: 700, waited: 0 },
    ]);
    // old-1, young-1: old-1 leaves the range, so young-1 is now first
    expect(await ageOnce(q, 2, 0)).toEqual([1, 1]);
    // young-1 old-2 young-2, from 1: old-2 and young-2
    expect(await ageOnce(q, 2, 1)).toEqual([1, 2]);
    // young-1 young-2, from 2: nothing left
    expect(await ageOnce(q, 2, 2)).toEqual([0, -1]);
    expect((await zentries(t.redis, q.pending)).map(([id]) => id)).toEqual(["old-1", "old-2", "normal", "young-1", "young-2"]);
  });

  it("the sweep in chunks reaches every member: raised ones that stay in range (BACKGROUND → LOW) are looked at again, not skipped", async () => {
    const members: Member[] = [
      { id: "low-young", tier: "LOW", ps: 500, waited: 0 },
      ...[1, 2, 3, 4, 5].map((i): Member => ({ id: `bg-${i}`, tier: "BACKGROUND", ps: 1000 - i, waited: STEP })),
      ...[1, 2, 3].map((i): Member => ({ id: `low-old-${i}`, tier: "LOW", ps: 100 - i, waited: 2 * STEP })),
    ];
    const q = await queueOf(members);
    expect(await t.scripts.age(q, NOW, STEP, 2)).toBe(8);
    const raised = members.map((m): Member => ({ ...m, tier: m.id.startsWith("low-old") ? "NORMAL" : "LOW" }));
    expect(await zentries(t.redis, q.pending)).toEqual(byScore(entries(raised)));
  });

  // next = offset + limit − raised is 0 here, so "done" must be told apart from it (-1)
  it("the sweep raises every due member even when its first chunk raises all it looked at", async () => {
    const q = await queueOf([1, 2, 3].map((i): Member => ({ id: `low-${i}`, tier: "LOW", ps: i, waited: 2 * STEP })));
    expect(await t.scripts.age(q, NOW, STEP, 2)).toBe(3);
  });
});
