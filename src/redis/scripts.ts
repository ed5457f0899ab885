import type { Result } from "ioredis";
import { masters, type RedisClient } from "./client.js";
import { loadScripts } from "./script-loader.js";
import type { Keys, QueueKeys } from "./keys.js";
import { settleOutcome, type SettleOutcome } from "./script-codes.js";

const SCRIPTS_DIR = new URL("./scripts/", import.meta.url).pathname;
const REPAIRS_PER_CALL = 1_000;

declare module "ioredis" {
  interface RedisCommander<Context> {
    enqueue(
      pending: string,
      delayed: string,
      scores: string,
      reserved: string,
      reservedAt: string,
      ...args: (string | number)[]
    ): Result<number, Context>;
    admit(
      pending: string,
      delayed: string,
      claims: string,
      reserved: string,
      reservedAt: string,
      ...args: (string | number)[]
    ): Result<[number, number], Context>;
    claim(
      pending: string,
      delayed: string,
      scores: string,
      claims: string,
      locks: string,
      ...args: (string | number)[]
    ): Result<string[], Context>;
    settle(claims: string, locks: string, ...args: (string | number)[]): Result<number[], Context>;
    announce(publishedCompletions: string, channel: string, payload: string, now: number, ...completionIds: string[]): Result<number, Context>;
    unheard(publishedCompletions: string, channel: string, now: number, ...completionIds: string[]): Result<number, Context>;
    depth(pending: string, delayed: string, claims: string): Result<[number, number, number], Context>;
    requeue(
      pending: string,
      delayed: string,
      scores: string,
      claims: string,
      locks: string,
      ...args: (string | number)[]
    ): Result<number, Context>;
    remove(pending: string, delayed: string, scores: string, claims: string, locks: string, ...ids: string[]): Result<number, Context>;
    extend(claims: string, locks: string, id: string, token: string, expiresAt: number): Result<number, Context>;
    promote(pending: string, delayed: string, scores: string, now: number, limit: number): Result<number, Context>;
    age(pending: string, now: number, stepMs: number, limit: number, offset: number): Result<[number, number], Context>;
    releaseLease(lease: string, holder: string): Result<number, Context>;
    renewLease(lease: string, holder: string, ms: number): Result<number, Context>;
    rateLimit(keyBucket: string, tenantBucket: string, ...args: number[]): Result<[number, number], Context>;
    repair(
      pending: string,
      delayed: string,
      scores: string,
      claims: string,
      locks: string,
      ...args: (string | number)[]
    ): Result<number, Context>;
  }
}

export type EnqueueItem = { id: string; score: number; visibleAt: number };
export type RepairOp =
  | { op: "requeue"; id: string; score: number; visibleAt: number }
  | { op: "relock"; id: string; token: string; expiresAt: number }
  | { op: "remove"; id: string };
/** Where one id stands in a queue's Redis structures (the reconciler compares it with MariaDB). */
export type InRedis = { queued: boolean; claimed: boolean; lock: string | null };
export type ScannedStructure = "pending" | "delayed" | "claims" | "locks";
export type Depth = { ready: number; delayed: number; claimed: number };

/**
 * The one caller of our Lua scripts. defineCommand sends EVAL the first time on each
 * connection, EVALSHA after, and EVAL again on NOSCRIPT (a restart, SCRIPT FLUSH). On a
 * cluster each node has its own connection, so each node (a replica just promoted
 * too) gets the script the first time a command for its slots runs there.
 */
export class QueueScripts {
  constructor(
    private readonly redis: RedisClient,
    readonly keys: Keys,
  ) {
    for (const s of loadScripts(SCRIPTS_DIR)) {
      redis.defineCommand(s.name, { numberOfKeys: s.numberOfKeys, lua: s.lua });
    }
  }

  /** Whether Redis is connected; when not, operations take their MariaDB-only path. */
  available(): boolean {
    return this.redis.status === "ready";
  }

  /** Makes ids claimable; with a reservation, also drops `dropped` and releases the reservation. */
  async enqueue(q: QueueKeys, items: EnqueueItem[], admission: { reservation: string; dropped: string[] } | null = null): Promise<number> {
    const args = items.flatMap((i) => [i.id, i.score, i.visibleAt]);
    const dropped = admission?.dropped ?? [];
    return this.redis.enqueue(q.pending, q.delayed, q.scores, q.reserved, q.reservedAt, admission?.reservation ?? "", dropped.length, ...dropped, ...args);
  }

