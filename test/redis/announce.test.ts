import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import { REDIS_URL, T0, useRedis } from "./support.js";

/* announce-1.lua through QueueScripts.announce, against real Redis. */

const t = useRedis("announce");

describe("announce", () => {
  it("publishes the payload and notes every completion id as published at now, past unpack's limit too", async () => {
    const channel = t.keys.events(randomUUID());
    const sub = new Redis(REDIS_URL);
    const got: string[] = [];
    sub.on("message", (_c: string, payload: string) => got.push(payload));
    await sub.subscribe(channel);
    try {
      const ids = Array.from({ length: 2_500 }, (_, i) => `done-${i}`);
      await t.scripts.announce(channel, '[{"type":"x"}]', T0, ids);
      await t.scripts.announce(channel, '[{"type":"y"}]', T0 + 1, []);
      await expect.poll(() => got).toEqual(['[{"type":"x"}]', '[{"type":"y"}]']);
      expect(await t.redis.zcard(t.keys.publishedCompletions)).toBe(2_500);
      expect(await t.redis.zmscore(t.keys.publishedCompletions, "done-0", "done-2499", "done-2500")).toEqual([String(T0), String(T0), null]);
    } finally {
      sub.disconnect();
    }
  });
});
