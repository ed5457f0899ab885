import type { QueueScripts } from "../../redis/scripts.js";
import type { Actor } from "../actor.js";
import type { Clock } from "../deps.js";

/** Operations per second (fractions allowed; 0 = unlimited) and how many may go at once after a quiet spell. */
export type RateLimit = { perSecond: number; burst: number };

/** The deployment's limits: a key's when it has none of its own, and every tenant's. */
export type RateLimitDefaults = { key: RateLimit; tenant: RateLimit };

/** A burst given without a number: one second's worth, at least one operation. */
export const defaultBurst = (perSecond: number): number => Math.max(1, Math.ceil(perSecond));

const interval = (l: RateLimit) => ({ intervalMs: l.perSecond > 0 ? 1000 / l.perSecond : 0, burst: l.burst });

/**
 * Operations are taken from Redis ahead of use, as many as this process used in the
 * last ALLOWANCE_MS (at least 1, at most a hundredth of a second's allowance of the
 * lower limit and within both bursts), and spent here for at most ALLOWANCE_MS. A
 * script call per operation would be a Redis round trip on every request: ~40 µs of
 * server and ~30 µs of Redis CPU of the ~200 µs a `{ __typename }` costs over graphql-ws
 * (`npm run bench:ops`). What is taken ahead comes out of the shared buckets, so no
 * process lets more through than the limits; sizing it by recent use keeps what lapses
 * unspent small, so many processes do not drain a bucket they hardly use. Callers that
 * find the allowance empty wait for one refill together: if each took its own, 64
 * concurrent callers would take 100 each and drain the default burst (benchmark
 * scenario 2).
 */
const AHEAD_S = 0.01;
const ALLOWANCE_MS = 100;
/** Allowances kept before idle ones are swept out. */
const ALLOWANCES_SWEPT_AT = 10_000;

type Refill = { kind: "taken" } | { kind: "refused"; retryAfter: number } | { kind: "open" };
type Allowance = {
  left: number;
  until: number;
  /** operations taken in the current ALLOWANCE_MS window, and in the one before */
  used: number;
  usedBefore: number;
  windowStart: number;
  refill: Promise<Refill> | null;
};

/**
 * Per-key and per-tenant limits, kept in Redis so they hold across processes: one
 * script call takes from both buckets or from neither. While Redis is unreachable every
 * operation goes (fail open): the queue keeps serving through MariaDB then, and
 * refusing all work would turn a Redis outage into a full one.
 */
export class RateLimiter {
  /** tenant/key → what this process took ahead and how fast it has been using it */
  private readonly allowances = new Map<string, Allowance>();

  constructor(
    private readonly scripts: QueueScripts,
    private readonly defaults: RateLimitDefaults,
    private readonly clock: Clock,
    private readonly onError: (err: unknown) => void,
  ) {}

  /**
   * Takes `n` operations from the key's limit (its own, else the default) and its
   * tenant's; more than the smaller burst count as that burst, since no more could ever
   * go at once. Answers null when they may go, else the seconds until they may (at
   * least 1); what was taken of them by then is spent.
   */
  async take(actor: Actor, own: RateLimit | null, n = 1): Promise<number | null> {
    const key = own ?? this.defaults.key;
    const tenant = this.defaults.tenant;
    if ((key.perSecond === 0 && tenant.perSecond === 0) || !this.scripts.available()) return null;
    const a = this.allowance(`${actor.tenantId}/${actor.keyId}`, this.clock());
    let need = Math.min(n, ...[key, tenant].filter((l) => l.perSecond > 0).map((l) => l.burst));
    a.used += need;
    for (;;) {
      if (a.left > 0 && this.clock() < a.until) {
        const got = Math.min(a.left, need);
        a.left -= got;
        need -= got;
        if (need === 0) return null;
        continue;
      }
      a.refill ??= this.refill(a, actor, key, tenant, need).finally(() => (a.refill = null));
      const r = await a.refill;
      if (r.kind === "refused") return r.retryAfter;
      if (r.kind === "open") return null;
    }
  }

  private allowance(id: string, now: number): Allowance {
    let a = this.allowances.get(id);
    if (!a) {
      if (this.allowances.size >= ALLOWANCES_SWEPT_AT) {
        for (const [k, x] of this.allowances) if (!x.refill && x.windowStart + 2 * ALLOWANCE_MS <= now) this.allowances.delete(k);
      }
      a = { left: 0, until: 0, used: 0, usedBefore: 0, windowStart: now, refill: null };
      this.allowances.set(id, a);
    }
    if (now - a.windowStart >= ALLOWANCE_MS) {
      a.usedBefore = now - a.windowStart < 2 * ALLOWANCE_MS ? a.used : 0;
      a.used = 0;
      a.windowStart = now;
    }
    return a;
  }

  private async refill(a: Allowance, actor: Actor, key: RateLimit, tenant: RateLimit, need: number): Promise<Refill> {
    const now = this.clock();
    try {
      const { taken, waitMs } = await this.scripts.rateLimit(
        this.scripts.keys.rateLimit(actor.tenantId, actor.keyId),
        now,
        interval(key),
        interval(tenant),
        // what the last window used, or the callers of this one if more are waiting already; at least what this caller needs
        Math.max(need, Math.min(Math.max(a.usedBefore, a.used), aheadAtMost(key, tenant))),
      );
      if (!taken) return { kind: "refused", retryAfter: Math.max(1, Math.ceil(waitMs / 1000)) };
      a.left = (now < a.until ? a.left : 0) + taken;
      a.until = now + ALLOWANCE_MS;
      return { kind: "taken" };
    } catch (err) {
      this.onError(err);
      return { kind: "open" };
    }
  }
}

/** The most one call takes ahead: AHEAD_S of the lower limit, within both bursts. */
function aheadAtMost(key: RateLimit, tenant: RateLimit): number {
  const limited = [key, tenant].filter((l) => l.perSecond > 0);
  return Math.max(1, Math.floor(Math.min(...limited.map((l) => Math.min(l.perSecond * AHEAD_S, l.burst)))));
}
