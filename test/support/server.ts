import { randomBytes } from "node:crypto";
import { afterAll, beforeAll } from "vitest";
import { createConnection } from "mariadb";
import { once } from "node:events";
import { Cluster, Redis } from "ioredis";
import { createClient, type Client } from "graphql-ws";
import WebSocket from "ws";
import { loadConfig, type Config } from "../../src/config.js";
import { createLogger } from "../../src/logger.js";
import { prepareDatabase } from "../../src/prepare.js";
import { buildApp, type App } from "../../src/app.js";
import { createRedis, masters } from "../../src/redis/client.js";
import type { SweepRecord } from "../../src/agents/runner.js";
import { createDb } from "../../src/db/client.js";
import { createApiKey } from "../../src/domain/api-keys/keys.js";
import { PERMISSIONS, type Permission } from "../../src/domain/actor.js";
import { parseDatabaseUrl } from "../../src/db/connection.js";
import { track, untrack } from "./resources.js";

export type GqlResult<T = any> = {
  status: number;
  data?: T;
  errors?: { message: string; path?: string[]; extensions?: { code?: string; details?: { field: string; message: string }[] } }[];
};

export type TestServer = {
  url: string;
  wsUrl: string;
  config: Config;
  app: App;
  /** runs the named agent's sweep once at `now` and returns how many messages it acted on */
  sweep(agent: string, now: number): Promise<number>;
  /** secret of a key of tenant "default" holding all four permissions */
  adminKey: string;
  /** POSTs one operation over real HTTP. */
  gql<T = any>(query: string, variables?: Record<string, unknown>, key?: string | null): Promise<GqlResult<T>>;
  /** A real graphql-ws client; close it (or use subscribe()) before the test ends. */
  wsClient(key?: string | null): Client;
  /** Creates an API key and returns its secret. */
  newKey(tenant: string, permissions?: Permission[]): Promise<string>;
  stop(): Promise<void>;
};

const BASE_URL = process.env.DATABASE_URL ?? "mysql://root@127.0.0.1:3306/scaiqueue";
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

/** A unique suffix for names (databases, prefixes, slugs) made by one test file. */
export const uniq = (n = 6) => randomBytes(n).toString("hex");

/** A clock tests step by hand; agents and the API read it instead of the wall clock. */
export type SteppedClock = { now: () => number; advance(ms: number): number; set(ms: number): number };

export function steppedClock(start = Date.now()): SteppedClock {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms), set: (ms) => (t = ms) };
}

/**
 * The service's config for a test: a database of its own (`sq_test_…`, not created yet)
 * and a Redis key prefix of its own, a bootstrap key, silent logs, agents off; `env`
 * overrides any of it. With `peerOf`, the database, prefix and bootstrap key of that
 * server instead: a second process of its deployment.
 */
export function testConfig(env: Record<string, string> = {}, peerOf?: TestServer): { config: Config; adminKey: string } {
  const url = new URL(BASE_URL);
  url.pathname = `/sq_test_${uniq()}`;
  const adminKey = peerOf?.adminKey ?? `test-bootstrap-${uniq(12)}`;
  const config = loadConfig({
    ...process.env,
    DATABASE_URL: peerOf?.config.database.url ?? url.toString(),
    DATABASE_POOL_SIZE: "8",
    REDIS_URL,
    REDIS_KEY_PREFIX: peerOf?.config.redis.keyPrefix ?? `sqt${uniq(4)}`,
    SCAIQUEUE_BOOTSTRAP_API_KEY: adminKey,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
    SCAIQUEUE_AGENTS: "off",
    ...env,
  });
  return { config, adminKey };
}

/** Drops what a test's config made: its database and its Redis keys. */
export async function dropTestData(config: Config): Promise<void> {
  await dropDatabase(config.database.url);
  await deleteKeys(config.redis.cluster ? config.redis : REDIS_URL, `${config.redis.keyPrefix}:*`);
}

/**
 * Starts the real service on port 0 with its own database (created, migrated by our
 * runner, dropped at stop) and its own Redis key prefix (deleted at stop).
 *
 * @param env overrides of the service's environment; the system agents are off unless
 *   a test asks for SCAIQUEUE_AGENTS: "on" (tests drive app.agents with runOnce instead)
 * @param opts.peerOf makes this a second process of that server's deployment: the same
 *   database, Redis prefix and bootstrap key; its stop() leaves them for the first to drop
 */