  /** Reserves room in a queue with a maxDepth (admit-5.lua). */
  async admit(
    q: QueueKeys,
    a: { now: number; ttlMs: number; maxDepth: number; n: number; reservation: string; policy: string },
  ): Promise<{ admitted: number; drops: number }> {
    const [admitted, drops] = await this.redis.admit(q.pending, q.delayed, q.claims, q.reserved, q.reservedAt, a.now, a.ttlMs, a.maxDepth, a.n, a.reservation, a.policy);
    return { admitted, drops };
  }

  async claim(
    q: QueueKeys,
    opts: { now: number; visibilityMs: number; tokens: string[] },
  ): Promise<{ id: string; token: string }[]> {
    const flat = await this.redis.claim(
      q.pending,
      q.delayed,
      q.scores,
      q.claims,
      q.locks,
      opts.now,
      opts.visibilityMs,
      ...opts.tokens,
    );
    const out: { id: string; token: string }[] = [];
    for (let i = 0; i < flat.length; i += 2) out.push({ id: flat[i]!, token: flat[i + 1]! });
    return out;
  }

  async settle(q: QueueKeys, now: number, claims: { id: string; token: string }[]): Promise<SettleOutcome[]> {
    const codes = await this.redis.settle(q.claims, q.locks, now, ...claims.flatMap((c) => [c.id, c.token]));
    return codes.map(settleOutcome);
  }

  /**
   * PUBLISHes events and notes the completions among them as published, in one round
   * trip (announce-1.lua), so a complete's Redis work is its settle and this, and a
   * completion is noted exactly when its PUBLISH went out. Its effect on benchmark
   * scenario 2 is within the noise (docs/performance.md, log 2026-11-30 06:48).
   */
  async announce(channel: string, payload: string, now: number, completionIds: string[]): Promise<number> {
    return this.redis.announce(this.keys.publishedCompletions, channel, payload, now, ...completionIds);
  }

  /**
   * A channel's subscriber count; when it is 0, the completions are noted as published
   * (unheard-1.lua). Counts only one node's subscribers on a cluster: not for clusters.
   */
  async unheard(channel: string, now: number, completionIds: string[]): Promise<number> {
    return this.redis.unheard(this.keys.publishedCompletions, channel, now, ...completionIds);
  }

  /** Ends claims in Redis and makes the ids claimable again (at visibleAt). */
  async requeue(q: QueueKeys, now: number, items: EnqueueItem[]): Promise<number> {
    const args = items.flatMap((i) => [i.id, i.score, i.visibleAt]);
    return this.redis.requeue(q.pending, q.delayed, q.scores, q.claims, q.locks, now, ...args);
  }

  /** Takes ids out of every Redis structure of the queue. */
  async remove(q: QueueKeys, ids: string[]): Promise<number> {
    return ids.length ? this.redis.remove(q.pending, q.delayed, q.scores, q.claims, q.locks, ...ids) : 0;
  }

  async extend(q: QueueKeys, id: string, token: string, expiresAt: number): Promise<boolean> {
    return (await this.redis.extend(q.claims, q.locks, id, token, expiresAt)) === 1;
  }

  async promote(q: QueueKeys, now: number, limit: number): Promise<number> {
    return this.redis.promote(q.pending, q.delayed, q.scores, now, limit);
  }

  /**
   * Priority aging of a PRIORITY queue, `chunk` members per script call so Redis is
   * never blocked long; `sinceEpochMs` is now in the ordering epoch.
   */
  async age(q: QueueKeys, sinceEpochMs: number, stepMs: number, chunk: number): Promise<number> {
    let raised = 0;
    let offset = 0;
    do {
      const [n, next] = await this.redis.age(q.pending, sinceEpochMs, stepMs, chunk, offset);
      raised += n;
      offset = next;
    } while (offset >= 0);
    return raised;
  }

  async takeLease(lease: string, holder: string, ms: number): Promise<boolean> {
    return (await this.redis.set(lease, holder, "PX", ms, "NX")) === "OK";
  }

  async sentinelPresent(): Promise<boolean> {
    return (await this.redis.exists(this.keys.sentinel)) === 1;
  }

  /**
   * The run id of every master now serving our keys. It changes when a server restarts
   * or a replica takes over from a failed master, both of which may lose the last
   * writes (replication and persistence are asynchronous) while the sentinel survives.
   */
  async serverIds(): Promise<string> {
    const ids = await Promise.all(masters(this.redis).map(async (m) => /run_id:(\w+)/.exec(await m.info("server"))?.[1] ?? "?"));
    return ids.sort().join(",");
  }

