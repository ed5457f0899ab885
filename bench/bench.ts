import { loadavg } from "node:os";
import { mkdirSync } from "node:fs";
import { httpGql, Q } from "./gql.js";
import { dropDatabase, deleteKeys, findPid, machineInfo, newRunIds, procSample, startServer, watchProcesses, type ServerProc } from "./env.js";
import { runRoles } from "./roles.js";
import { planBullmq, planOurs, sizes, type Procs, type RunPlan } from "./scenarios.js";
import { buildRows, cpuLine, type Row, type RunResult } from "./report.js";
import { fmt } from "./stats.js";

export type BenchOptions = {
  scenarios: number[];
  scale: number;
  /** server topologies for scenarios 1–3 (4 and 5 always use one process) */
  procs: number[];
  /** publish rate of scenario 3, messages/s (default 500) */
  s3Rate?: number;
  /** transports of scenarios 2 and 3 (default: HTTP and graphql-ws on one process, graphql-ws on two) */
  transports?: ("http" | "ws")[];
  /** skip BullMQ (ours only) */
  noBullmq?: boolean;
  /** write a --cpu-prof profile of each server process here */
  profileDir?: string;
  /** extra environment for the server processes */
  serverEnv?: Record<string, string>;
  log?: (line: string) => void;
};

export type BenchResult = {
  /** what this run created (and removed): database, Redis key prefixes */
  resources: { database: string; prefix: string; bullPrefix: string };
  startedAt: string;
  seconds: number;
  options: Omit<BenchOptions, "log">;
  sizes: ReturnType<typeof sizes>;
  machine: Record<string, unknown>;
  runs: RunResult[];
  rows: Row[];
};

/** The pids of MariaDB and Redis on this machine (null when not visible). */
const infra = () => ({ mariadb: findPid("mariadbd") ?? findPid("mysqld"), redis: findPid("redis-server") });

/** Server groups in run order; the 1M-message scenario runs last, on its own server. */
function groups(o: BenchOptions): { procs: number; scenarios: number[] }[] {
  const pick = (list: number[]) => list.filter((s) => o.scenarios.includes(s));
  const out: { procs: number; scenarios: number[] }[] = [];
  for (const procs of [...new Set(o.procs)].sort()) out.push({ procs, scenarios: pick(procs === 1 ? [1, 2, 3, 4] : [1, 2, 3]) });
  if (!o.procs.includes(1)) out.unshift({ procs: 1, scenarios: pick([4]) });
  out.push({ procs: 1, scenarios: pick([5]) });
  return out.filter((g) => g.scenarios.length);
}

/**
 * Runs the chosen scenarios against our service (as separate server processes on a
 * fresh database and key prefix) and against BullMQ on the same Redis, from separate
 * load processes. Everything it created is removed at the end, even on failure.
 */
