import { Q, type Gql } from "./gql.js";
import type { RoleSpec } from "./roles.js";
import { REDIS_URL, type ServerProc } from "./env.js";

/** What each scenario runs: its roles (one process each), sizes from --scale, and how its figures are read. */

export type Sizes = ReturnType<typeof sizes>;

export function sizes(scale: number, s3Rate = 500) {
  const n = (full: number, min: number) => Math.max(min, Math.round(full * scale));
  return {
    s3Rate,
    s1: n(50_000, 100),
    s2: n(20_000, 64),
    /** 20 s at s3Rate at full scale */
    s3: n(20 * s3Rate, 40),
    s4: n(10_000, 20),
    s5deep: n(1_000_000, 2_000),
    s5shallow: 1_000,
    s5rounds: n(20, 2),
    s5roundSize: 1_000,
  };
}

type Results = Record<string, Record<string, any>>;
export type Procs = Record<string, { cpuPct: number; peakRssMiB: number; rssAtSignalMiB?: number }>;

export type RunPlan = {
  scenario: number;
  system: "ours" | "bullmq";
  /** e.g. "1 proc, HTTP" */
  variant: string;
  roles: RoleSpec[];
  timeoutMs: number;
  /** Resident memory of every watched process is also sampled when this signal arrives. */
  sampleAt?: string;
  summarize(r: Results, procs: Procs): Record<string, number>;
};

/** `watch`: pids whose CPU the depth role measures while it claims (mariadb, redis, servers) */
export type OursCtx = { servers: ServerProc[]; key: string; admin: Gql; scopeId: string; tag: string; prefix: string; sizes: Sizes; watch: Record<string, number | null> };
export type BullCtx = { prefix: string; tag: string; sizes: Sizes; watch: Record<string, number | null> };

const throughput = (r: Results, producer: string, consumer: string, total: number) => {
  const startMs = r[producer]!.startMs as number;
  const endMs = r[consumer]!.endMs as number;
  const delivered = r[consumer]!.completed as number;
  return { messages: total, delivered, seconds: (endMs - startMs) / 1000, rate: (delivered * 1000) / (endMs - startMs) };
};

const latency = (r: Results, probe: string) => {
  const l = r[probe]!.latency;
  const a = r[probe]!.publishAck;
  return {
    published: r[probe]!.published, delivered: r[probe]!.delivered, achievedRate: r[probe]!.achievedRate,
    p50: l.p50, p95: l.p95, p99: l.p99, max: l.max, mean: l.mean,
    publishAckP50: a.p50, publishAckP99: a.p99,
  };
};

const depthFigures = (r: Results) => {
  const [shallow, deep] = r.depth!.cases as Record<string, any>[];
  // CPU (% of one core) each process used while the claims were timed, e.g. cpuPct_server1_deep
  const cpu = Object.fromEntries(
    ([["shallow", shallow], ["deep", deep]] as const).flatMap(([k, c]) =>
      Object.entries((c?.cpuDuringClaims ?? {}) as Record<string, number>).map(([n, v]) => [`cpuPct_${n}_${k}`, v]),
    ),
  );
  return {
    ...cpu,
    shallowDepth: shallow!.depth!,
    deepDepth: deep!.depth!,
    rateShallow: shallow!.claimRate!,
    rateDeep: deep!.claimRate!,
    depthRatio: deep!.claimRate! / shallow!.claimRate!,
    claimed: shallow!.claimed! + deep!.claimed!,
    redisBytesPerPending: deep!.redisBytesPerPending!,
    loadRate: deep!.loadRate!,
    loadSeconds: deep!.loadS!,
  };
};

