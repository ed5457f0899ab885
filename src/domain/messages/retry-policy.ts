import type { RetryPolicy } from "../deps.js";

/**
 * The wait before the next delivery after the `attempts`-th failed one: exponential
 * (base × 2^(attempts−1), capped) with "equal jitter" — half fixed, half random — so
 * retries of many messages that failed together spread out, while each wait stays at
 * least as long as the previous one's upper bound's half (gaps still grow).
 */
export function backoffMs(attempts: number, policy: RetryPolicy, random: () => number): number {
  const exp = Math.min(policy.backoffMaxMs, policy.backoffBaseMs * 2 ** Math.max(0, attempts - 1));
  return Math.round(exp / 2 + (exp / 2) * random());
}
