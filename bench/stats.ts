/** Small numeric helpers shared by the load roles and the report. */

/** Epoch milliseconds with sub-millisecond precision, comparable across processes on one machine. */
export const now = (): number => performance.timeOrigin + performance.now();

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Nearest-rank percentiles of a list of latencies (ms). */
export function latencySummary(ms: number[]): { count: number; p50: number; p95: number; p99: number; max: number; mean: number } {
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (p: number) => (sorted.length ? sorted[Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length))) - 1]! : NaN);
  const mean = sorted.length ? sorted.reduce((s, v) => s + v, 0) / sorted.length : NaN;
  return { count: sorted.length, p50: at(50), p95: at(95), p99: at(99), max: sorted.at(-1) ?? NaN, mean };
}

/** A JSON body of about `bytes` characters, the same shape for both systems. */
export function messageBody(seq: number, bytes = 250): Record<string, unknown> {
  const base = { kind: "bench.task", seq, tenant: "acme", attempt: 1, payload: "" };
  const pad = Math.max(0, bytes - JSON.stringify(base).length);
  base.payload = "x".repeat(pad);
  return base;
}

/** Round to a sensible number of significant digits for display. */
export function fmt(v: number | null | undefined, unit = ""): string {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  const abs = Math.abs(v);
  const s = abs >= 1000 ? Math.round(v).toLocaleString("en-US") : abs >= 100 ? v.toFixed(0) : abs >= 10 ? v.toFixed(1) : v.toFixed(2);
  return unit ? `${s} ${unit}` : s;
}

/**
 * Hands out consecutive work items to concurrent loops: take() answers the next index,
 * or null once `total` are taken. Shared by loops of one process.
 */
export function counter(total: number): { take(n?: number): number | null; taken(): number } {
  let next = 0;
  return {
    take(n = 1) {
      if (next >= total) return null;
      const at = next;
      next += Math.min(n, total - next);
      return at;
    },
    taken: () => next,
  };
}

/** Resolves when `done` does, or once `progress()` has not changed for `stallMs`. */
export async function untilDoneOrStalled(done: Promise<unknown>, progress: () => number, stallMs: number): Promise<void> {
  let last = progress();
  let lastChange = Date.now();
  let finished = false;
  void done.then(() => (finished = true));
  while (!finished) {
    await Promise.race([done, sleep(250)]);
    const now = progress();
    if (now !== last) [last, lastChange] = [now, Date.now()];
    else if (Date.now() - lastChange > stallMs) return;
  }
}
