import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import { createKeys, type QueueKeys } from "../src/redis/keys.js";
import { QueueScripts } from "../src/redis/scripts.js";
import { deleteKeys, uniq } from "./support/server.js";
import { createLogger } from "../src/logger.js";
import { startAgents, type SweepRecord } from "../src/agents/runner.js";

/*
 * Every Lua script through its typed wrapper, against real Redis. The scripts take the
 * time as an argument, so the clock here is a number we step; nothing sleeps.
 */

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const PREFIX = `sqt${uniq(4)}`;
const keys = createKeys(PREFIX);
const T0 = 1_800_000_000_000; // a fixed "now" in ms
const VIS = 30_000; // visibility timeout in ms

let redis: Redis;
let scripts: QueueScripts;

beforeAll(async () => {
  redis = new Redis(REDIS_URL);
  scripts = new QueueScripts(redis, keys);
});

afterAll(async () => {
  redis?.disconnect();
  await deleteKeys(REDIS_URL, keys.all);
});

/** A queue of its own for each test: isolation by key namespace, not by flushing. */
const newQueue = (): QueueKeys => keys.queue(randomUUID(), randomUUID());
const tokens = (n: number) => Array.from({ length: n }, () => randomUUID());
const zrange = (key: string) => redis.zrange(key, 0, -1, "WITHSCORES");

describe("enqueue", () => {
  it("puts ready ids in pending by order score and delayed ids in delayed by visible-at, keeping their score", async () => {
    const q = newQueue();
    const n = await scripts.enqueue(q, [
      { id: "a", score: 10, visibleAt: 0 },
      { id: "b", score: 5, visibleAt: 0 },
      { id: "c", score: 7, visibleAt: T0 + 1_000 },
    ]);
    expect(n).toBe(3);
    expect(await zrange(q.pending)).toEqual(["b", "5", "a", "10"]);
    expect(await zrange(q.delayed)).toEqual(["c", String(T0 + 1_000)]);
    // Only delayed ids need their order score kept aside.
    expect(await redis.hgetall(q.scores)).toEqual({ c: "7" });
    expect(await redis.exists(q.claims, q.locks)).toBe(0);
  });
});

describe("announce", () => {
  it("publishes the payload and notes every completion id as published at now, past unpack's limit too", async () => {
    const channel = keys.events(randomUUID());
    const sub = new Redis(REDIS_URL);
    const got: string[] = [];
    sub.on("message", (_c: string, payload: string) => got.push(payload));
    await sub.subscribe(channel);
    try {
      const ids = Array.from({ length: 2_500 }, (_, i) => `done-${i}`);
      await scripts.announce(channel, '[{"type":"x"}]', T0, ids);
      await scripts.announce(channel, '[{"type":"y"}]', T0 + 1, []);
      await expect.poll(() => got).toEqual(['[{"type":"x"}]', '[{"type":"y"}]']);
      expect(await redis.zcard(keys.publishedCompletions)).toBe(2_500);
      expect(await redis.zmscore(keys.publishedCompletions, "done-0", "done-2499", "done-2500")).toEqual([String(T0), String(T0), null]);
    } finally {
      sub.disconnect();
    }
  });
});

describe("unheard", () => {
  it("notes the completions when the channel has no subscriber, and only counts them when it has", async () => {
    const channel = keys.events(randomUUID());
    expect(await scripts.unheard(channel, T0, ["quiet-1", "quiet-2"])).toBe(0);
    const sub = new Redis(REDIS_URL);
    await sub.subscribe(channel);
    try {
      expect(await scripts.unheard(channel, T0, ["heard-1"])).toBe(1);
      expect(await redis.zmscore(keys.publishedCompletions, "quiet-1", "quiet-2", "heard-1")).toEqual([String(T0), String(T0), null]);
    } finally {
      sub.disconnect();
    }
  });
});

