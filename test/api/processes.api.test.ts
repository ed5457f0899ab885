import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import { gqlRequest, startTestServer, uniq, type TestServer } from "../support/server.js";
import { startServiceProcess, type ServiceProcess } from "../support/process.js";
import { subscribe } from "../support/subscription.js";
import { track, untrack } from "../support/resources.js";
import { createQueue, createScope, publishMany, stateCounts } from "../support/api.js";
import { CLAIM, COMPLETE, COMPLETE_BATCH, COMPLETED, DEPTH, PUBLISH } from "../support/ops.js";

// `s` owns the database and Redis prefix (agents off); the `npm start` processes share them.
let s: TestServer;
let scopeId: string;
const processes: ServiceProcess[] = [];
beforeAll(async () => {
  s = await startTestServer();
  scopeId = await createScope(s);
});
afterAll(async () => {
  for (const p of processes) if (p.child.exitCode === null) p.child.kill("SIGKILL");
  await s?.stop();
});

async function startProcess(): Promise<ServiceProcess> {
  const p = await startServiceProcess({
    DATABASE_URL: s.config.database.url,
    REDIS_KEY_PREFIX: s.config.redis.keyPrefix,
    SCAIQUEUE_BOOTSTRAP_API_KEY: s.adminKey,
    LOG_LEVEL: "warn",
    RECONCILE_EVERY_S: "3", // the kill -9 test waits for a full pass to clear the dead process's locks
  });
  processes.push(p);
  return p;
}
const urlOf = (p: ServiceProcess) => `http://127.0.0.1:${p.port}/graphql`;

describe("two npm start processes on one MariaDB and Redis", () => {
  it("deliver each of 2,000 messages once to 20 claimers spread over both, and wake waiters across processes", async () => {
    const [a, b] = await Promise.all([startProcess(), startProcess()]);
    const queueId = await createQueue(s, scopeId, { visibilityTimeoutS: 60 });
    const ids = await publishMany(s, queueId, 2000);

    // a waiter on A, a completion made through B
    const correlationId = `cross-${uniq()}`;
    const client = createClient({ url: `ws://127.0.0.1:${a.port}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0, connectionParams: { authorization: `Bearer ${s.adminKey}` } });
    track(client, "ws client on A", () => client.dispose());
    const waiter = subscribe(client, COMPLETED, { c: correlationId });
    expect(await waiter.quiet(300)).toBe(true);

    const seen: string[] = [];
    const worker = async (url: string) => {
      for (;;) {
        const r = await gqlRequest(url, CLAIM, { i: { queueId, batchSize: 10 } }, s.adminKey);
        expect(r.errors).toBeUndefined();
        const got = r.data.claim as { id: string; claimToken: string; attempts: number }[];
        if (!got.length) return;
        for (const m of got) expect(m.attempts).toBe(1); // nobody timed out
        seen.push(...got.map((m) => m.id));
        const done = await gqlRequest(url, COMPLETE_BATCH, { is: got.map((m) => ({ messageId: m.id, claimToken: m.claimToken })) }, s.adminKey);
        expect(done.errors).toBeUndefined();
      }
    };
    await Promise.all(Array.from({ length: 20 }, (_, i) => worker(urlOf(i % 2 ? a : b))));
    expect(seen).toHaveLength(2000);
    expect(new Set(seen)).toEqual(new Set(ids));
    expect(await stateCounts(s, queueId)).toEqual({ COMPLETED: 2000 });

    const pub = await gqlRequest(urlOf(b), PUBLISH, { i: { queueId, body: {}, correlationId } }, s.adminKey);
    const claimed = await gqlRequest(urlOf(b), CLAIM, { i: { queueId } }, s.adminKey);
    await gqlRequest(urlOf(b), COMPLETE, { i: { messageId: claimed.data.claim[0].id, claimToken: claimed.data.claim[0].claimToken } }, s.adminKey);
    expect((await waiter.next()).messageCompleted.messageId).toBe(pub.data.publish.message.id);
    waiter.close();
    untrack(client);
    await client.dispose();
    a.child.kill("SIGTERM");
    b.child.kill("SIGTERM");
    expect(await Promise.all([a.exited, b.exited])).toEqual([0, 0]);
  });
});

describe("kill -9 in the middle of a claim/complete storm", () => {
  it("ends with every message COMPLETED exactly once after a restart", async () => {
    let target = await startProcess();
    const queueId = await createQueue(s, scopeId, { visibilityTimeoutS: 2 });
    const ids = await publishMany(s, queueId, 1000);
    const completedBy: string[] = [];
    let killed = false;
    let stop = false;

    const worker = async () => {
      while (!stop) {
        try {
          const r = await gqlRequest(urlOf(target), CLAIM, { i: { queueId, batchSize: 5 } }, s.adminKey);
          const got = (r.data?.claim ?? []) as { id: string; claimToken: string }[];
          if (!got.length) {
            await new Promise((res) => setTimeout(res, 100));
            continue;
          }
          const done = await gqlRequest(urlOf(target), COMPLETE_BATCH, { is: got.map((m) => ({ messageId: m.id, claimToken: m.claimToken })) }, s.adminKey);
          if (done.data?.completeBatch) completedBy.push(...done.data.completeBatch.map((m: { id: string }) => m.id));
        } catch {
          await new Promise((res) => setTimeout(res, 100)); // the server is down: try again
        }
        if (!killed && completedBy.length >= 300) {
          killed = true;
          target.child.kill("SIGKILL");
          target = await startProcess();
        }
      }
    };
    const workers = Array.from({ length: 20 }, worker);
    const deadline = Date.now() + 60_000;
    let counts: Record<string, number> = {};
    while (Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 1000));
      counts = await stateCounts(s, queueId);
      if (killed && counts.COMPLETED === 1000) break;
    }
    stop = true;
    await Promise.all(workers);
    expect(killed).toBe(true);
    expect(counts).toEqual({ COMPLETED: 1000 });
    // a completion that answered before the kill may be repeated by nobody: each id succeeded once
    expect(completedBy.length).toBe(new Set(completedBy).size);
    expect(new Set(completedBy).size).toBeLessThanOrEqual(1000);
    expect(new Set(ids).size).toBe(1000);
    // Locks the killed process took in Redis and never dropped are stale now; the
    // reconciler removes them once they have outlasted its grace time (5 s).
    let depth: unknown;
    for (const end = Date.now() + 20_000; Date.now() < end; await new Promise((r) => setTimeout(r, 500))) {
      depth = (await gqlRequest(urlOf(target), DEPTH, { q: queueId }, s.adminKey)).data.queueDepth;
      if (JSON.stringify(depth) === JSON.stringify({ pending: 0, claimed: 0, delayed: 0 })) break;
    }
    expect(depth).toEqual({ pending: 0, claimed: 0, delayed: 0 });
    target.child.kill("SIGTERM");
    await target.exited;
  });
});
