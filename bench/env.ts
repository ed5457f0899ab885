import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { readdirSync, readFileSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { createConnection } from "mariadb";
import { Redis } from "ioredis";
import { parseDatabaseUrl } from "../src/db/connection.js";
import { sleep } from "./stats.js";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const DATABASE_URL = process.env.DATABASE_URL ?? "mysql://root@127.0.0.1:3306/scaiqueue";
export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

/** Names owned by one bench run: all of them are removed at the end, even on failure. */
export type RunIds = { tag: string; database: string; databaseUrl: string; prefix: string; bullPrefix: string; key: string };

export function newRunIds(): RunIds {
  const tag = randomBytes(4).toString("hex");
  const url = new URL(DATABASE_URL);
  url.pathname = `/sq_bench_${tag}`;
  return {
    tag,
    database: `sq_bench_${tag}`,
    databaseUrl: url.toString(),
    prefix: `sqb${tag}`,
    bullPrefix: `bqb${tag}`,
    key: `bench-bootstrap-${randomBytes(12).toString("hex")}`,
  };
}

export type ServerProc = {
  pid: number;
  url: string;
  wsUrl: string;
  child: ChildProcess;
  /** the last 20 kB the server printed (warnings and errors only: LOG_LEVEL=warn) */
  output(): string;
  stop(): Promise<void>;
};

/**
 * Starts `src/main.ts` as its own Node process (what `npm start` runs), on a port it picks
 * (PORT=0, told over IPC) with this run's database, key prefix and bootstrap key;
 * resolves once /readyz is 200. A port picked free here first was once taken by another
 * process before the server bound it (seen in `npm test`, files run in parallel).
 * `profileDir` adds --cpu-prof (the profile is written when the process exits).
 */
export async function startServer(ids: RunIds, opts: { profileDir?: string; env?: Record<string, string> } = {}): Promise<ServerProc> {
  const prof = opts.profileDir ? ["--cpu-prof", "--cpu-prof-dir", opts.profileDir] : [];
  const child = spawn(process.execPath, ["--import", "tsx", ...prof, "src/main.ts"], {
    cwd: ROOT,
    env: {
      ...process.env,
      NODE_OPTIONS: "",
      PORT: "0",
      HOST: "127.0.0.1",
      DATABASE_URL: ids.databaseUrl,
      REDIS_URL,
      REDIS_KEY_PREFIX: ids.prefix,
      SCAIQUEUE_BOOTSTRAP_API_KEY: ids.key,
      LOG_LEVEL: "warn",
      // the waiter scenarios hold thousands of subscriptions on a few sockets; the
      // flood bound (200 per connection by default) is not what they measure
      WS_MAX_SUBSCRIPTIONS_PER_CONNECTION: "100000",
      ...opts.env,
    },
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  let out = "";
  const keep = (d: Buffer) => (out = (out + d.toString()).slice(-20_000));
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const exited = once(child, "exit");
  let port = 0;
  child.on("message", (m: { serving?: number }) => (port = m.serving ?? port));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}:\n${out}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`server not ready in 60 s:\n${out}`);
    }
    const ok = port > 0 && (await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false));
    if (ok) break;
    await sleep(100);
  }
  child.disconnect(); // the IPC channel would keep this process alive
  const base = `http://127.0.0.1:${port}`;
  return {
    pid: child.pid!,
    url: `${base}/graphql`,
    wsUrl: `ws://127.0.0.1:${port}/graphql`,
    child,
    output: () => out,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Drops this run's database (the server created it). */
export async function dropDatabase(ids: RunIds): Promise<void> {
  const conn = await createConnection(parseDatabaseUrl(ids.databaseUrl).server);
  try {
    await conn.query(`DROP DATABASE IF EXISTS \`${ids.database}\``);
  } finally {
    await conn.end();
  }
}

/** Deletes every key matching `pattern` (SCAN + UNLINK, so a 1M-key run does not block Redis). */
export async function deleteKeys(pattern: string): Promise<number> {
  const redis = new Redis(REDIS_URL, { lazyConnect: false });
  let n = 0;
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 5000);
      if (keys.length) n += await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
  return n;
}

/** CPU seconds (user + system) and resident memory of a process, from /proc. */
export function procSample(pid: number): { cpuS: number; rssBytes: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
    const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return { cpuS: ticks / 100, rssBytes: rss ? Number(rss[1]) * 1024 : 0 };
  } catch {
    return null;
  }
}

