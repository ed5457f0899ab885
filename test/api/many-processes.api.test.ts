import { get } from "node:http";
import { afterAll, describe, expect, it } from "vitest";
import { createConnection } from "mariadb";
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import { deleteKeys, dropDatabase, gqlRequest, uniq } from "../support/server.js";
import { startServiceProcess, type ServiceProcess } from "../support/process.js";
import { subscribe, type Subscription } from "../support/subscription.js";
import { track, untrack } from "../support/resources.js";
import { createQueue, createScope, pick, publishMany, stateCounts, type Api } from "../support/api.js";
import { CLAIM, COMPLETE, COMPLETE_BATCH, COMPLETED, DEPTH, PUBLISH } from "../support/ops.js";
import { parseDatabaseUrl } from "../../src/db/connection.js";
import { listMigrations } from "../../src/db/migrate.js";

// No test server here: nobody prepares this database before the processes start, so the
// first test also shows that processes starting together on an empty one are fine.
const databaseUrl = new URL(process.env.DATABASE_URL ?? "mysql://root@127.0.0.1:3306/scaiqueue");
databaseUrl.pathname = `/sq_test_${uniq()}`;
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const adminKey = `test-bootstrap-${uniq(12)}`;
const env = {
  DATABASE_URL: databaseUrl.toString(),
  REDIS_KEY_PREFIX: `sqt${uniq(4)}`,
  SCAIQUEUE_BOOTSTRAP_API_KEY: adminKey,
  LOG_LEVEL: "warn",
};
const started: ServiceProcess[] = [];

afterAll(async () => {
  for (const p of started) if (p.child.exitCode === null) p.child.kill("SIGKILL");
  await dropDatabase(env.DATABASE_URL);
  await deleteKeys(REDIS_URL, `${env.REDIS_KEY_PREFIX}:*`);
});

async function start(extra: Record<string, string> = {}): Promise<ServiceProcess> {
  // Each process (each cluster worker too) compiles and loads the sources; on a busy
  // two-core machine several starting at once take longer than one alone.
  const p = await startServiceProcess({ ...env, ...extra }, { readyWithinMs: 90_000 });
  started.push(p);
  return p;
}
const apiOf = (p: ServiceProcess): Api => ({ adminKey, gql: (query, variables, key = adminKey) => gqlRequest(p.url, query, variables, key) });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("three npm start processes behind no balancer", () => {
  it("migrate an empty database once, deliver every message once to claimers on all three, and wake every waiter wherever it subscribed", async () => {
    const procs = await Promise.all([start(), start(), start()]);
    const apis = procs.map(apiOf);
    const api = (i: number) => apis[i % 3]!;

    const { server, database } = parseDatabaseUrl(env.DATABASE_URL);
    const conn = await createConnection({ ...server, database });
    const rows: { migration_name: string }[] = await conn.query("SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL");
    await conn.end();
    expect(rows.map((r) => r.migration_name).sort()).toEqual((await listMigrations()).map((m) => m.name));

    const scopeId = await createScope(api(0));
    const queueId = await createQueue(api(1), scopeId, { visibilityTimeoutS: 60 }); // nothing lapses: a second delivery would be a double
    const waitQueueId = await createQueue(api(2), scopeId, { visibilityTimeoutS: 60 });

    // A waiter on every process for a completion made on each of the other two.
    const clients = procs.map((p) => {
      const c = createClient({ url: p.url.replace("http", "ws"), webSocketImpl: WebSocket, retryAttempts: 0, connectionParams: { authorization: `Bearer ${adminKey}` } });
      return track(c, `ws client on :${p.port}`, () => c.dispose());
    });
    const waiters: { on: number; by: number; correlationId: string; sub: Subscription<any>; messageId?: string }[] = [];
    for (const on of [0, 1, 2]) {
      for (const by of [0, 1, 2]) {
        if (by === on) continue;
        const correlationId = `w-${on}-${by}-${uniq()}`;
        const sub = subscribe(clients[on]!, COMPLETED, { c: correlationId });
        waiters.push({ on, by, correlationId, sub });
      }
    }
    for (const w of waiters) expect(await w.sub.quiet(100)).toBe(true);

    // 1,800 messages published through all three while 21 claimers take them: each claims
    // on one process and completes on the next.
    let publishingDone = false;
    const publishing = Promise.all(apis.map((api) => publishMany(api, queueId, 600))).finally(() => (publishingDone = true));
    const delivered: string[] = [];
    const claimer = async (i: number) => {
      const claimVia = api(i);
      const completeVia = api(i + 1);
      for (;;) {
        const drained = publishingDone; // read first: an empty claim after every publish answered means nothing is left
        const r = await claimVia.gql(CLAIM, { i: { queueId, batchSize: 10 } });
        expect(r.errors).toBeUndefined();
        const got = r.data.claim as { id: string; claimToken: string; attempts: number }[];
        if (!got.length) {
          if (drained) return;
          await sleep(20);
          continue;
        }
        for (const m of got) expect(m.attempts).toBe(1);
        delivered.push(...got.map((m) => m.id));
        const done = await completeVia.gql(COMPLETE_BATCH, { is: got.map((m) => ({ messageId: m.id, claimToken: m.claimToken })) });
        expect(done.errors).toBeUndefined();
      }
    };
    // Meanwhile each waiter's message: published on the third process, claimed and completed on `by`.
    const wakeups = async () => {
      for (const w of waiters) {
        const pub = await api(3 - w.on - w.by).gql(PUBLISH, { i: { queueId: waitQueueId, body: {}, correlationId: w.correlationId } });
        w.messageId = pub.data.publish.message.id;
        const [m] = (await api(w.by).gql(CLAIM, { i: { queueId: waitQueueId } })).data.claim;
        expect(m.id).toBe(w.messageId);
        expect((await api(w.by).gql(COMPLETE, { i: { messageId: m.id, claimToken: m.claimToken } })).errors).toBeUndefined();
      }
    };
    const [ids] = await Promise.all([
      publishing.then((perProcess) => perProcess.flat()),
      Promise.all(Array.from({ length: 21 }, (_, i) => claimer(i))),
      wakeups(),
    ]);

    expect(ids).toHaveLength(1800);
    expect(delivered).toHaveLength(1800);
    expect(new Set(delivered)).toEqual(new Set(ids));
    expect(await stateCounts(api(2), queueId)).toEqual({ COMPLETED: 1800 });
    for (const a of apis) expect((await a.gql(DEPTH, { q: queueId })).data.queueDepth).toEqual({ pending: 0, claimed: 0, delayed: 0 });

    for (const w of waiters) expect(pick((await w.sub.next(10_000)).messageCompleted, "messageId", "state")).toEqual({ messageId: w.messageId, state: "COMPLETED" });
    await sleep(200);
    for (const w of waiters) expect(w.sub.buffered()).toEqual([]); // once each
    for (const w of waiters) w.sub.close();
    for (const c of clients) {
      untrack(c);
      await c.dispose();
    }

    for (const p of procs) p.child.kill("SIGTERM");
    expect(await Promise.all(procs.map((p) => p.exited))).toEqual([0, 0, 0]);
  }, 150_000);
});