export async function planOurs(scenario: number, ctx: OursCtx, transports: ("http" | "ws")[]): Promise<RunPlan[]> {
  const newQueue = async (extra: Record<string, unknown> = {}) =>
    (await ctx.admin.request<{ createQueue: { id: string } }>(Q.createQueue, {
      i: { scopeId: ctx.scopeId, slug: `bench-${Math.random().toString(36).slice(2, 10)}`, displayName: "Bench", ...extra },
    })).createQueue.id;
  const conn = { urls: ctx.servers.map((s) => s.url), wsUrls: ctx.servers.map((s) => s.wsUrl), key: ctx.key };
  type Target = typeof conn & { queueId: string };
  const target = async (): Promise<Target> => ({ ...conn, queueId: await newQueue() });
  const procs = `${ctx.servers.length} proc${ctx.servers.length > 1 ? "s" : ""}`;
  const role = (name: string, r: string, params: Record<string, unknown>): RoleSpec => ({ name, module: "ours", role: r, params });
  const s = ctx.sizes;

  if (scenario === 1) {
    const t = await target();
    return [{
      scenario, system: "ours", variant: procs, timeoutMs: 600_000,
      roles: [
        role("producers", "producer", { ...t, total: s.s1, producers: 8, batch: 100, transport: "http" }),
        role("consumers", "consumer", { ...t, total: s.s1, consumers: 8, batch: 50, transport: "http" }),
      ],
      summarize: (r) => throughput(r, "producers", "consumers", s.s1),
    }];
  }
  /** One plan per transport (scenarios 2 and 3), each on a queue of its own. */
  const perTransport = async (plan: (t: Target, transport: "http" | "ws") => Pick<RunPlan, "roles" | "summarize">): Promise<RunPlan[]> => {
    const plans: RunPlan[] = [];
    for (const transport of transports) {
      const variant = `${procs}, ${transport === "http" ? "HTTP" : "graphql-ws"}`;
      plans.push({ scenario, system: "ours", variant, timeoutMs: 600_000, ...plan(await target(), transport) });
    }
    return plans;
  };
  if (scenario === 2) {
    return perTransport((t, transport) => ({
      roles: [
        role("producers", "producer", { ...t, total: s.s2, producers: 32, batch: 1, transport }),
        role("consumers", "consumer", { ...t, total: s.s2, consumers: 32, batch: 1, transport }),
      ],
      summarize: (r) => throughput(r, "producers", "consumers", s.s2),
    }));
  }
  if (scenario === 3) {
    return perTransport((t, transport) => ({
      roles: [
        role("worker", "eventWorker", { ...t, total: s.s3, batch: 50, loops: 4, transport }),
        role("waiters", "latencyProbe", { ...t, total: s.s3, rate: s.s3Rate, leadMs: 250, warmup: Math.floor(s.s3 * 0.05), tag: ctx.tag, transport }),
      ],
      summarize: (r) => latency(r, "waiters"),
    }));
  }
  if (scenario === 4) {
    const t = await target();
    const sockets = Math.max(1, Math.min(100, Math.ceil(s.s4 / 100)));
    return [{
      scenario, system: "ours", variant: `1 proc, ${sockets} sockets`, timeoutMs: 300_000, sampleAt: "subscribed",
      roles: [
        role("completer", "completer", { ...t, total: s.s4, tag: ctx.tag }),
        role("waiters", "waiters", { ...t, total: s.s4, sockets, tag: ctx.tag, timeoutMs: 120_000 }),
      ],
      summarize: (r, p) => ({
        expected: s.s4,
        delivered: r.waiters!.delivered,
        duplicates: r.waiters!.duplicates,
        seconds: r.waiters!.delivered === s.s4 ? (r.waiters!.lastMs - r.completer!.startMs) / 1000 : NaN,
        rssMiB: p.server1!.peakRssMiB,
        rssSubscribedMiB: p.server1!.rssAtSignalMiB ?? NaN,
      }),
    }];
  }
  const mk = async (depth: number) => ({ id: await newQueue({ visibilityTimeoutS: 3600 }), scopeId: ctx.scopeId, depth });
  const queues = [await mk(s.s5shallow), await mk(s.s5deep)];
  return [{
    scenario, system: "ours", variant: "1 proc", timeoutMs: 1_800_000,
    roles: [role("depth", "depth", { ...conn, queueId: "" /* it uses `queues` */, queues, rounds: s.s5rounds, roundSize: s.s5roundSize, prefix: ctx.prefix, redisUrl: REDIS_URL, watch: ctx.watch })],
    summarize: depthFigures,
  }];
}

export function planBullmq(scenario: number, ctx: BullCtx): RunPlan {
  const t = { redisUrl: REDIS_URL, prefix: ctx.prefix, queue: `bench-${ctx.tag}-s${scenario}` };
  const role = (name: string, r: string, params: Record<string, unknown>): RoleSpec => ({ name, module: "bullmq", role: r, params: { ...t, ...params } });
  const s = ctx.sizes;
  const base = { scenario, system: "bullmq" as const, variant: "" };
  if (scenario === 1 || scenario === 2) {
    const total = scenario === 1 ? s.s1 : s.s2;
    return {
      ...base, variant: scenario === 1 ? "addBulk 100, Worker ×50" : "add, Worker ×50", timeoutMs: 600_000,
      roles: [
        role("producers", "producer", { total, producers: scenario === 1 ? 8 : 32, batch: scenario === 1 ? 100 : 1 }),
        role("worker", "worker", { total, concurrency: 50 }),
      ],
      summarize: (r) => throughput(r, "producers", "worker", total),
    };
  }
  if (scenario === 3) {
    return {
      ...base, variant: "QueueEvents", timeoutMs: 600_000,
      roles: [
        role("worker", "worker", { total: s.s3, concurrency: 50 }),
        role("waiters", "latencyProbe", { total: s.s3, rate: s.s3Rate, warmup: Math.floor(s.s3 * 0.05) }),
      ],
      summarize: (r) => latency(r, "waiters"),
    };
  }
  if (scenario === 4) {
    return {
      ...base, variant: "waitUntilFinished", timeoutMs: 300_000, sampleAt: "subscribed",
      roles: [
        role("waiters", "waiters", { total: s.s4, timeoutMs: 120_000 }),
        role("worker", "worker", { total: s.s4, concurrency: 50, waitFor: "subscribed" }),
      ],
      summarize: (r, p) => ({
        expected: s.s4,
        delivered: r.waiters!.delivered,
        duplicates: 0,
        seconds: r.waiters!.delivered === s.s4 ? (r.waiters!.lastMs - r.worker!.startMs) / 1000 : NaN,
        rssMiB: p.waiters!.peakRssMiB,
        rssSubscribedMiB: p.waiters!.rssAtSignalMiB ?? NaN,
      }),
    };
  }
  return {
    ...base, variant: "getNextJob ×50", timeoutMs: 1_800_000,
    roles: [role("depth", "depth", {
      queues: [{ name: `${t.queue}-shallow`, depth: s.s5shallow }, { name: `${t.queue}-deep`, depth: s.s5deep }],
      rounds: s.s5rounds, roundSize: s.s5roundSize, claimers: 50, watch: ctx.watch,
    })],
    summarize: depthFigures,
  };
}
