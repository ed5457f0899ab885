import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, uniq, type TestServer } from "../support/server.js";
import { startRedisCluster, type LocalRedisCluster } from "../support/redis-cluster.js";
import { subscribe } from "../support/subscription.js";
import { createQueue, createScope } from "../support/api.js";
import { CLAIM, COMPLETE, COMPLETE_BATCH, COMPLETED, DEPTH, MESSAGE_STATES, PUBLISH, PUBLISH_BATCH } from "../support/ops.js";
import { quickstartSuite } from "./quickstart.suite.js";
import { concurrencySuite } from "./concurrency.suite.js";
import { REPAIR_GRACE_MS } from "../../src/domain/reconcile.js";
import { ConfigError, loadConfig } from "../../src/config.js";

// The service on a six-node Redis Cluster (3 masters, 3 replicas) of this file's own.
let cluster: LocalRedisCluster;
beforeAll(async () => {
  cluster = await startRedisCluster();
});
afterAll(() => cluster?.stop());

const onCluster = (env: Record<string, string> = {}) => startTestServer({ ...env, REDIS_CLUSTER_NODES: cluster.nodes });

describe("cluster configuration", () => {
  const problems = (env: Record<string, string>) => {
    try {
      loadConfig(env);
      return [];
    } catch (err) {
      return (err as ConfigError).problems;
    }
  };

  it("takes the nodes from REDIS_CLUSTER_NODES, or from a redis+cluster:// URL with its credentials", () => {
    expect(loadConfig({ REDIS_CLUSTER_NODES: "10.0.0.1:7000, 10.0.0.2:7001" }).redis.cluster).toEqual({
      nodes: [
        { host: "10.0.0.1", port: 7000 },
        { host: "10.0.0.2", port: 7001 },
      ],
      tls: false,
    });
    expect(loadConfig({ REDIS_URL: "rediss+cluster://app:p%40ss@r1:7000,r2:7000" }).redis.cluster).toEqual({
      nodes: [
        { host: "r1", port: 7000 },
        { host: "r2", port: 7000 },
      ],
      username: "app",
      password: "p@ss",
      tls: true,
    });
    expect(loadConfig({}).redis.cluster).toBeNull();
  });

  it("refuses nodes that are not host:port, nodes given twice, and a database index", () => {
    expect(problems({ REDIS_CLUSTER_NODES: "r1" })).toEqual([expect.stringMatching(/^REDIS_CLUSTER_NODES: /)]);
    expect(problems({ REDIS_URL: "redis+cluster://r1:7000", REDIS_CLUSTER_NODES: "r2:7000" })).toEqual([expect.stringMatching(/^REDIS_CLUSTER_NODES: /)]);
    expect(problems({ REDIS_URL: "redis://r1:6379/2", REDIS_CLUSTER_NODES: "r2:7000" })).toEqual(["REDIS_URL: a Redis Cluster has only database 0"]);
  });
});

describe("on a Redis Cluster: the quickstart", () => quickstartSuite(() => onCluster()));

describe("on a Redis Cluster: concurrency", () => concurrencySuite(onCluster));

