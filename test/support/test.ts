import { test as base } from "vitest";
import { startTestServer, steppedClock, type SteppedClock, type TestServer } from "./server.js";
import { startPrivateRedis, type PrivateRedis } from "./redis-server.js";
import { createQueue, createScope } from "./api.js";

/*
 * The fixtures of a test file that talks to one server (and, when it asks for `peer`, a
 * second process of its deployment): `test(name, async ({ gql, scope }) => …)`.
 *
 * Per file (set up when a test or a `test.beforeAll` first asks for them, torn down after
 * the file's last test, in reverse order):
 *   server   a started TestServer (server.ts): its own database and Redis key prefix,
 *            agents off; stopped, database dropped and keys deleted at the end
 *   gql      server.gql: one operation over HTTP, with the admin key unless told another
 *   clock    the clock the server reads: a SteppedClock with `stepped`, else the wall
 *            clock (whose advance() and set() throw)
 *   redis    with `privateRedis`, a Redis server of the file's own the server uses
 *            (redis-server.ts: it may be stopped, started and flushed); else null
 *   peer     a second process of the server's deployment: another TestServer on the
 *            same database, Redis prefix, bootstrap key, environment and clock (its
 *            caches, sockets and pub/sub its own); stopped before `server`
 * Options, set for the whole file with `test.override({ … })` at its top:
 *   serverEnv     overrides of the server's environment (default none)
 *   stepped       the server reads a stepped `clock` (default false: the wall clock)
 *   privateRedis  the server uses a private Redis, `redis` (default false: the shared one)
 * Per test:
 *   scope     a fresh scope of the server's, made through the API; its id
 *   newQueue  makes a queue in `scope` (FIFO COMPETING unless told otherwise); its id
 *
 * Files with another setup (`npm start` processes, agents on, a Redis Cluster, a private
 * MariaDB, SQL counted) start their servers themselves; so do describes that need a
 * server of other settings than the file's (suiteServer in server.ts).
 */

const wallClock: SteppedClock = {
  now: () => Date.now(),
  advance: () => {
    throw new Error("this file's server reads the wall clock: test.override({ stepped: true }) to step it");
  },
  set: () => {
    throw new Error("this file's server reads the wall clock: test.override({ stepped: true }) to step it");
  },
};

const envOf = (env: Record<string, string>, redis: PrivateRedis | null) => ({ ...env, ...(redis ? { REDIS_URL: redis.url } : {}) });

export const test = base
  .extend("serverEnv", { scope: "file" }, {} as Record<string, string>)
  .extend("stepped", { scope: "file" }, false as boolean)
  .extend("privateRedis", { scope: "file" }, false as boolean)
  .extend("clock", { scope: "file" }, ({ stepped }): SteppedClock => (stepped ? steppedClock() : wallClock))
  .extend("redis", { scope: "file" }, async ({ privateRedis }, { onCleanup }): Promise<PrivateRedis | null> => {
    if (!privateRedis) return null;
    const redis = await startPrivateRedis();
    onCleanup(() => redis.stop());
    return redis;
  })
  .extend("server", { scope: "file" }, async ({ serverEnv, stepped, clock, redis }, { onCleanup }): Promise<TestServer> => {
    const server = await startTestServer(envOf(serverEnv, redis), { clock: stepped ? clock : undefined });
    onCleanup(() => server.stop());
    return server;
  })
  .extend("peer", { scope: "file" }, async ({ server, serverEnv, stepped, clock, redis }, { onCleanup }): Promise<TestServer> => {
    const peer = await startTestServer(envOf(serverEnv, redis), { clock: stepped ? clock : undefined, peerOf: server });
    onCleanup(() => peer.stop());
    return peer;
  })
  .extend("gql", { scope: "file" }, ({ server }): TestServer["gql"] => server.gql)
  .extend("scope", ({ server }) => createScope(server))
  .extend("newQueue", ({ server, scope }) => (extra: Record<string, unknown> = {}) => createQueue(server, scope, extra));

export { expect, describe } from "vitest";
