import type { Config } from "./config.js";
import type { Logger } from "./logger.js";
import { createDb } from "./db/client.js";
import { createSqlPool } from "./db/sql.js";
import { createRedis } from "./redis/client.js";
import { createKeys } from "./redis/keys.js";
import { QueueScripts } from "./redis/scripts.js";
import { EventBus } from "./events/bus.js";
import { QueueDirectory } from "./db/queue-directory.js";
import { ApiKeyVerifier } from "./domain/api-keys/keys.js";
import { ApiKeyLifecycle } from "./domain/api-keys/lifecycle.js";
import { RateLimiter } from "./domain/api-keys/rate-limits.js";
import { KeyChanges } from "./events/key-changes.js";
import { KeyConnections } from "./http/key-connections.js";
import type { Clock, Deps } from "./domain/deps.js";
import { Journal } from "./db/journal.js";
import { MessageStatements } from "./db/message-statements.js";
import { StagedEvents } from "./db/staged-events.js";
import { createGraphQL } from "./http/yoga.js";
import { AuthFailures } from "./http/auth.js";
import { createHttpServer } from "./http/server.js";
import type { Agent } from "./agents/agent.js";
import { createAgents } from "./agents/all.js";
import { startAgents, type SweepRecord } from "./agents/runner.js";
import { SchemaBook } from "./domain/message-schemas/schema-book.js";
import { RuleBook } from "./domain/routing/rule-book.js";

export type App = {
  deps: Deps;
  /** The system agents, in sweep order; tests call runOnce on them with a stepped clock. */
  agents: Agent[];
  /** Listens on `port` (0 = any free one) and resolves to the bound port. */
  start(port?: number, host?: string): Promise<number>;
  /** Stops taking work, lets in-flight requests finish (up to the grace time), then closes everything. */
  stop(): Promise<void>;
};

const READY_TIMEOUT_MS = 2000;

export function buildApp(
  config: Config,
  log: Logger,
  opts: { clock?: Clock; onQuery?: (sql: string) => void; onSweep?: (r: SweepRecord) => void } = {},
): App {
  const db = createDb(config, { onQuery: opts.onQuery });
  const sql = createSqlPool(config, { onQuery: opts.onQuery });
  const statements = new MessageStatements(sql);
  const clock = opts.clock ?? Date.now;
  const stagedEvents = new StagedEvents(sql, db, config.agents.archiveAfterMs, clock);
  const redis = createRedis(config);
  const subscriber = createRedis(config, { subscriber: true });
  const keys = createKeys(config.redis.keyPrefix);
  const scripts = new QueueScripts(redis, keys);
  const deps: Deps = {
    db,
    sql,
    statements,
    scripts,
    bus: new EventBus(redis, scripts, subscriber, keys, (err) => log.error({ err }, "event bus")),
    queues: new QueueDirectory(db),
    rules: new RuleBook(db),
    schemas: new SchemaBook(db, config.limits.schemaValidationMs),
    stagedEvents,
    journal: new Journal(sql, stagedEvents.insert, (err) => log.error({ err }, "journal write failed")),
    log,
    clock,
    limits: { messageBytes: config.limits.messageBytes, consumerGroupsPerQueue: config.limits.consumerGroupsPerQueue },
    retry: config.retry,
    random: Math.random,
  };
  for (const r of [redis, subscriber]) r.on("error", (err) => log.warn({ err: err.message }, "redis"));
  const verifier = new ApiKeyVerifier(db, deps.clock);
  const keyChanges = new KeyChanges(redis, subscriber, keys.apiKeyChanges, (err) => log.warn({ err }, "API key announcement"));
  const connections = new KeyConnections(verifier, (err) => log.warn({ err }, "re-checking the API keys of open connections"));
  const apiKeys = new ApiKeyLifecycle(
    db,
    deps.clock,
    async (keyId) => {
      verifier.forget(keyId); // this process at once; the others when the announcement arrives
      await keyChanges.announce(keyId);
    },
    config.rateLimits.key,
  );
  const authFailures = new AuthFailures(config.authFailures, deps.clock);
  const rateLimiter = new RateLimiter(deps.scripts, config.rateLimits, deps.clock, (err) => log.warn({ err }, "rate limit"));
  const agents = createAgents(deps, config, log);
  let runner: ReturnType<typeof startAgents> | null = null;
  const yoga = createGraphQL({ config, deps, apiKeys, verifier, authFailures, rateLimiter, connections, log });

  async function readiness() {
    const check = async (fn: () => Promise<unknown>) => {
      try {
        await withTimeout(fn(), READY_TIMEOUT_MS);
        return "ok";
      } catch (err) {
        return `down: ${(err as Error).message}`;
      }
    };
    const [mariadb, redisState] = await Promise.all([check(() => db.$queryRaw`SELECT 1`), check(() => redis.ping())]);
    return { ok: mariadb === "ok" && redisState === "ok", checks: { mariadb, redis: redisState } };
  }
  const http = createHttpServer({ config, log, yoga, verifier, authFailures, connections, readiness });
  keyChanges.listen((keyId) => {
    verifier.forget(keyId);
    connections.recheck(keyId).catch((err) => log.warn({ err }, "re-checking the API keys of open connections"));
  });

  return {
    deps,
    agents,
    async start(port = config.port, host = config.host) {
      const bound = await http.listen(port, host);
      if (config.agents.enabled) runner = startAgents(agents, { ...deps, log, onSweep: opts.onSweep });
      connections.start();
      return bound;
    },
    async stop() {
      if (http.stopping) return;
      const closing = http.close();
      connections.stop();
      await closing;
      await runner?.stop();
      // the agents' last sweep may still be writing audit entries or `_events` rows
      await deps.journal.settled();
      await Promise.allSettled([redis.quit(), subscriber.quit(), db.$disconnect(), sql.end(), deps.schemas.close()]);
    },
  };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([
    p,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms).unref()),
  ]);
}
