import type { QueueScripts } from "../redis/scripts.js";
import type { Actor } from "./actor.js";
import type { Clock } from "./deps.js";

/** Operations per second (fractions allowed; 0 = unlimited) and how many may go at once after a quiet spell. */
export type RateLimit = { perSecond: number; burst: number };

/** The deployment's limits: a key's when it has none of its own, and every tenant's. */
export type RateLimitDefaults = { key: RateLimit; tenant: RateLimit };

/** A burst given without a number: one second's worth, at least one operation. */
export const defaultBurst = (perSecond: number): number => Math.max(1, Math.ceil(perSecond));

const interval = (l: RateLimit) => ({ intervalMs: l.perSecond > 0 ? 1000 / l.perSecond : 0, burst: l.burst });

/**
 * How far ahead one Redis call takes operations: a hundredth of a second's allowance
 * (100 at the default 10,000/s; 1, i.e. exact, below 200/s), kept in the process for at
 * most ALLOWANCE_MS. One call per operation was a Redis round trip on every request:
 * ~40 µs of server and ~30 µs of Redis CPU of the ~200 µs a `{ __typename }` costs over
 * graphql-ws (`npm run bench:ops`). Operations taken ahead are taken from the shared
 * buckets, so no process ever lets more through than the limits; those not used in
 * time are lost, which only matters to a key that is nowhere near its limit.
 */
const AHEAD_S = 0.01;
const ALLOWANCE_MS = 100;
/** Allowances kept before expired ones are swept out. */
const ALLOWANCES_SWEPT_AT = 10_000;

/**
 * Per-key and per-tenant limits, kept in Redis so they hold across processes: one
 * script call takes from both buckets or from neither. While Redis is unreachable every
 * operation goes (fail open): the queue keeps serving through MariaDB then, and
 * refusing all work would turn a Redis outage into a full one.
 */
export class RateLimiter {
  /** tenant/key → operations taken ahead and not used yet, and until when they may be */
  private readonly allowances = new Map<string, { left: number; until: number }>();

  constructor(
    private readonly scripts: QueueScripts,
    private readonly defaults: RateLimitDefaults,
    private readonly clock: Clock,
    private readonly onError: (err: unknown) => void,
  ) {}

  /**
   * Takes one operation from the key's limit (its own, else the default) and its
   * tenant's. Answers null when it may go, else the seconds until it may (at least 1).
   */
  async take(actor: Actor, own: RateLimit | null): Promise<number | null> {
    const key = own ?? this.defaults.key;
    const tenant = this.defaults.tenant;
    if ((key.perSecond === 0 && tenant.perSecond === 0) || !this.scripts.available()) return null;
    const id = `${actor.tenantId}/${actor.keyId}`;
    const now = this.clock();
    const ahead = this.allowances.get(id);
    if (ahead && ahead.left > 0 && now < ahead.until) {
      ahead.left--;
      return null;
    }
    try {
      const { taken, waitMs } = await this.scripts.rateLimit(
        this.scripts.keys.rateLimit(actor.tenantId, actor.keyId),
        now,
        interval(key),
        interval(tenant),
        aheadOf(key, tenant),
      );
      if (!taken) return Math.max(1, Math.ceil(waitMs / 1000));
      if (taken > 1) this.keep(id, taken - 1, now);
      return null;
    } catch (err) {
      this.onError(err);
      return null;
    }
  }

  private keep(id: string, left: number, now: number): void {
    if (this.allowances.size >= ALLOWANCES_SWEPT_AT) {
      for (const [k, a] of this.allowances) if (a.until <= now) this.allowances.delete(k);
    }
    const ahead = this.allowances.get(id);
    const stillGood = ahead && now < ahead.until ? ahead.left : 0;
    this.allowances.set(id, { left: stillGood + left, until: now + ALLOWANCE_MS });
  }
}

/** Operations one call may take ahead: AHEAD_S of the lower limit, within both bursts. */
function aheadOf(key: RateLimit, tenant: RateLimit): number {
  const limited = [key, tenant].filter((l) => l.perSecond > 0);
  const n = Math.min(...limited.map((l) => Math.min(l.perSecond * AHEAD_S, l.burst)));
  return Math.max(1, Math.floor(n));
}