// Last in the file: it leaves the cluster with one master fewer.
describe("a master killed during publish, claim and complete", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await onCluster({ DATABASE_POOL_SIZE: "16" });
  });
  afterAll(() => s?.stop());

  const QUEUES = 2;
  const PER_QUEUE = 200;
  const WORKERS = 8;

  it("fails over to its replica; after reconciliation every message is completed exactly once", async () => {
    const scopeId = await createScope(s);
    // long claims: a claim must end by its holder's complete, not by a lapse
    const queues = await Promise.all(Array.from({ length: QUEUES }, () => createQueue(s, scopeId, { visibilityTimeoutS: 600 })));
    const scripts = s.app.deps.scripts;
    // every key of the scope shares its hash tag, so one master holds all of them: kill that one
    const victim = await cluster.masterOf(scripts.keys.queue(scopeId, queues[0]!).pending);
    const serversBefore = await scripts.serverIds();

    const published: string[] = [];
    const completedBy = new Map<string, number>(); // id -> successful completes
    let publishing = true;
    let killed = false;

    const publisher = async () => {
      for (let i = 0; i < PER_QUEUE; i += 20) {
        for (const queueId of queues) {
          const r = await s.gql(PUBLISH_BATCH, { is: Array.from({ length: 20 }, (_, j) => ({ queueId, body: { i: i + j } })) });
          expect(r.errors).toBeUndefined();
          published.push(...r.data.publishBatch.map((p: { message: { id: string } }) => p.message.id));
        }
        if (!killed && published.length >= (QUEUES * PER_QUEUE) / 3) {
          killed = true;
          void cluster.kill(victim);
        }
      }
      publishing = false;
    };
    /** Claims and completes until the queues are empty; with `untilDone`, also waits for the publisher. */
    const worker = async (w: number, untilDone: boolean) => {
      for (let round = 0, empty = 0; empty < QUEUES || (untilDone && publishing); round++) {
        const r = await s.gql(CLAIM, { i: { queueId: queues[(w + round) % QUEUES], batchSize: 5, consumerId: `worker-${w}` } });
        expect(r.errors).toBeUndefined();
        const got = r.data.claim as { id: string; claimToken: string }[];
        empty = got.length ? 0 : empty + 1;
        if (!got.length) await new Promise((res) => setTimeout(res, 20));
        else {
          const done = await s.gql(COMPLETE_BATCH, { is: got.map((m) => ({ messageId: m.id, claimToken: m.claimToken })) });
          expect(done.errors).toBeUndefined();
          for (const m of got) completedBy.set(m.id, (completedBy.get(m.id) ?? 0) + 1);
        }
      }
    };

    // a waiter that subscribed before the failover is still woken after it
    const client = s.wsClient();
    const correlationId = `after-failover-${uniq()}`;
    const waiter = subscribe(client, COMPLETED, { c: correlationId });
    expect(await waiter.quiet(300)).toBe(true);

    await Promise.all([publisher(), ...Array.from({ length: WORKERS }, (_, w) => worker(w, true))]);
    expect(killed).toBe(true);
    await cluster.healthy();
    expect(await cluster.masterOf(scripts.keys.queue(scopeId, queues[0]!).pending)).not.toBe(victim);
    // a replica took over: the reconciler sees other servers and checks every id at once
    expect(await scripts.serverIds()).not.toBe(serversBefore);

    // What Redis lost with the master (its last writes, and what went to MariaDB alone
    // while it failed over) comes back from MariaDB; two passes the grace time apart.
    // At least one round even when every message got completed meanwhile: a complete
    // whose Redis step failed in the failover leaves a stale claim only the reconciler clears.
    for (let pass = 0; pass < 5 && (pass === 0 || completedBy.size < published.length); pass++) {
      const t = Date.now();
      await s.sweep("reconciler", t);
      await s.sweep("reconciler", t + REPAIR_GRACE_MS);
      await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w, false)));
    }

    expect(published).toHaveLength(QUEUES * PER_QUEUE);
    expect(new Set(completedBy.keys())).toEqual(new Set(published));
    expect([...completedBy.values()].every((n) => n === 1)).toBe(true);
    for (const queueId of queues) {
      const r = await s.gql(MESSAGE_STATES, { q: queueId, state: "COMPLETED", first: 500 });
      expect(r.data.messages.edges).toHaveLength(PER_QUEUE);
      expect((await s.gql(DEPTH, { q: queueId })).data.queueDepth).toEqual({ pending: 0, claimed: 0, delayed: 0 });
    }

    const p = await s.gql(PUBLISH, { i: { queueId: queues[0], body: { last: true }, correlationId } });
    const [c] = (await s.gql(CLAIM, { i: { queueId: queues[0] } })).data.claim;
    expect((await s.gql(COMPLETE, { i: { messageId: c.id, claimToken: c.claimToken } })).data.complete.state).toBe("COMPLETED");
    expect((await waiter.next(10_000)).messageCompleted.messageId).toBe(p.data.publish.message.id);
    waiter.close();
    await client.dispose();
  });
});