/** The pid of a running program by its command name (mariadbd, redis-server), if visible. */
export function findPid(comm: string): number | null {
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/comm`, "utf8").trim() === comm) return Number(d);
    } catch {
      /* gone */
    }
  }
  return null;
}

/**
 * CPU seconds used by some processes over chosen stretches only (resume … pause), as a
 * share of one core over `ms` of those stretches: what the service spends while claiming.
 */
export function cpuMeter(pids: Record<string, number | null>) {
  const used = new Map<string, number>();
  let at: Map<string, number> | null = null;
  const read = () => new Map(Object.entries(pids).map(([n, pid]) => [n, pid ? (procSample(pid)?.cpuS ?? NaN) : NaN]));
  return {
    resume: () => void (at = read()),
    pause() {
      if (!at) return;
      for (const [n, v] of read()) used.set(n, (used.get(n) ?? 0) + v - at.get(n)!);
      at = null;
    },
    reset: () => used.clear(),
    /** percent of one core per process over `ms` of measured time */
    shares: (ms: number) => Object.fromEntries([...used].map(([n, s]) => [n, Math.round((s * 1000 * 100) / ms)])),
  };
}

/** CPU seconds the whole machine spent running processes (user + system, all cores, from /proc/stat). */
function machineBusyS(): number {
  const [user, nice, system] = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  return (user! + nice! + system!) / 100;
}

/**
 * Watches processes while a scenario runs: CPU seconds used by each and the highest RSS
 * seen (sampled every 200 ms). CPU share tells which process was the bottleneck.
 */
export function watchProcesses(pids: Record<string, number | null>) {
  const start = new Map<string, number>();
  const last = new Map<string, number>(); // CPU seconds at the latest sample: a role that exits keeps its total
  const peak = new Map<string, number>();
  const t0 = Date.now();
  const busy0 = machineBusyS();
  const sample = () => {
    for (const [name, pid] of Object.entries(pids)) {
      const s = pid ? procSample(pid) : null;
      if (!s) continue;
      if (!start.has(name)) start.set(name, s.cpuS);
      last.set(name, s.cpuS);
      peak.set(name, Math.max(peak.get(name) ?? 0, s.rssBytes));
    }
  };
  sample();
  const timer = setInterval(sample, 200);
  return {
    add(name: string, pid: number) {
      pids[name] = pid;
      sample();
    },
    stop(): Record<string, { cpuPct: number; peakRssMiB: number }> {
      clearInterval(timer);
      sample();
      const wall = (Date.now() - t0) / 1000;
      const out: Record<string, { cpuPct: number; peakRssMiB: number }> = {};
      for (const name of Object.keys(pids)) {
        const cpu = start.has(name) ? last.get(name)! - start.get(name)! : NaN;
        out[name] = { cpuPct: Math.round((cpu / wall) * 100), peakRssMiB: Math.round((peak.get(name) ?? 0) / 2 ** 20) };
      }
      // Everything else on the machine (another test run, say): a large share makes the figures suspect.
      const ours = Object.values(out).reduce((a, p) => a + (Number.isNaN(p.cpuPct) ? 0 : p.cpuPct), 0);
      out.others = { cpuPct: Math.max(0, Math.round(((machineBusyS() - busy0) / wall) * 100 - ours)), peakRssMiB: NaN };
      return out;
    },
  };
}

export async function machineInfo(): Promise<Record<string, unknown>> {
  const redis = new Redis(REDIS_URL);
  let redisVersion = "?";
  try {
    redisVersion = /redis_version:(\S+)/.exec(await redis.info("server"))?.[1] ?? "?";
  } finally {
    redis.disconnect();
  }
  let mariadb = "?";
  try {
    const conn = await createConnection(parseDatabaseUrl(DATABASE_URL).server);
    const [row] = await conn.query("SELECT VERSION() v, @@innodb_buffer_pool_size bp, @@innodb_flush_log_at_trx_commit f");
    mariadb = `${row.v} (buffer pool ${Math.round(Number(row.bp) / 2 ** 20)} MiB, flush_log_at_trx_commit=${row.f})`;
    await conn.end();
  } catch {
    /* reported as ? */
  }
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    platform: `${os.type()} ${os.release()}`,
    mariadb,
    redis: redisVersion,
    loadavgAtStart: os.loadavg(),
  };
}
