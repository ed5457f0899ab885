import { randomBytes, randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect } from "vitest";
import { Redis } from "ioredis";
import { createKeys, type Keys, type QueueKeys } from "../../src/redis/keys.js";
import { QueueScripts } from "../../src/redis/scripts.js";

/*
 * Shared by the direct script tests in test/redis/ (one file per Lua script): one Redis
 * client per file with a key prefix of its own, a queue of its own per test (isolation by
 * key namespace, never by flushing), the time a number the tests step, and the file's
 * keys deleted when it ends.
 */

export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
export const T0 = 1_800_000_000_000; // a fixed "now" in ms
export const VIS = 30_000; // visibility timeout in ms

export const tokens = (n: number) => Array.from({ length: n }, () => randomUUID());

export type RedisFixture = {
  readonly redis: Redis;
  readonly scripts: QueueScripts;
  readonly keys: Keys;
  /** A queue of its own for each test. */
  newQueue(): QueueKeys;
  /** newQueue() with `entries` enqueued. */
  queueWith(entries: Parameters<QueueScripts["enqueue"]>[1]): Promise<QueueKeys>;
};

/** Registers the file's beforeAll / afterAll: a client and QueueScripts on `sqt-<name>-<random>:*`. */
export function useRedis(name: string): RedisFixture {
  const keys = createKeys(`sqt-${name}-${randomBytes(4).toString("hex")}`);
  let redis: Redis | undefined;
  let scripts: QueueScripts | undefined;

  beforeAll(() => {
    redis = new Redis(REDIS_URL);
    scripts = new QueueScripts(redis, keys);
  });

  afterAll(async () => {
    if (!redis) return;
    try {
      await deleteMatching(redis, keys.all);
      const [, left] = await redis.scan("0", "MATCH", keys.all, "COUNT", 10_000);
      if (left.length) throw new Error(`keys left behind under ${keys.all}: ${left.join(", ")}`);
    } finally {
      redis.disconnect();
    }
  });

  const newQueue = () => keys.queue(randomUUID(), randomUUID());
  return {
    get redis() {
      if (!redis) throw new Error("the Redis fixture is used before its beforeAll ran");
      return redis;
    },
    get scripts() {
      if (!scripts) throw new Error("the Redis fixture is used before its beforeAll ran");
      return scripts;
    },
    keys,
    newQueue,
    async queueWith(entries) {
      const q = newQueue();
      await this.scripts.enqueue(q, entries);
      return q;
    },
  };
}

async function deleteMatching(redis: Redis, pattern: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, found] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    if (found.length) await redis.del(...found);
    cursor = next;
  } while (cursor !== "0");
}

/** A sorted set as [member, score] pairs, lowest score first (the order ZPOPMIN hands out). */
export type Entries = [string, number][];

/** The five structures of a queue the claim path uses. */
export type QueueState = {
  pending: Entries;
  delayed: Entries;
  scores: Record<string, number>;
  claims: Entries;
  locks: Record<string, string>;
};

/** A sorted set as ZRANGE … WITHSCORES answers it: member, score, member, score, … */
export const zrange = (redis: Redis, key: string): Promise<string[]> => redis.zrange(key, 0, -1, "WITHSCORES");

export async function zentries(redis: Redis, key: string): Promise<Entries> {
  const flat = await redis.zrange(key, 0, -1, "WITHSCORES");
  const out: Entries = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!, Number(flat[i + 1])]);
  return out;
}

/** Everything the queue holds in pending, delayed, scores, claims and locks. */
export async function stateOf(redis: Redis, q: QueueKeys): Promise<QueueState> {
  const [pending, delayed, scores, claims, locks] = await Promise.all([
    zentries(redis, q.pending),
    zentries(redis, q.delayed),
    redis.hgetall(q.scores),
    zentries(redis, q.claims),
    redis.hgetall(q.locks),
  ]);
  return { pending, delayed, scores: Object.fromEntries(Object.entries(scores).map(([k, v]) => [k, Number(v)])), claims, locks };
}

export const EMPTY: QueueState = { pending: [], delayed: [], scores: {}, claims: [], locks: {} };

/** Writes a state straight into the structures, so a test can start from any state, even a broken one. */
export async function seed(redis: Redis, q: QueueKeys, s: Partial<QueueState>): Promise<void> {
  const m = redis.multi();
  const zadd = (key: string, entries: Entries | undefined) => {
    if (entries?.length) m.zadd(key, ...entries.flatMap(([id, score]) => [score, id]));
  };
  const hset = (key: string, h: Record<string, string | number> | undefined) => {
    if (h && Object.keys(h).length) m.hset(key, h);
  };
  zadd(q.pending, s.pending);
  zadd(q.delayed, s.delayed);
  hset(q.scores, s.scores);
  zadd(q.claims, s.claims);
  hset(q.locks, s.locks);
  await m.exec();
}

/** A queue of the fixture's with `ids` claimed at T0 (expiry T0 + VIS), in that order. */
export async function claimedQueue(t: RedisFixture, ids: string[]) {
  const q = t.newQueue();
  await t.scripts.enqueue(q, ids.map((id, i) => ({ id, score: i, visibleAt: 0 })));
  const claims = await t.scripts.claim(q, { now: T0, visibilityMs: VIS, tokens: tokens(ids.length) });
  expect(claims.map((c) => c.id)).toEqual(ids);
  return { q, claims };
}
