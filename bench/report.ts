import { fmt } from "./stats.js";
import type { Procs } from "./scenarios.js";

/** Figures of one run of one scenario on one system. */
export type RunResult = {
  scenario: number;
  system: "ours" | "bullmq";
  variant: string;
  figures: Record<string, number>;
  /** CPU share and peak RSS of every process while it ran (server1.., roles, mariadb, redis, others) */
  procs: Procs;
  /** what each load role reported */
  raw: Record<string, Record<string, unknown>>;
  wallSeconds: number;
};

export type Row = {
  scenario: string;
  metric: string;
  variant: string;
  ours: number | null;
  bullmq: number | null;
  /** ours / BullMQ */
  ratio: number | null;
  target: string;
  met: boolean | null;
};

const NAMES: Record<number, string> = {
  1: "1 durable, batched",
  2: "2 durable, one per request",
  3: "3 wake-up latency",
  4: "4 waiters",
  5: "5 depth",
};

const div = (a: number | null | undefined, b: number | null | undefined) => (a == null || b == null || !b ? null : a / b);

/** One row per figure, ours against BullMQ, with the targets checked. */
export function buildRows(runs: RunResult[], expectedWaiters: number, s3Rate: number): Row[] {
  const rows: Row[] = [];
  const names = { ...NAMES, 3: `${NAMES[3]} @${s3Rate}/s` } as Record<number, string>;
  const bull = (n: number) => runs.find((r) => r.scenario === n && r.system === "bullmq")?.figures ?? null;
  const ours = (n: number) => runs.filter((r) => r.scenario === n && r.system === "ours");
  const row = (n: number, metric: string, variant: string, o: number | null, b: number | null, target = "", met: boolean | null = null) =>
    rows.push({ scenario: names[n]!, metric, variant, ours: o, bullmq: b, ratio: div(o, b), target, met });

  for (const n of [1, 2]) {
    const b = bull(n)?.rate ?? null;
    const floor = n === 1 ? 0.5 : 0.15;
    for (const r of ours(n)) {
      const ratio = div(r.figures.rate, b);
      row(n, "msg/s", r.variant, r.figures.rate ?? null, b, `≥ ${floor}× BullMQ`, ratio === null ? null : ratio >= floor);
    }
    if (!ours(n).length && b !== null) row(n, "msg/s", "", null, b);
  }
  {
    const b = bull(3);
    for (const r of ours(3)) {
      row(3, "p50 ms", r.variant, r.figures.p50 ?? null, b?.p50 ?? null);
      row(3, "p95 ms", r.variant, r.figures.p95 ?? null, b?.p95 ?? null);
      const p99 = r.figures.p99 ?? null;
      const met = p99 === null || Number.isNaN(p99) ? null : p99 < 25 && (b?.p99 == null || p99 <= 2 * b.p99) && r.figures.delivered === r.figures.published;
      row(3, "p99 ms", r.variant, p99, b?.p99 ?? null, "< 25 ms, ≤ 2× BullMQ", met);
    }
    if (!ours(3).length && b) for (const p of ["p50", "p95", "p99"]) row(3, `${p} ms`, "", null, b[p] ?? null);
  }
  {
    const b = bull(4);
    const o = ours(4)[0]?.figures ?? null;
    if (o || b) {
      const variant = ours(4)[0]?.variant ?? "";
      row(4, "woken", variant, o?.delivered ?? null, b?.delivered ?? null, `all ${expectedWaiters.toLocaleString("en-US")}`, o ? o.delivered === expectedWaiters && o.duplicates === 0 : null);
      row(4, "s to deliver all", variant, o?.seconds ?? null, b?.seconds ?? null);
      row(4, "peak RSS MiB", variant, o?.rssMiB ?? null, b?.rssMiB ?? null, "< 1024 MiB", o ? (o.rssMiB ?? Infinity) < 1024 : null);
    }
  }
  {
    const b = bull(5);
    const o = ours(5)[0]?.figures ?? null;
    if (o || b) {
      const deep = (o ?? b)!.deepDepth!;
      row(5, "claims/s @1k pending", "", o?.rateShallow ?? null, b?.rateShallow ?? null);
      row(5, `claims/s @${fmtDepth(deep)} pending`, "", o?.rateDeep ?? null, b?.rateDeep ?? null);
      row(5, `rate ${fmtDepth(deep)} / rate 1k`, "", o?.depthRatio ?? null, b?.depthRatio ?? null, "≥ 0.8", o ? o.depthRatio! >= 0.8 : null);
      row(5, "Redis bytes / pending msg", "", o?.redisBytesPerPending ?? null, b?.redisBytesPerPending ?? null);
      row(5, "bulk load msg/s", "", o?.loadRate ?? null, b?.loadRate ?? null);
    }
  }
  return rows;
}

const fmtDepth = (n: number) => (n >= 1e6 ? `${n / 1e6}M` : n >= 1e3 ? `${Math.round(n / 1e3)}k` : String(n));

/** A plain-text table (also valid Markdown). */
export function renderTable(rows: Row[]): string {
  const head = ["scenario", "metric", "ScaiQueue (variant)", "ScaiQueue", "BullMQ", "ours/BullMQ", "target", "result"];
  const body = rows.map((r) => [
    r.scenario,
    r.metric,
    r.variant,
    fmt(r.ours),
    fmt(r.bullmq),
    r.ratio === null ? "–" : `${r.ratio.toFixed(2)}×`,
    r.target,
    r.met === null ? "" : r.met ? "met" : "MISSED",
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  return [line(head), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...body.map(line)].join("\n");
}

/** The CPU share of each process during a run, e.g. "server1 97%, producers 31%, mariadb 44%". */
export function cpuLine(procs: Procs): string {
  return Object.entries(procs)
    .filter(([, p]) => !Number.isNaN(p.cpuPct))
    .map(([n, p]) => `${n} ${p.cpuPct}%`)
    .join(", ");
}