describe("claim", () => {
  it("hands out the lowest order scores first, at most one per token", async () => {
    const q = newQueue();
    await scripts.enqueue(q, [
      { id: "m3", score: 30, visibleAt: 0 },
      { id: "m1", score: 10, visibleAt: 0 },
      { id: "m5", score: 50, visibleAt: 0 },
      { id: "m2", score: 20, visibleAt: 0 },
      { id: "m4", score: 40, visibleAt: 0 },
    ]);
    const batches: string[][] = [];
    for (let i = 0; i < 4; i++) {
      const t = tokens(2);
      const got = await scripts.claim(q, { now: T0, visibilityMs: VIS, tokens: t });
      // Each id comes back with the token given for its slot.
      expect(got.map((c) => c.token)).toEqual(t.slice(0, got.length));
      batches.push(got.map((c) => c.id));
    }
    expect(batches).toEqual([["m1", "m2"], ["m3", "m4"], ["m5"], []]);
  });

  it("takes the lock and records the claim's expiry at now + visibility", async () => {
    const q = newQueue();
    await scripts.enqueue(q, [
      { id: "a", score: 1, visibleAt: 0 },
      { id: "b", score: 2, visibleAt: 0 },
    ]);
    const [claimed] = await scripts.claim(q, { now: T0, visibilityMs: VIS, tokens: tokens(1) });
    expect(claimed!.id).toBe("a");
    expect(await redis.hgetall(q.locks)).toEqual({ a: claimed!.token });
    expect(await zrange(q.claims)).toEqual(["a", String(T0 + VIS)]);
    expect(await zrange(q.pending)).toEqual(["b", "2"]);
  });

  it("returns nothing and writes nothing on an empty queue", async () => {
    const q = newQueue();
    expect(await scripts.claim(q, { now: T0, visibilityMs: VIS, tokens: tokens(3) })).toEqual([]);
    expect(await redis.exists(q.pending, q.delayed, q.scores, q.claims, q.locks)).toBe(0);
  });

  it("keeps a delayed id until its visible-at, then promotes it with its stored order score", async () => {
    const q = newQueue();
    const visibleAt = T0 + 5_000;
    await scripts.enqueue(q, [
      { id: "ready-10", score: 10, visibleAt: 0 },
      { id: "ready-20", score: 20, visibleAt: 0 },
      // Lowest order score of all, but not visible yet.
      { id: "late-1", score: 1, visibleAt },
    ]);

    const early = await scripts.claim(q, { now: visibleAt - 1, visibilityMs: VIS, tokens: tokens(1) });
    expect(early.map((c) => c.id)).toEqual(["ready-10"]);
    expect(await scripts.depth(q)).toEqual({ ready: 1, delayed: 1, claimed: 1 });

    // Due at exactly visible-at. It beats ready-20 only if it kept score 1 (not its visible-at).
    const due = await scripts.claim(q, { now: visibleAt, visibilityMs: VIS, tokens: tokens(1) });
    expect(due.map((c) => c.id)).toEqual(["late-1"]);
    expect(await redis.zscore(q.claims, "late-1")).toBe(String(visibleAt + VIS));
    expect(await redis.exists(q.delayed, q.scores)).toBe(0);
    expect(await zrange(q.pending)).toEqual(["ready-20", "20"]);
  });
});

