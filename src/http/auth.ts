import type { ApiKeyVerifier } from "../domain/api-keys/keys.js";
import type { Auth } from "../schema/context.js";

/** `Bearer <secret>` (HTTP header, or connectionParams.authorization) or a bare apiKey. */
export function secretFrom(authorization: unknown, apiKey?: unknown): string | null {
  if (typeof authorization === "string" && authorization.trim()) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization.trim());
    return m ? m[1]! : authorization.trim();
  }
  if (typeof apiKey === "string" && apiKey.trim()) return apiKey.trim();
  return null;
}

/** Client addresses whose buckets are kept; past it, full buckets are swept out. */
const ADDRESSES_SWEPT_AT = 10_000;

/**
 * How many secrets nobody here knows one client address may have looked up: a token
 * bucket per address (AUTH_FAILURES_PER_S, AUTH_FAILURE_BURST), in this process. Each
 * lookup of such a secret costs MariaDB a read, so random secrets sent without end cost
 * it one read each; past the bucket, they answer RATE_LIMITED without one. Keys this
 * process knows are never held back (ApiKeyVerifier), so a client sharing an address
 * with the guesser (behind one proxy, say) keeps working.
 */
export class AuthFailures {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly limit: { perSecond: number; burst: number },
    private readonly clock: () => number = Date.now,
  ) {}

  /** The gate for one client address; `retryAfter` says in how many seconds a lookup may go again. */
  gate(address: string) {
    const { perSecond, burst } = this.limit;
    const bucket = () => {
      const now = this.clock();
      let b = this.buckets.get(address);
      if (!b) {
        if (this.buckets.size >= ADDRESSES_SWEPT_AT) this.sweep(now);
        this.buckets.set(address, (b = { tokens: burst, at: now }));
      }
      b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * perSecond);
      b.at = now;
      return b;
    };
    return {
      mayLookUp: () => perSecond === 0 || bucket().tokens >= 1,
      notFound: () => {
        if (perSecond > 0) bucket().tokens -= 1;
      },
      retryAfter: () => Math.max(1, Math.ceil((1 - bucket().tokens) / perSecond)),
    };
  }

  private sweep(now: number): void {
    for (const [address, b] of this.buckets) if (b.tokens + ((now - b.at) / 1000) * this.limit.perSecond >= this.limit.burst) this.buckets.delete(address);
  }
}

export async function authenticate(verifier: ApiKeyVerifier, failures: AuthFailures, secret: string | null, address: string | undefined): Promise<Auth> {
  if (!secret) return { status: "missing" };
  const gate = failures.gate(address ?? "unknown");
  const key = await verifier.verify(secret, gate);
  if (key === "throttled") return { status: "throttled", retryAfter: gate.retryAfter() };
  return key ? { status: "ok", ...key } : { status: "invalid" };
}
