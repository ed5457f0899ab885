import { describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { createConnection } from "mariadb";
import { parseDatabaseUrl } from "../../src/db/connection.js";
import { Redis } from "ioredis";
import { runBench, type BenchResult } from "../../bench/bench.js";
import { parseArgs } from "../../bench/args.js";

// The benchmark's own code path with tiny counts: every scenario, both systems, every
// message accounted for. Timings are never asserted; this only proves the bench works.

const DATABASE_URL = process.env.DATABASE_URL ?? "mysql://root@127.0.0.1:3306/scaiqueue";
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

async function databaseExists(name: string): Promise<boolean> {
  expect(name).toMatch(/^sq_bench_[0-9a-f]{8}$/); // the run's own, so "not there" means dropped
  const conn = await createConnection(parseDatabaseUrl(DATABASE_URL).server);
  try {
    return (await conn.query("SHOW DATABASES LIKE ?", [name])).length > 0;
  } finally {
    await conn.end();
  }
}

/** Runs a bench script with `--json <a file in a fresh folder>`; its stdout and the JSON it wrote. The folder is removed after. */
async function runScript<T>(script: string, args: string[], jsonPath = "out.json"): Promise<{ stdout: string; out: T }> {
  const dir = mkdtempSync(join(tmpdir(), "sq-bench-"));
  try {
    const file = join(dir, jsonPath);
    const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", script, ...args, "--json", file]);
    return { stdout, out: JSON.parse(readFileSync(file, "utf8")) as T };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("npm run bench", () => {
  it("parses the documented flags", () => {
    expect(parseArgs(["--scenarios", "1,3", "--scale=0.1", "--json", "out.json", "--procs", "1"])).toMatchObject({
      scenarios: [1, 3],
      scale: 0.1,
      json: "out.json",
      procs: [1],
    });
    expect(parseArgs(["--transports", "ws"]).transports).toEqual(["ws"]);
    expect(() => parseArgs(["--scenarios", "6"])).toThrow(/1–5/);
    expect(() => parseArgs(["--bogus"])).toThrow(/unknown option/);
  });

  it("runs scenarios 1–5 against ScaiQueue and BullMQ with every message delivered, then cleans up", async () => {
    const lines: string[] = [];
    const r: BenchResult = await runBench({
      scenarios: [1, 2, 3, 4, 5],
      scale: 0.002,
      procs: [1],
      log: (l) => lines.push(l),
    });
    const run = (scenario: number, system: "ours" | "bullmq") => r.runs.filter((x) => x.scenario === scenario && x.system === system);
    const s = r.sizes;

    // 1 and 2: everything published was completed, on both systems (2: once per transport for ours)
    expect(run(1, "ours")).toHaveLength(1);
    expect(run(2, "ours").map((x) => x.variant)).toEqual(["1 proc, HTTP", "1 proc, graphql-ws"]);
    for (const [n, total] of [[1, s.s1], [2, s.s2]] as const) {
      for (const x of [...run(n, "ours"), ...run(n, "bullmq")]) {
        expect(x.figures).toMatchObject({ messages: total, delivered: total });
        expect(x.figures.rate).toBeGreaterThan(0);
      }
      expect(run(n, "bullmq")).toHaveLength(1);
    }

    // 3: each waiter got its completion (ours once per transport: the worker and the publisher on each)
    expect(run(3, "ours").map((x) => x.variant)).toEqual(["1 proc, HTTP", "1 proc, graphql-ws"]);
    for (const x of [...run(3, "ours"), ...run(3, "bullmq")]) {
      expect(x.figures).toMatchObject({ published: s.s3, delivered: s.s3 });
      for (const p of ["p50", "p95", "p99"]) expect(x.figures[p]).toBeGreaterThan(0);
    }

    // 4: every waiter woken exactly once, with the server's memory measured
    for (const x of [...run(4, "ours"), ...run(4, "bullmq")]) {
      expect(x.figures).toMatchObject({ expected: s.s4, delivered: s.s4, duplicates: 0 });
      expect(x.figures.rssMiB).toBeGreaterThan(0);
    }

    // 5: every timed claim got a message and the depth was held
    for (const x of [...run(5, "ours"), ...run(5, "bullmq")]) {
      expect(x.figures.claimed).toBe(2 * s.s5rounds * s.s5roundSize);
      const cases = x.raw.depth!.cases as { depth: number; depthAfter: number; claimed: number }[];
      expect(cases.map((c) => c.depth)).toEqual([s.s5shallow, s.s5deep]);
      for (const c of cases) expect(c.depthAfter).toBe(c.depth);
      expect(x.figures.redisBytesPerPending).toBeGreaterThan(0);
    }

    // one table row per figure, every target judged
    expect(new Set(r.rows.map((row) => row.scenario.slice(0, 1)))).toEqual(new Set(["1", "2", "3", "4", "5"]));
    for (const row of r.rows.filter((x) => x.target)) expect(typeof row.met).toBe("boolean");
    expect(r.machine).toMatchObject({ cpus: expect.any(Number), node: process.version });
    expect(lines.some((l) => l.startsWith("▶ s5"))).toBe(true);

    // nothing left behind: database and both Redis prefixes are gone
    expect(await databaseExists(r.resources.database)).toBe(false);
    const redis = new Redis(REDIS_URL);
    try {
      for (const prefix of [r.resources.prefix, r.resources.bullPrefix]) {
        const left: string[] = [];
        let cursor = "0";
        do {
          const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 10000);
          left.push(...keys);
          cursor = next;
        } while (cursor !== "0");
        expect(left).toEqual([]);
      }
    } finally {
      redis.disconnect();
    }
  }, 120_000);

  it("npm run bench prints the table and writes --json, making the file's folder", async () => {
    const { stdout, out } = await runScript<BenchResult>(
      "bench/run.ts",
      ["--scenarios", "1", "--scale", "0.002", "--procs", "1", "--no-bullmq"],
      join("not", "there", "run.json"),
    );
    expect(out.runs.map((r) => [r.scenario, r.system, r.figures.delivered])).toEqual([[1, "ours", out.sizes.s1]]);
    expect(stdout).toMatch(/^\| 1 durable, batched +\| msg\/s +\| 1 proc /m);
    expect(await databaseExists(out.resources.database)).toBe(false);
  }, 60_000);

  it("npm run bench:rows measures every statement kind on its own database and drops it", async () => {
    type Rows = { database: string; results: { statement: string; rows: number; mariadbCpuUsPerRow: number }[] };
    const { stdout, out } = await runScript<Rows>("bench/rows.ts", ["--rows", "1000"]);
    expect(out.results.map((r) => r.statement)).toEqual([
      "INSERT a published message",
      "INSERT an `_events` message into messages (a publish's)",
      "UPDATE to CLAIMED",
      "UPDATE to COMPLETED",
      "SELECT * by id",
      "INSERT a staged `_events` message into event_log (the later events)",
    ]);
    for (const r of out.results) expect(r.rows).toBe(1000);
    expect(stdout.split("\n").filter((l) => l.startsWith("| ") && !l.startsWith("| statement"))).toHaveLength(6);
    expect(await databaseExists(out.database)).toBe(false);
  }, 60_000);

  it("npm run bench:ops measures each operation on its own server, database and key prefix, and removes them", async () => {
    type Ops = { database: string; prefix: string; rows: { operation: string; calls: number; serverUs: number }[] };
    const { stdout, out } = await runScript<Ops>("bench/ops.ts", ["--calls", "20", "--callers", "2"]);
    expect(out.rows.map((r) => r.operation)).toEqual(["{ __typename }", "queueDepth", "publish", "claim (batchSize 1)", "complete"]);
    for (const r of out.rows) expect(r.calls).toBe(20);
    expect(stdout.split("\n").filter((l) => l.startsWith("| ") && !l.startsWith("| operation"))).toHaveLength(5);
    expect(await databaseExists(out.database)).toBe(false);
    const redis = new Redis(REDIS_URL);
    try {
      expect(await redis.keys(`${out.prefix}:*`)).toEqual([]);
    } finally {
      redis.disconnect();
    }
  }, 90_000);
});