  async setSentinel(): Promise<void> {
    await this.redis.set(this.keys.sentinel, "1");
  }

  /** How far an agent has got (ms), as the last sweep, in any process, left it. */
  async readMark(agent: string): Promise<number | null> {
    const v = await this.redis.get(this.keys.agentMark(agent));
    return v === null ? null : Number(v);
  }

  async writeMark(agent: string, ms: number): Promise<void> {
    await this.redis.set(this.keys.agentMark(agent), String(ms));
  }

  /**
   * Takes up to `wanted` operations from a key's and its tenant's rate limit
   * (rateLimit-2.lua); an interval of 0 ms leaves that bucket unlimited. Answers how many
   * were taken, or 0 and the ms to wait.
   */
  async rateLimit(
    buckets: { key: string; tenant: string },
    now: number,
    key: { intervalMs: number; burst: number },
    tenant: { intervalMs: number; burst: number },
    wanted = 1,
  ): Promise<{ taken: number; waitMs: number }> {
    const [taken, waitMs] = await this.redis.rateLimit(buckets.key, buckets.tenant, now, key.intervalMs, key.burst, tenant.intervalMs, tenant.burst, wanted);
    return { taken, waitMs };
  }

  async releaseLease(lease: string, holder: string): Promise<void> {
    await this.redis.releaseLease(lease, holder);
  }

  /** False when the lease lapsed and another process may hold it now. */
  async renewLease(lease: string, holder: string, ms: number): Promise<boolean> {
    return (await this.redis.renewLease(lease, holder, ms)) === 1;
  }

  /**
   * Applies repairs REPAIRS_PER_CALL at a time: after a FLUSHALL there may be a million,
   * and one call's arguments are spread onto the stack (10,000 overflowed it).
   */
  async repair(q: QueueKeys, now: number, ops: RepairOp[]): Promise<number> {
    let n = 0;
    for (let i = 0; i < ops.length; i += REPAIRS_PER_CALL) {
      const args = ops
        .slice(i, i + REPAIRS_PER_CALL)
        .flatMap((o) =>
          o.op === "requeue" ? [o.op, o.id, o.score, o.visibleAt] : o.op === "relock" ? [o.op, o.id, o.token, o.expiresAt] : [o.op, o.id, "", ""],
        );
      n += await this.redis.repair(q.pending, q.delayed, q.scores, q.claims, q.locks, now, ...args);
    }
    return n;
  }

  /**
   * Where each id stands in the queue's Redis structures, read in one pipeline (the keys
   * share a slot). Read-only and not atomic: the reconciler re-reads before it repairs.
   */
  async lookup(q: QueueKeys, ids: string[]): Promise<InRedis[]> {
    if (!ids.length) return [];
    const res = await this.redis
      .pipeline()
      .zmscore(q.pending, ...ids)
      .zmscore(q.delayed, ...ids)
      .zmscore(q.claims, ...ids)
      .hmget(q.locks, ...ids)
      .exec();
    const [ready, delayed, claims, locks] = res!.map(([err, v]) => {
      if (err) throw err;
      return v as (string | null)[];
    });
    return ids.map((_, i) => ({
      queued: ready![i] !== null || delayed![i] !== null,
      claimed: claims![i] !== null,
      lock: locks![i] ?? null,
    }));
  }

  /**
   * One step of a SCAN over one of the queue's structures (ZSCAN / HSCAN): about `count`
   * ids and the cursor to go on from, "0" when the scan is through. Every id present for
   * the whole scan is returned at least once.
   */
  async scan(q: QueueKeys, structure: ScannedStructure, cursor: string, count: number): Promise<{ cursor: string; ids: string[] }> {
    const key = q[structure];
    const [next, flat] = structure === "locks" ? await this.redis.hscan(key, cursor, "COUNT", count) : await this.redis.zscan(key, cursor, "COUNT", count);
    const ids: string[] = [];
    for (let i = 0; i < flat.length; i += 2) ids.push(flat[i]!);
    return { cursor: next, ids };
  }

  async depth(q: QueueKeys): Promise<Depth> {
    const [ready, delayed, claimed] = await this.redis.depth(q.pending, q.delayed, q.claims);
    return { ready, delayed, claimed };
  }
}