export async function startTestServer(
  env: Record<string, string> = {},
  opts: { onQuery?: (sql: string) => void; clock?: SteppedClock; onSweep?: (r: SweepRecord) => void; peerOf?: TestServer } = {},
): Promise<TestServer> {
  const { config, adminKey } = testConfig(env, opts.peerOf);
  const log = createLogger(config);
  await prepareDatabase(config, log);
  const app = buildApp(config, log, { onQuery: opts.onQuery, clock: opts.clock?.now, onSweep: opts.onSweep });
  const port = await app.start(0, "127.0.0.1");
  const keyDb = createDb({ database: { ...config.database, poolSize: 1 } });
  const base = `http://127.0.0.1:${port}`;
  const clients = new Set<Client>();

  return {
    url: `${base}/graphql`,
    wsUrl: `ws://127.0.0.1:${port}/graphql`,
    config,
    app,
    adminKey,
    sweep(agent, now) {
      const a = app.agents.find((x) => x.name === agent);
      if (!a) throw new Error(`no agent ${agent}; there are ${app.agents.map((x) => x.name).join(", ")}`);
      return a.runOnce({ now });
    },
    gql: (query, variables, key = adminKey) => gqlRequest(`${base}/graphql`, query, variables, key),
    wsClient(key = adminKey) {
      const client = createClient({
        url: `ws://127.0.0.1:${port}/graphql`,
        webSocketImpl: WebSocket,
        retryAttempts: 0,
        lazy: false,
        connectionParams: key ? { authorization: `Bearer ${key}` } : {},
        onNonLazyError: () => {},
      });
      const dispose = client.dispose.bind(client);
      client.dispose = () => {
        untrack(client);
        clients.delete(client);
        return dispose();
      };
      clients.add(client);
      return track(client, "graphql-ws client", () => client.dispose());
    },
    async newKey(tenant, permissions = [...PERMISSIONS]) {
      return (await createApiKey(keyDb, tenant, permissions)).secret;
    },
    async stop() {
      for (const c of clients) await c.dispose();
      await app.stop();
      await keyDb.$disconnect();
      if (opts.peerOf) return;
      await dropTestData(config);
    },
  };
}

/**
 * A server of the enclosing describe's own, for settings other than the file's: started
 * in the describe's beforeAll, stopped in its afterAll. Answers a function that gives
 * the server to the describe's tests (and to later beforeAll hooks of the describe).
 */
export function suiteServer(env: Record<string, string> = {}, opts: Parameters<typeof startTestServer>[1] = {}): () => TestServer {
  let server: TestServer | undefined;
  beforeAll(async () => {
    server = await startTestServer(env, opts);
  });
  afterAll(() => server?.stop());
  return () => {
    if (!server) throw new Error("a suite server is read before its describe's beforeAll started it");
    return server;
  };
}

/** The contract code of a result's first error (undefined when it succeeded). */
export const code = (r: GqlResult): string | undefined => r.errors?.[0]?.extensions?.code;

/** The data of a result that must have succeeded. */
export async function ok(p: Promise<GqlResult>): Promise<any> {
  const r = await p;
  if (r.errors) throw new Error(`expected success, got ${JSON.stringify(r.errors)}`);
  return r.data;
}

/** One GraphQL operation over real HTTP to `url`. */
export async function gqlRequest<T = any>(
  url: string,
  query: string,
  variables?: Record<string, unknown>,
  key?: string | null,
): Promise<GqlResult<T>> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, ...((await res.json()) as object) };
}

export async function dropDatabase(databaseUrl: string): Promise<void> {
  const { server, database } = parseDatabaseUrl(databaseUrl);
  const conn = await createConnection(server);
  try {
    await conn.query(`DROP DATABASE IF EXISTS \`${database}\``);
  } finally {
    await conn.end();
  }
}

/** Deletes the keys matching `pattern` from a Redis server (by URL) or, given a cluster's config, from each of its masters. */
export async function deleteKeys(target: string | Config["redis"], pattern: string): Promise<void> {
  const redis = typeof target === "string" ? new Redis(target) : createRedis({ redis: target });
  try {
    if (redis instanceof Cluster && redis.status !== "ready") await once(redis, "ready");
    for (const node of masters(redis)) {
      let cursor = "0";
      do {
        const [next, keys] = await node.scan(cursor, "MATCH", pattern, "COUNT", 1000);
        // on a cluster, keys of different slots cannot share one DEL
        if (keys.length) await (redis instanceof Cluster ? Promise.all(keys.map((k) => node.del(k))) : node.del(...keys));
        cursor = next;
      } while (cursor !== "0");
    }
  } finally {
    redis.disconnect();
  }
}