describe("settle", () => {
  /** A queue with `ids` claimed at T0; returns the claims. */
  async function claimed(ids: string[]) {
    const q = newQueue();
    await scripts.enqueue(q, ids.map((id, i) => ({ id, score: i, visibleAt: 0 })));
    const claims = await scripts.claim(q, { now: T0, visibilityMs: VIS, tokens: tokens(ids.length) });
    expect(claims.map((c) => c.id)).toEqual(ids);
    return { q, claims };
  }

  it("settles a live claim with its token: lock and claim are gone", async () => {
    const { q, claims } = await claimed(["a", "b"]);
    expect(await scripts.settle(q, T0 + 1, [claims[0]!])).toEqual(["settled"]);
    expect(await redis.hgetall(q.locks)).toEqual({ b: claims[1]!.token });
    expect(await redis.zrange(q.claims, 0, -1)).toEqual(["b"]);
  });

  it("answers noLiveClaim for an id never claimed and for one already settled", async () => {
    const { q, claims } = await claimed(["a"]);
    expect(await scripts.settle(q, T0 + 1, [{ id: "never", token: randomUUID() }])).toEqual(["noLiveClaim"]);
    expect(await scripts.settle(q, T0 + 1, claims)).toEqual(["settled"]);
    expect(await scripts.settle(q, T0 + 2, claims)).toEqual(["noLiveClaim"]);
  });

  it("answers noLiveClaim once the claim has lapsed, even with the right token", async () => {
    const { q, claims } = await claimed(["just-in-time", "at-expiry", "past-expiry"]);
    const [inTime, atExpiry, past] = [claims[0]!, claims[1]!, claims[2]!];
    expect(await scripts.settle(q, T0 + VIS - 1, [inTime])).toEqual(["settled"]);
    // The claim ends at expiry: a settle at exactly that ms is too late.
    expect(await scripts.settle(q, T0 + VIS, [atExpiry])).toEqual(["noLiveClaim"]);
    expect(await scripts.settle(q, T0 + VIS + 60_000, [past])).toEqual(["noLiveClaim"]);
    // A lapsed claim is left in place for the visibility enforcer to reclaim.
    expect(await redis.hgetall(q.locks)).toEqual({ "at-expiry": atExpiry.token, "past-expiry": past.token });
  });

  it("answers otherClaim for a wrong token and leaves the holder's claim intact", async () => {
    const { q, claims } = await claimed(["a"]);
    const holder = claims[0]!;
    expect(await scripts.settle(q, T0 + 1, [{ id: "a", token: randomUUID() }])).toEqual(["otherClaim"]);
    expect(await redis.hget(q.locks, "a")).toBe(holder.token);
    expect(await redis.zscore(q.claims, "a")).toBe(String(T0 + VIS));
    expect(await scripts.settle(q, T0 + 2, [holder])).toEqual(["settled"]);
  });

  it("answers one code per pair, in order, in a mixed batch", async () => {
    const { q, claims } = await claimed(["a", "b"]);
    const outcomes = await scripts.settle(q, T0 + 1, [
      { id: "b", token: claims[1]!.token },
      { id: "a", token: "not-the-token" },
      { id: "zzz", token: "whatever" },
    ]);
    expect(outcomes).toEqual(["settled", "otherClaim", "noLiveClaim"]);
  });
});

describe("depth", () => {
  it("counts ready, delayed and claimed ids as they move", async () => {
    const q = newQueue();
    expect(await scripts.depth(q)).toEqual({ ready: 0, delayed: 0, claimed: 0 });
    await scripts.enqueue(q, [
      { id: "r1", score: 1, visibleAt: 0 },
      { id: "r2", score: 2, visibleAt: 0 },
      { id: "r3", score: 3, visibleAt: 0 },
      { id: "d1", score: 4, visibleAt: T0 + 1_000 },
      { id: "d2", score: 5, visibleAt: T0 + 2_000 },
    ]);
    expect(await scripts.depth(q)).toEqual({ ready: 3, delayed: 2, claimed: 0 });
    const claims = await scripts.claim(q, { now: T0, visibilityMs: VIS, tokens: tokens(1) });
    expect(await scripts.depth(q)).toEqual({ ready: 2, delayed: 2, claimed: 1 });
    await scripts.settle(q, T0 + 1, claims);
    expect(await scripts.depth(q)).toEqual({ ready: 2, delayed: 2, claimed: 0 });
    // A claim at T0 + 1s promotes d1 (and takes r2, the lowest score).
    await scripts.claim(q, { now: T0 + 1_000, visibilityMs: VIS, tokens: tokens(1) });
    expect(await scripts.depth(q)).toEqual({ ready: 2, delayed: 1, claimed: 1 });
  });
});

