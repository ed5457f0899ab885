import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import { REDIS_URL, T0, useRedis } from "./support.js";

/* unheard-1.lua through QueueScripts.unheard, against real Redis. */

const t = useRedis("unheard");

describe("unheard", () => {
  it("notes the completions when the channel has no subscriber, and only counts them when it has", async () => {
    const channel = t.keys.events(randomUUID());
    expect(await t.scripts.unheard(channel, T0, ["quiet-1", "quiet-2"])).toBe(0);
    const sub = new Redis(REDIS_URL);
    await sub.subscribe(channel);
    try {
      expect(await t.scripts.unheard(channel, T0, ["heard-1"])).toBe(1);
      expect(await t.redis.zmscore(t.keys.publishedCompletions, "quiet-1", "quiet-2", "heard-1")).toEqual([String(T0), String(T0), null]);
    } finally {
      sub.disconnect();
    }
  });
});