export async function runBench(o: BenchOptions): Promise<BenchResult> {
  const log = o.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const started = Date.now();
  const ids = newRunIds();
  const sz = sizes(o.scale, o.s3Rate);
  const runs: RunResult[] = [];
  let servers: ServerProc[] = [];
  const machine = await machineInfo();
  if (o.profileDir) mkdirSync(o.profileDir, { recursive: true });
  log(`bench ${ids.tag}: database ${ids.database}, Redis prefixes ${ids.prefix}: and ${ids.bullPrefix}:, scale ${o.scale}`);

  let cleaned: Promise<void> | null = null;
  const cleanup = () =>
    (cleaned ??= (async () => {
      await Promise.allSettled(servers.map((s) => s.stop()));
      const r = await Promise.allSettled([dropDatabase(ids), deleteKeys(`${ids.prefix}:*`), deleteKeys(`${ids.bullPrefix}:*`)]);
      for (const x of r) if (x.status === "rejected") log(`cleanup: ${x.reason}`);
      log(`cleaned up ${ids.database}, ${ids.prefix}:*, ${ids.bullPrefix}:*`);
    })());
  const onSignal = (sig: NodeJS.Signals) => {
    log(`${sig}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  const execute = async (plan: RunPlan) => {
    const label = `s${plan.scenario} ${plan.system === "ours" ? "ScaiQueue" : "BullMQ"}${plan.variant ? ` (${plan.variant})` : ""}`;
    log(`▶ ${label}`);
    const pids: Record<string, number | null> = {};
    if (plan.system === "ours") servers.forEach((s, i) => (pids[`server${i + 1}`] = s.pid));
    Object.assign(pids, infra());
    pids.bench = process.pid; // this orchestrator
    const watch = watchProcesses(pids);
    const t0 = Date.now();
    const rr = runRoles(plan.roles, plan.timeoutMs, log);
    for (const [n, pid] of Object.entries(rr.pids)) watch.add(n, pid);
    let atSignal: Record<string, number> = {};
    if (plan.sampleAt) {
      void rr.signalled(plan.sampleAt).then(() => {
        atSignal = Object.fromEntries(
          Object.entries({ ...pids, ...rr.pids }).map(([n, pid]) => [n, Math.round((pid ? procSample(pid)?.rssBytes ?? 0 : 0) / 2 ** 20)]),
        );
      });
    }
    let results;
    let procs: Procs;
    try {
      results = await rr.results;
    } catch (err) {
      for (const [i, s] of servers.entries()) if (s.output().trim()) log(`server${i + 1} said:\n${s.output().slice(-3000)}`);
      throw err;
    } finally {
      procs = watch.stop();
    }
    for (const [n, v] of Object.entries(atSignal)) if (procs[n]) procs[n]!.rssAtSignalMiB = v;
    const figures = plan.summarize(results, procs);
    const run: RunResult = { scenario: plan.scenario, system: plan.system, variant: plan.variant, figures, procs, raw: results, wallSeconds: (Date.now() - t0) / 1000 };
    runs.push(run);
    log(`  ${Object.entries(figures).map(([k, v]) => `${k} ${fmt(v)}`).join(", ")}`);
    log(`  cpu: ${cpuLine(procs)}`);
    if (procs.others!.cpuPct > 25) log(`  warning: other processes used ${procs.others!.cpuPct}% CPU during this run; its figures are suspect`);
  };

  try {
    const bullDone = new Set<number>();
    for (const g of groups(o)) {
      log(`starting ${g.procs} server process${g.procs > 1 ? "es" : ""}`);
      servers = await Promise.all(Array.from({ length: g.procs }, () => startServer(ids, { profileDir: o.profileDir, env: o.serverEnv })));
      const admin = httpGql(servers[0]!.url, ids.key, 2);
      const scopeId = (await admin.request<{ createScope: { id: string } }>(Q.createScope, {
        i: { slug: `bench-${ids.tag}-${g.procs}-${g.scenarios.join("")}`, displayName: "Bench" },
      })).createScope.id;
      const watch = { ...infra(), ...Object.fromEntries(servers.map((s, i) => [`server${i + 1}`, s.pid])) };
      const ctx = { servers, key: ids.key, admin, scopeId, tag: ids.tag, prefix: ids.prefix, sizes: sz, watch };
      for (const scenario of g.scenarios) {
        // BullMQ first: our server then idles on what earlier scenarios left, while after
        // our run of scenario 5 its agents would still be sweeping a million pending rows.
        if (!o.noBullmq && !bullDone.has(scenario)) {
          bullDone.add(scenario);
          await execute(planBullmq(scenario, { prefix: ids.bullPrefix, tag: ids.tag, sizes: sz, watch: infra() }));
        }
        const transports = o.transports ?? (g.procs === 1 ? ["http", "ws"] : ["ws"]);
        for (const plan of await planOurs(scenario, ctx, transports)) await execute(plan);
      }
      await admin.close();
      await Promise.all(servers.map((s) => s.stop()));
      servers = [];
    }
  } finally {
    await cleanup();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  const { log: _omit, ...options } = o;
  return {
    resources: { database: ids.database, prefix: ids.prefix, bullPrefix: ids.bullPrefix },
    startedAt: new Date(started).toISOString(),
    seconds: (Date.now() - started) / 1000,
    options,
    sizes: sz,
    machine: { ...machine, loadavgAtEnd: loadavg() },
    runs,
    rows: buildRows(runs, sz.s4, sz.s3Rate),
  };
}
