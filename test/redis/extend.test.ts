import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { claimedQueue, EMPTY, T0, VIS, seed, stateOf, useRedis } from "./support.js";

/*
 * extend-2.lua through QueueScripts.extend, against real Redis: the claim's expiry
 * becomes the one given when the lock still holds the caller's token; a wrong token or
 * a lock that is gone answers false and changes nothing. The script takes no time:
 * whether the claim is still live is MariaDB's call (fail-release-extend.ts), made
 * before it runs.
 */

const t = useRedis("extend");

const claimed = (ids: string[]) => claimedQueue(t, ids);

describe("extend-2.lua", () => {
  it("with the lock's token, sets the claim's expiry to the one given and answers true; other claims stay", async () => {
    const { q, claims } = await claimed(["a", "b"]);
    const [a, b] = [claims[0]!, claims[1]!];
    expect(await t.scripts.extend(q, "a", a.token, T0 + VIS + 60_000)).toBe(true);
    expect(await stateOf(t.redis, q)).toEqual({
      ...EMPTY,
      claims: [["b", T0 + VIS], ["a", T0 + VIS + 60_000]],
      locks: { a: a.token, b: b.token },
    });
  });

  it("sets exactly the expiry given each time, an earlier one too (MariaDB's claimExpiresAt = now + extendBy)", async () => {
    const { q, claims } = await claimed(["a"]);
    const a = claims[0]!;
    expect(await t.scripts.extend(q, "a", a.token, T0 + 5 * VIS)).toBe(true);
    expect(await t.scripts.extend(q, "a", a.token, T0 + 5 * VIS)).toBe(true);
    expect(await t.redis.zscore(q.claims, "a")).toBe(String(T0 + 5 * VIS));
    expect(await t.scripts.extend(q, "a", a.token, T0 + 2_000)).toBe(true);
    expect(await t.redis.zscore(q.claims, "a")).toBe(String(T0 + 2_000));
  });

  it("answers false for a wrong token and leaves the holder's lock and expiry as they were", async () => {
    const { q, claims } = await claimed(["a"]);
    const before = await stateOf(t.redis, q);
    expect(await t.scripts.extend(q, "a", randomUUID(), T0 + 10 * VIS)).toBe(false);
    expect(await t.scripts.extend(q, "a", "", T0 + 10 * VIS)).toBe(false);
    expect(await stateOf(t.redis, q)).toEqual(before);
    expect(await t.scripts.extend(q, "a", claims[0]!.token, T0 + 10 * VIS)).toBe(true);
  });

  it("answers false once the lock is gone (settled, requeued) and for an id never claimed, and creates no claim", async () => {
    const { q, claims } = await claimed(["settled", "requeued"]);
    const [settled, requeued] = [claims[0]!, claims[1]!];
    expect(await t.scripts.settle(q, T0 + 1, [settled])).toEqual(["settled"]);
    await t.scripts.requeue(q, T0 + 1, [{ id: "requeued", score: 7, visibleAt: 0 }]);

    expect(await t.scripts.extend(q, "settled", settled.token, T0 + 10 * VIS)).toBe(false);
    expect(await t.scripts.extend(q, "requeued", requeued.token, T0 + 10 * VIS)).toBe(false);
    expect(await t.scripts.extend(q, "never", randomUUID(), T0 + 10 * VIS)).toBe(false);
    expect(await stateOf(t.redis, q)).toEqual({ ...EMPTY, pending: [["requeued", 7]] });
  });

  it("extends a claim whose expiry has passed while its lock still holds the token (no time in the script)", async () => {
    const { q, claims } = await claimed(["late"]);
    // T0 + VIS has passed; the visibility enforcer has not requeued it yet
    expect(await t.scripts.extend(q, "late", claims[0]!.token, T0 + 3 * VIS)).toBe(true);
    expect(await t.redis.zscore(q.claims, "late")).toBe(String(T0 + 3 * VIS));
  });

  it("never adds a claim entry: a lock left without one (after a repair) stays without one", async () => {
    const q = t.newQueue();
    await seed(t.redis, q, { locks: { orphan: "tok" } });
    // The answer is true here, though nothing was extended (see the report).
    await t.scripts.extend(q, "orphan", "tok", T0 + VIS);
    expect(await stateOf(t.redis, q)).toEqual({ ...EMPTY, locks: { orphan: "tok" } });
  });
});
