import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { T0, VIS, claimedQueue, useRedis } from "./support.js";

/*
 * settle-2.lua through QueueScripts.settle, against real Redis: a live claim with its
 * token is settled (lock and claim gone); a claim never made, already settled or lapsed
 * answers noLiveClaim, another token otherClaim; one code per pair, in order.
 */

const t = useRedis("settle");

describe("settle", () => {
  /** A queue with `ids` claimed at T0; returns the claims. */
  const claimed = (ids: string[]) => claimedQueue(t, ids);

  it("settles a live claim with its token: lock and claim are gone", async () => {
    const { q, claims } = await claimed(["a", "b"]);
    expect(await t.scripts.settle(q, T0 + 1, [claims[0]!])).toEqual(["settled"]);
    expect(await t.redis.hgetall(q.locks)).toEqual({ b: claims[1]!.token });
    expect(await t.redis.zrange(q.claims, 0, -1)).toEqual(["b"]);
  });

  it("answers noLiveClaim for an id never claimed and for one already settled", async () => {
    const { q, claims } = await claimed(["a"]);
    expect(await t.scripts.settle(q, T0 + 1, [{ id: "never", token: randomUUID() }])).toEqual(["noLiveClaim"]);
    expect(await t.scripts.settle(q, T0 + 1, claims)).toEqual(["settled"]);
    expect(await t.scripts.settle(q, T0 + 2, claims)).toEqual(["noLiveClaim"]);
  });

  it("answers noLiveClaim once the claim has lapsed, even with the right token", async () => {
    const { q, claims } = await claimed(["just-in-time", "at-expiry", "past-expiry"]);
    const [inTime, atExpiry, past] = [claims[0]!, claims[1]!, claims[2]!];
    expect(await t.scripts.settle(q, T0 + VIS - 1, [inTime])).toEqual(["settled"]);
    // The claim ends at expiry: a settle at exactly that ms is too late.
    expect(await t.scripts.settle(q, T0 + VIS, [atExpiry])).toEqual(["noLiveClaim"]);
    expect(await t.scripts.settle(q, T0 + VIS + 60_000, [past])).toEqual(["noLiveClaim"]);
    // A lapsed claim is left in place for the visibility enforcer to reclaim.
    expect(await t.redis.hgetall(q.locks)).toEqual({ "at-expiry": atExpiry.token, "past-expiry": past.token });
  });

  it("answers otherClaim for a wrong token and leaves the holder's claim intact", async () => {
    const { q, claims } = await claimed(["a"]);
    const holder = claims[0]!;
    expect(await t.scripts.settle(q, T0 + 1, [{ id: "a", token: randomUUID() }])).toEqual(["otherClaim"]);
    expect(await t.redis.hget(q.locks, "a")).toBe(holder.token);
    expect(await t.redis.zscore(q.claims, "a")).toBe(String(T0 + VIS));
    expect(await t.scripts.settle(q, T0 + 2, [holder])).toEqual(["settled"]);
  });

  it("answers one code per pair, in order, in a mixed batch", async () => {
    const { q, claims } = await claimed(["a", "b"]);
    const outcomes = await t.scripts.settle(q, T0 + 1, [
      { id: "b", token: claims[1]!.token },
      { id: "a", token: "not-the-token" },
      { id: "zzz", token: "whatever" },
    ]);
    expect(outcomes).toEqual(["settled", "otherClaim", "noLiveClaim"]);
  });
});
