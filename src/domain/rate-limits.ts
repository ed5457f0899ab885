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
 * Per-key and per-tenant limits, kept in Redis so they hold across processes: one
 * script call (one round trip) per operation takes from both buckets or from neither.
 * While Redis is unreachable every operation goes (fail open): the queue keeps serving
 * through MariaDB then, and refusing all work would turn a Redis outage into a full one.
 */
export class RateLimiter {
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
    try {
      const waitMs = await this.scripts.rateLimit(
        this.scripts.keys.rateLimit(actor.tenantId, actor.keyId),
        this.clock(),
        interval(key),
        interval(tenant),
      );
      return waitMs > 0 ? Math.max(1, Math.ceil(waitMs / 1000)) : null;
    } catch (err) {
      this.onError(err);
      return null;
    }
  }
}
