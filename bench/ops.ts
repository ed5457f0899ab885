/**
 * What one operation costs each process, on a warm server: `npm run bench:ops`
 * (optionally `-- --calls 4000 --callers 8 --transport ws|http --json FILE --profile DIR
 * --server-env K=V … --only typename`).
 * It starts one `npm start` server on its own database and key prefix, then runs each
 * operation `calls` times from `callers` concurrent clients in this process, and prints
 * the server's, MariaDB's and Redis's CPU per call (from /proc) and the calls per second.
 * `{ __typename }` is the transport's floor; publish, claim (batchSize 1) and complete
 * are one message's three steps. With `--profile`, the server runs with --cpu-prof;
 * `--only typename` runs only the floor (to profile the per-operation overhead alone).
 */
import { writeFileSync } from "node:fs";
import { dropDatabase, deleteKeys, findPid, newRunIds, procSample, startServer } from "./env.js";
import { httpGql, wsGql, Q, type Claimed, type Gql } from "./gql.js";
import { counter, messageBody } from "./stats.js";

const argv = process.argv.slice(2);
const flag = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const calls = Number(flag("--calls") ?? 4000);
const callers = Number(flag("--callers") ?? 8);
const transport = (flag("--transport") ?? "ws") as "ws" | "http";
const jsonFile = flag("--json");
const onlyFloor = flag("--only") === "typename";
const profileDir = flag("--profile");
const serverEnv = Object.fromEntries(
  argv.flatMap((a, i) => (argv[i - 1] === "--server-env" ? [[a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)]] : [])),
);
if (!(calls > 0 && callers > 0) || !["ws", "http"].includes(transport)) throw new Error("usage: --calls N --callers N --transport ws|http");

type Row = { operation: string; calls: number; perSecond: number; serverUs: number; mariadbUs: number; redisUs: number };

const ids = newRunIds();
const server = await startServer(ids, { profileDir, env: { SCAIQUEUE_AGENTS: "off", ...serverEnv } });
const pids = { server: server.pid, mariadb: findPid("mariadbd") ?? findPid("mysqld"), redis: findPid("redis-server") };
const cpu = () => Object.fromEntries(Object.entries(pids).map(([n, pid]) => [n, pid ? (procSample(pid)?.cpuS ?? NaN) : NaN]));
const clients: Gql[] = Array.from({ length: callers }, () =>
  transport === "ws" ? wsGql(server.wsUrl, ids.key) : httpGql(server.url, ids.key, 1),
);

/** Runs `op` `calls` times over the callers and measures it. */
async function measure(operation: string, op: (gql: Gql, n: number) => Promise<void>): Promise<Row> {
  const work = counter(calls);
  const before = cpu();
  const t0 = performance.now();
  await Promise.all(clients.map(async (gql) => {
    for (let n = work.take(); n !== null; n = work.take()) await op(gql, n);
  }));
  const s = (performance.now() - t0) / 1000;
  const after = cpu();
  const us = (name: string) => ((after[name]! - before[name]!) * 1e6) / calls;
  const row = { operation, calls, perSecond: calls / s, serverUs: us("server"), mariadbUs: us("mariadb"), redisUs: us("redis") };
  process.stderr.write(`  ${operation}: ${Math.round(row.perSecond)}/s, server ${Math.round(row.serverUs)} µs per call\n`);
  return row;
}

const rows: Row[] = [];
try {
  const admin = clients[0]!;
  const scopeId = (await admin.request<{ createScope: { id: string } }>(Q.createScope, { i: { slug: `ops-${ids.tag}`, displayName: "Ops" } })).createScope.id;
  const queueId = (await admin.request<{ createQueue: { id: string } }>(Q.createQueue, { i: { scopeId, slug: "ops", displayName: "Ops" } })).createQueue.id;
  const claimed: Claimed[] = [];
  // one untimed round of each first, so the server has compiled and connected what it uses
  for (const gql of clients) {
    await gql.request(`{ __typename }`);
    await gql.request(Q.publish, { i: { queueId, body: messageBody(0) } });
    const [c] = (await gql.request<{ claim: Claimed[] }>(Q.claim, { i: { queueId } })).claim;
    await gql.request(Q.complete, { i: { messageId: c!.id, claimToken: c!.claimToken } });
  }
  rows.push(await measure("{ __typename }", (gql) => gql.request(`{ __typename }`).then(() => {})));
  if (!onlyFloor) {
    rows.push(await measure("queueDepth", (gql) => gql.request(Q.depth, { q: queueId }).then(() => {})));
    rows.push(await measure("publish", (gql, n) => gql.request(Q.publish, { i: { queueId, body: messageBody(n) } }).then(() => {})));
    rows.push(
      await measure("claim (batchSize 1)", async (gql) => {
        claimed.push(...(await gql.request<{ claim: Claimed[] }>(Q.claim, { i: { queueId } })).claim);
      }),
    );
    if (claimed.length !== calls) throw new Error(`claimed ${claimed.length} of ${calls}`);
    rows.push(
      await measure("complete", (gql, n) => gql.request(Q.complete, { i: { messageId: claimed[n]!.id, claimToken: claimed[n]!.claimToken } }).then(() => {})),
    );
  }

  console.log(`| operation (${transport}, ${callers} callers) | calls/s | server CPU µs/call | MariaDB CPU µs/call | Redis CPU µs/call |`);
  console.log("|---|---|---|---|---|");
  for (const r of rows) {
    console.log(`| ${r.operation} | ${Math.round(r.perSecond)} | ${Math.round(r.serverUs)} | ${Math.round(r.mariadbUs)} | ${Math.round(r.redisUs)} |`);
  }
  if (jsonFile) writeFileSync(jsonFile, JSON.stringify({ at: new Date().toISOString(), database: ids.database, prefix: ids.prefix, transport, callers, rows }, null, 2));
} finally {
  await Promise.all(clients.map((c) => c.close()));
  await server.stop();
  await dropDatabase(ids);
  await deleteKeys(`${ids.prefix}:*`);
}
