import { execFile, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { freePort } from "./process.js";

const HOST = "127.0.0.1";
const NODES = 6; // 3 masters, each with one replica
/**
 * How long a master may be unreachable before the others mark it failed and its replica
 * takes over (then ~1 s of election). Lower is quicker, but on a busy 2-core machine a
 * node starved for that long would be failed over for nothing.
 */
const NODE_TIMEOUT_MS = 1500;

/**
 * A Redis Cluster of this test file's own: six `redis-server --cluster-enabled yes` on
 * free loopback ports (each with its cluster bus port chosen free as well, so parallel
 * files and other runs on the machine never clash), no persistence, in a temp dir.
 */
export type LocalRedisCluster = {
  /** host:port of every node, the value of REDIS_CLUSTER_NODES */
  nodes: string;
  ports: number[];
  /** Port of the master now serving `key`'s slot. */
  masterOf(key: string): Promise<number>;
  /** kill -9 the node on `port`. */
  kill(port: number): Promise<void>;
  /** Resolves once every slot is served by a live master (a replica took over). */
  healthy(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
};

type Node = { port: number; busPort: number; child: ChildProcess };

export async function startRedisCluster(): Promise<LocalRedisCluster> {
  const dir = await mkdtemp(join(tmpdir(), "sq-redis-cluster-"));
  const nodes: Node[] = [];
  const killAll = () => nodes.forEach((n) => n.child.exitCode === null && n.child.kill("SIGKILL"));
  // a test process that dies must not leave six servers behind
  process.once("exit", killAll);
  try {
    // A port picked free may be taken before redis-server binds it: pick again.
    for (let attempt = 0; nodes.length < NODES; attempt++) {
      const [port, busPort] = [await freePort(), await freePort()];
      if (nodes.some((n) => [n.port, n.busPort].includes(port) || [n.port, n.busPort].includes(busPort)) || port === busPort) continue;
      const node = await startNode(dir, port, busPort);
      if (node) nodes.push(node);
      else if (attempt > 20) throw new Error(`redis-server did not start:\n${await readFile(join(dir, `${port}.log`), "utf8").catch(() => "")}`);
    }
    await promisify(execFile)("redis-cli", ["--cluster", "create", ...nodes.map((n) => `${HOST}:${n.port}`), "--cluster-replicas", "1", "--cluster-yes"]);
    await until(() => formed(nodes.map((n) => n.port)), 30_000, "the cluster did not form");
  } catch (err) {
    killAll();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }

  const live = () => nodes.filter((n) => n.child.exitCode === null && n.child.signalCode === null);
  const ask = async <T>(fn: (r: Redis) => Promise<T>): Promise<T> => withNode(live()[0]!.port, fn);

  return {
    nodes: nodes.map((n) => `${HOST}:${n.port}`).join(","),
    ports: nodes.map((n) => n.port),
    async masterOf(key) {
      return ask(async (r) => {
        const slot = (await r.cluster("KEYSLOT", key)) as number;
        const range = (await slots(r)).find((s) => s.from <= slot && slot <= s.to);
        if (!range) throw new Error(`no node serves slot ${slot}`);
        return range.master;
      });
    },
    async kill(port) {
      const node = nodes.find((n) => n.port === port)!;
      const exited = once(node.child, "exit");
      node.child.kill("SIGKILL");
      await exited;
    },
    async healthy(timeoutMs = 30_000) {
      await until(
        async () => {
          const up = new Set(live().map((n) => n.port));
          const ranges = await ask(slots);
          return ranges.reduce((n, s) => n + s.to - s.from + 1, 0) === 16384 && ranges.every((s) => up.has(s.master));
        },
        timeoutMs,
        "no live master took over every slot",
      );
    },
    async stop() {
      await Promise.all(live().map((n) => Promise.all([once(n.child, "exit"), n.child.kill("SIGKILL")])));
      process.off("exit", killAll);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Starts one node and waits for it to answer; null when it could not bind its ports. */
async function startNode(dir: string, port: number, busPort: number): Promise<Node | null> {
  // prettier-ignore
  const child = spawn("redis-server", [
    "--port", String(port), "--cluster-port", String(busPort), "--bind", HOST,
    "--cluster-enabled", "yes", "--cluster-config-file", join(dir, `nodes-${port}.conf`),
    "--cluster-node-timeout", String(NODE_TIMEOUT_MS),
    // a replica takes over however long it was cut off from its master
    "--cluster-replica-validity-factor", "0",
    // the other masters go on serving their slots while one is failing over
    "--cluster-require-full-coverage", "no",
    "--save", "", "--appendonly", "no", "--dir", dir, "--logfile", join(dir, `${port}.log`),
  ], { stdio: "ignore" });
  for (let i = 0; i < 100 && child.exitCode === null; i++) {
    if ((await withNode(port, (r) => r.ping()).catch(() => null)) === "PONG") return { port, busPort, child };
    await sleep(50);
  }
  if (child.exitCode === null) child.kill("SIGKILL");
  return null;
}

/** Every node knows all six, every slot is served, and every replica is in sync with its master. */
async function formed(ports: number[]): Promise<boolean> {
  for (const port of ports) {
    const ok = await withNode(port, async (r) => {
      const info = (await r.cluster("INFO")) as string;
      if (!/cluster_state:ok/.test(info) || !new RegExp(`cluster_known_nodes:${ports.length}\\b`).test(info)) return false;
      const replication = await r.info("replication");
      return /role:master/.test(replication) || /master_link_status:up/.test(replication);
    }).catch(() => false);
    if (!ok) return false;
  }
  return true;
}

async function slots(r: Redis): Promise<{ from: number; to: number; master: number }[]> {
  const raw = (await r.cluster("SLOTS")) as unknown as [number, number, [string, number, ...unknown[]], ...unknown[]][];
  return raw.map(([from, to, master]) => ({ from, to, master: Number(master[1]) }));
}

async function withNode<T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis({ port, host: HOST, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  r.on("error", () => {});
  try {
    await r.connect();
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

async function until(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check().catch(() => false))) {
    if (Date.now() > end) throw new Error(what);
    await sleep(100);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// `npx tsx test/support/redis-cluster.ts` (scripts/redis-cluster.sh): a cluster to try the
// service on by hand, up until Ctrl-C.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const cluster = await startRedisCluster();
  console.log(`REDIS_CLUSTER_NODES=${cluster.nodes}`);
  console.error("six-node Redis Cluster is up; Ctrl-C stops it");
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => void cluster.stop().then(() => process.exit(0)));
}