describe("WEB_CONCURRENCY=2", () => {
  /** The pids behind /healthz for `n` new connections (no keep-alive, so the primary spreads them). */
  const pidsBehind = (port: number, n: number) =>
    Promise.all(
      Array.from({ length: n }, () =>
        new Promise<number | null>((resolve) => {
          const req = get({ host: "127.0.0.1", port, path: "/healthz", agent: false }, (res) => {
            res.resume();
            resolve(res.statusCode === 200 ? Number(res.headers["x-process-id"]) : null);
          });
          // A connection the primary was handing to the worker just killed is never
          // answered (node:cluster loses it): a client needs a timeout there anyway.
          req.setTimeout(5000, () => req.destroy());
          req.on("error", () => resolve(null));
        }),
      ),
    ).then((pids) => new Set(pids.filter((p): p is number => p !== null)));
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  async function twoWorkers(primary: ServiceProcess, not: number[] = []): Promise<number[]> {
    for (const end = Date.now() + 90_000; Date.now() < end; await sleep(200)) {
      const pids = [...(await pidsBehind(primary.port, 6))];
      if (pids.length === 2 && pids.every((p) => !not.includes(p))) return pids;
    }
    throw new Error(`two workers never answered:\n${primary.output()}`);
  }

  it("serves one port from two worker processes, replaces a killed one, and drains both on SIGTERM", async () => {
    const primary = await start({ WEB_CONCURRENCY: "2" });
    const workers = await twoWorkers(primary);
    expect(workers).not.toContain(primary.child.pid);
    await createScope(apiOf(primary)); // the API is served, with the key the primary ensured

    const [victim, survivor] = workers as [number, number];
    process.kill(victim, "SIGKILL");
    const now = await twoWorkers(primary, [victim]);
    expect(now).toContain(survivor);
    expect(alive(victim)).toBe(false);
    await createScope(apiOf(primary));

    primary.child.kill("SIGTERM");
    expect(await primary.exited).toBe(0);
    for (const pid of now) expect(alive(pid)).toBe(false);
  }, 150_000);
});
