import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
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
import { answerPlainPost, isPlainPost } from "./http/plain-post.js";
import { attachGraphQLWs } from "./http/ws.js";
import { AuthFailures } from "./http/auth.js";
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

  let inFlight = 0;
  let stopping = false;
  let drained: (() => void) | null = null;

  const server = createServer((req, res) => {
    inFlight++;
    res.on("close", () => {
      inFlight--;
      if (stopping && inFlight === 0) drained?.();
    });
    void route(req as IncomingMessage & { requestId?: string; body?: unknown }, res);
  });
  const ws = attachGraphQLWs(server, yoga, verifier, authFailures, config, connections);
  keyChanges.listen((keyId) => {
    verifier.forget(keyId);
    connections.recheck(keyId).catch((err) => log.warn({ err }, "re-checking the API keys of open connections"));
  });

  async function route(req: IncomingMessage & { requestId?: string; body?: unknown }, res: ServerResponse) {
    const requestId = headerValue(req.headers["x-request-id"]) ?? randomUUID();
    req.requestId = requestId;
    res.setHeader("x-request-id", requestId);
    const path = (req.url ?? "/").split("?")[0];
    try {
      if (path === "/healthz") {
        res.setHeader("x-process-id", String(process.pid)); // which of several processes on one port answered
        return json(res, stopping ? 503 : 200, { status: stopping ? "stopping" : "ok" });
      }
      if (path === "/readyz") return json(res, ...(await readiness()));
      if (path !== yoga.graphqlEndpoint) return json(res, 404, { error: "not found; GraphQL is at /graphql" });
      if (stopping) return json(res, 503, graphqlError("the server is shutting down", "SERVICE_UNAVAILABLE"));
      if (req.method === "POST") {
        const body = await readBody(req, config.limits.requestBytes);
        if (body === null) {
          return json(res, 413, graphqlError(`request body over ${config.limits.requestBytes} bytes`, "VALIDATION_ERROR"));
        }
        req.body = preRead(body, req.headers["content-type"]);
        if (isPlainPost(req, req.body) && (await answerPlainPost(yoga, req, res, req.body))) return;
      }
      await yoga.requestListener(req, res); // the context factory reads req.requestId
    } catch (err) {
      log.error({ err, requestId }, "request failed");
      if (!res.headersSent) json(res, 500, graphqlError("Unexpected error.", "INTERNAL_SERVER_ERROR"));
      else res.destroy();
    }
  }

  async function readiness(): Promise<[number, unknown]> {
    const check = async (fn: () => Promise<unknown>) => {
      try {
        await withTimeout(fn(), READY_TIMEOUT_MS);
        return "ok";
      } catch (err) {
        return `down: ${(err as Error).message}`;
      }
    };
    const [mariadb, redisState] = await Promise.all([check(() => db.$queryRaw`SELECT 1`), check(() => redis.ping())]);
    const ok = mariadb === "ok" && redisState === "ok" && !stopping;
    return [ok ? 200 : 503, { status: ok ? "ready" : "not ready", mariadb, redis: redisState }];
  }

  return {
    deps,
    agents,
    start: (port = config.port, host = config.host) =>
      new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => {
          if (config.agents.enabled) runner = startAgents(agents, { ...deps, log, onSweep: opts.onSweep });
          connections.start();
          resolve((server.address() as AddressInfo).port);
        });
      }),
    async stop() {
      if (stopping) return;
      stopping = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      connections.stop();
      await ws.close();
      if (inFlight > 0) {
        await Promise.race([
          new Promise<void>((resolve) => (drained = resolve)),
          new Promise((resolve) => setTimeout(resolve, config.shutdownGraceMs).unref()),
        ]);
      }
      server.closeAllConnections();
      await closed;
      await runner?.stop();
      // the agents' last sweep may still be writing audit entries or `_events` rows
      await deps.journal.settled();
      await Promise.allSettled([redis.quit(), subscriber.quit(), db.$disconnect(), sql.end(), deps.schemas.close()]);
    },
  };
}

function headerValue(v: string | string[] | undefined): string | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  return s && /^[\w.:-]{1,128}$/.test(s) ? s : undefined;
}

/**
 * What Yoga's node adapter gets as the pre-read body. A JSON body goes in parsed: handed
 * a Buffer, the adapter runs Object.keys over it, one key per byte (measured ≈ −8%
 * server CPU per message on batched publishes). Anything else, or JSON that does not
 * parse, goes in as it came, so Yoga (and its CSRF check) sees the real content type.
 */
function preRead(body: Buffer, contentType: string | undefined): unknown {
  if (!body.length || !/^application\/(graphql-response\+)?json\b/i.test(contentType ?? "")) return body;
  try {
    const parsed: unknown = JSON.parse(body.toString("utf8"));
    return parsed !== null && typeof parsed === "object" ? parsed : body;
  } catch {
    return body;
  }
}

/** Reads the whole body, or answers null once it passes `limit` bytes. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > limit) {
    req.resume();
    return Promise.resolve(null);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.removeAllListeners("data");
        req.resume();
        resolve(null);
      } else chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

const graphqlError = (message: string, code: string) => ({ errors: [{ message, extensions: { code } }] });

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8" });
  res.end(JSON.stringify(body));
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([
    p,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms).unref()),
  ]);
}
