import { describe, expect, it } from "vitest";
import { T0, useRedis, zrange } from "./support.js";

/* enqueue-5.lua through QueueScripts.enqueue, against real Redis. */

const t = useRedis("enqueue");

describe("enqueue", () => {
  it("puts ready ids in pending by order score and delayed ids in delayed by visible-at, keeping their score", async () => {
    const q = t.newQueue();
    const n = await t.scripts.enqueue(q, [
      { id: "a", score: 10, visibleAt: 0 },
      { id: "b", score: 5, visibleAt: 0 },
      { id: "c", score: 7, visibleAt: T0 + 1_000 },
    ]);
    expect(n).toBe(3);
    expect(await zrange(t.redis, q.pending)).toEqual(["b", "5", "a", "10"]);
    expect(await zrange(t.redis, q.delayed)).toEqual(["c", String(T0 + 1_000)]);
    // Only delayed ids need their order score kept aside.
    expect(await t.redis.hgetall(q.scores)).toEqual({ c: "7" });
    expect(await t.redis.exists(q.claims, q.locks)).toBe(0);
  });
});