describe("claim under real concurrency", () => {
  const CONNECTIONS = 20;
  const MESSAGES = 500;
  const BATCH = 3;
  let conns: Redis[] = [];

  afterAll(() => {
    for (const c of conns) c.disconnect();
  });

  it(`${CONNECTIONS} connections claiming in a loop hand out each of ${MESSAGES} ids exactly once`, async () => {
    const q = newQueue();
    const ids = Array.from({ length: MESSAGES }, (_, i) => `msg-${String(i).padStart(3, "0")}`);
    await scripts.enqueue(q, ids.map((id, i) => ({ id, score: i, visibleAt: 0 })));

    conns = Array.from({ length: CONNECTIONS }, () => new Redis(REDIS_URL));
    // All connected first, so the claim loops really race.
    await Promise.all(conns.map((c) => c.ping()));
    const perWorker = await Promise.all(
      conns.map(async (conn) => {
        const mine = new QueueScripts(conn, keys);
        const got: { id: string; token: string }[] = [];
        for (;;) {
          const batch = await mine.claim(q, { now: T0, visibilityMs: VIS, tokens: tokens(BATCH) });
          if (batch.length === 0) return got;
          got.push(...batch);
        }
      }),
    );

    const all = perWorker.flat();
    expect(all).toHaveLength(MESSAGES);
    expect(all.map((c) => c.id).sort()).toEqual(ids);
    // Every handed-out token is the one holding that id's lock.
    expect(await redis.hgetall(q.locks)).toEqual(Object.fromEntries(all.map((c) => [c.id, c.token])));
    expect(await scripts.depth(q)).toEqual({ ready: 0, delayed: 0, claimed: MESSAGES });
    expect(perWorker.filter((got) => got.length > 0).length).toBeGreaterThan(1);
  });
});

/* The agent runner's Redis lease, with a short lease so a sweep can outlast it. */
const SHORT_LEASE_MS = 600;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("agent lease", () => {
  it("stays with one process through a sweep three times longer than the lease, and never runs longer than the lease unrenewed", async () => {
    const lease = keys.agentLease("slow");
    const ttls: number[] = [];
    const slow = {
      name: "slow",
      intervalMs: 20,
      async runOnce() {
        for (let t = 0; t < 3 * SHORT_LEASE_MS; t += 100) {
          ttls.push(await redis.pttl(lease));
          await sleep(100);
        }
        return 1;
      },
    };
    const sweeps: SweepRecord[] = [];
    const deps = { scripts, clock: Date.now, log: createLogger({ logLevel: "silent" }), onSweep: (r: SweepRecord) => sweeps.push(r), leaseMs: SHORT_LEASE_MS };
    const runners = [startAgents([slow], deps), startAgents([slow], deps)];
    await sleep(4 * 3 * SHORT_LEASE_MS);
    await Promise.all(runners.map((r) => r.stop()));

    expect(sweeps.length).toBeGreaterThanOrEqual(2);
    const sorted = [...sweeps].sort((a, b) => a.startedAt - b.startedAt);
    for (let i = 1; i < sorted.length; i++) expect(sorted[i]!.startedAt).toBeGreaterThanOrEqual(sorted[i - 1]!.endedAt);
    for (const r of sweeps) expect(r.endedAt - r.startedAt).toBeGreaterThan(2 * SHORT_LEASE_MS);
    // held throughout each sweep, yet a holder that died would free it within SHORT_LEASE_MS
    expect(Math.min(...ttls)).toBeGreaterThan(0);
    expect(Math.max(...ttls)).toBeLessThanOrEqual(SHORT_LEASE_MS);
    expect(await redis.exists(lease)).toBe(0);
  });
});
