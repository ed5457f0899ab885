import { z } from "zod";

const SECOND = 1;
const KIB = 1024;
const MIB = 1024 * KIB;

const int = (def: number, min: number, max: number) =>
  z.coerce.number().int().min(min).max(max).default(def);

const HOST_PORT = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/;
/** redis+cluster://[user[:password]@]host:port,host:port (rediss+cluster:// for TLS) */
const CLUSTER_URL = /^(rediss?)\+cluster:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/@?#]+?)\/?$/;

/** "h1:p1, h2:p2" → nodes; null when an entry is not host:port. */
function hostPorts(list: string): { host: string; port: number }[] | null {
  const parts = list.split(",").map((p) => p.trim());
  if (!parts.every((p) => HOST_PORT.test(p))) return null;
  return parts.map((p) => {
    const colon = p.lastIndexOf(":");
    return { host: p.slice(0, colon).replace(/^\[|\]$/g, ""), port: Number(p.slice(colon + 1)) };
  });
}

const rate = (def: number) => z.coerce.number().min(0).max(1_000_000).default(def);

const EnvSchema = z.object({
  PORT: int(4000, 0, 65535),
  HOST: z.string().default("0.0.0.0"),
  DATABASE_URL: z
    .string()
    .url()
    .refine((u) => /^(mysql|mariadb):\/\//.test(u), "must be a mysql:// or mariadb:// URL")
    .default("mysql://root@127.0.0.1:3306/scaiqueue"),
  /** Connections in the MariaDB pool of one process. @default 10 */
  DATABASE_POOL_SIZE: int(10, 1, 500),
  REDIS_URL: z
    .string()
    .refine(
      (u) => /^rediss?:\/\//.test(u) || CLUSTER_URL.test(u),
      "must be a redis://, rediss:// or redis+cluster://host:port,host:port URL",
    )
    .default("redis://127.0.0.1:6379"),
  /** Seed nodes of a Redis Cluster; when set, every Redis connection is a cluster connection. */
  REDIS_CLUSTER_NODES: z
    .string()
    .refine((s) => hostPorts(s) !== null, "must be host:port[,host:port…]")
    .optional(),
  /** Every Redis key and channel starts with this; lets several deployments share a Redis. */
  REDIS_KEY_PREFIX: z.string().regex(/^[A-Za-z0-9_.-]{1,32}$/).default("sq"),
  SCAIQUEUE_BOOTSTRAP_API_KEY: z.string().min(16, "must be at least 16 characters").optional(),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** Largest HTTP request body; bigger ones are refused before parsing. @default 8 MiB */
  MAX_REQUEST_BYTES: int(8 * MIB, 1 * KIB, 256 * MIB),
  /** Largest message body (its JSON text). @default 256 KiB */
  MAX_MESSAGE_BYTES: int(256 * KIB, 1 * KIB, 16 * MIB),
  MAX_QUERY_DEPTH: int(12, 2, 100),
  MAX_QUERY_ALIASES: int(30, 1, 1000),
  MAX_QUERY_TOKENS: int(5000, 100, 100000),
  /** Largest cost of one operation: its fields, list fields times their length (see docs/design.md). @default 20000 */
  MAX_QUERY_COST: int(20_000, 100, 10_000_000),
  /**
   * Largest answer of one operation (its JSON); a larger one is refused instead of sent.
   * Serializing an answer holds the event loop (~30 MB takes 150–450 ms here). @default 8 MiB
   */
  MAX_RESPONSE_BYTES: int(8 * MIB, 64 * KIB, 1024 * MIB),
  /** Mutation fields (aliases included) in one request. @default 10 */
  MAX_MUTATIONS_PER_REQUEST: int(10, 1, 1000),
  /** How long checking one body against its queue's JSON Schema may take off the event loop; longer is refused. @default 1000 */
  MAX_SCHEMA_VALIDATION_MS: int(1000, 10, 600_000),
  /** Consumer groups a BROADCAST queue may have; each costs every publish into it a delivery row. @default 64 */
  MAX_CONSUMER_GROUPS_PER_QUEUE: int(64, 1, 10_000),
  /** Subscriptions over HTTP (SSE) one API key holds open on one process. @default 100 */
  SSE_MAX_STREAMS_PER_KEY: int(100, 1, 100_000),
  /** Failed authentications (unknown or revoked secrets) per second one client address may cause. @default 10 */
  AUTH_FAILURES_PER_S: rate(10),
  /** @default 100 */
  AUTH_FAILURE_BURST: int(100, 1, 1_000_000),
  /** How long one SQL statement may run before MariaDB stops it (0 = no limit). @default 30 s */
  DATABASE_STATEMENT_TIMEOUT_S: int(30, 0, 86_400),
  /** First retry waits about this long after a fail; each further one twice as long. @default 1 s */
  RETRY_BACKOFF_BASE_MS: int(1000, 0, 3_600_000),
  /** Longest wait between retries. @default 5 min */
  RETRY_BACKOFF_MAX_MS: int(300_000, 0, 86_400_000),
  /** "off" for a process that should only serve requests; the system agents then run elsewhere. */
  SCAIQUEUE_AGENTS: z.enum(["on", "off"]).default("on"),
  /** Finished messages older than this become ARCHIVED. @default 7 days */
  ARCHIVE_AFTER_S: int(7 * 24 * 3600, 1, 10 * 365 * 24 * 3600),
  /** Whether archiving drops bodies and responses (they become {} / null). @default false */
  ARCHIVE_DROP_BODIES: z.enum(["true", "false"]).default("false"),
  /** A waiting LOW or BACKGROUND message in a PRIORITY queue rises one tier per this much waiting. @default 60 s */
  PRIORITY_AGING_STEP_S: int(60, 1, 86_400),
  /** How often the reconciler compares every queue with MariaDB when nothing is known lost. @default 30 s */
  RECONCILE_EVERY_S: int(30, 1, 86_400),
  /** How long in-flight requests get to finish on SIGTERM before sockets are cut. */
  SHUTDOWN_GRACE_S: int(10 * SECOND, 0, 600),
  /** Processes serving the one port (node:cluster); 1 = no cluster, the process serves itself. @default 1 */
  WEB_CONCURRENCY: int(1, 1, 256),
  /** Origins whose browser pages may call the API: "*" or a comma list. @default none (same origin only) */
  CORS_ORIGINS: z
    .string()
    .default("")
    .refine((s) => corsOrigins(s) !== null, "must be * or a comma list of origins such as https://app.example.com"),
  /** The GraphiQL page at /graphql. @default on, off when NODE_ENV=production */
  GRAPHIQL: z.enum(["on", "off"]).optional(),
  NODE_ENV: z.string().optional(),
  /** WebSocket connections one process holds; past it a new socket is closed 1013. @default 10000 */
  WS_MAX_CONNECTIONS: int(10_000, 1, 1_000_000),
  /** WebSocket connections one API key holds on one process; past it 4429 RATE_LIMITED. @default 100 */
  WS_MAX_CONNECTIONS_PER_KEY: int(100, 1, 100_000),
  /** Operations (subscriptions included) in flight on one WebSocket. @default 200 */
  WS_MAX_SUBSCRIPTIONS_PER_CONNECTION: int(200, 1, 100_000),
  /** Sockets that have not sent connection_init yet; past it the oldest of them is closed 4408. @default 1000 */
  WS_MAX_PENDING_CONNECTIONS: int(1000, 1, 1_000_000),
  /** A socket that has not sent connection_init by then is closed 4408 (graphql-ws). @default 3 s */
  WS_CONNECTION_INIT_TIMEOUT_MS: int(3000, 100, 600_000),
  // Rate limits (operations per second, fractions allowed, 0 = unlimited; burst = how many
  // may go at once). Generous by default so that only a runaway client meets them.
  /** A key's limit when it has none of its own. @default 10000 */
  RATE_LIMIT_KEY_PER_S: rate(10_000),
  /** @default 20000 */
  RATE_LIMIT_KEY_BURST: int(20_000, 1, 10_000_000),
  /** What all keys of one tenant together may do. @default 50000 */
  RATE_LIMIT_TENANT_PER_S: rate(50_000),
  /** @default 100000 */
  RATE_LIMIT_TENANT_BURST: int(100_000, 1, 10_000_000),
}).superRefine((e, ctx) => {
  const clusterUrl = CLUSTER_URL.test(e.REDIS_URL);
  if (clusterUrl && e.REDIS_CLUSTER_NODES) {
    ctx.addIssue({ code: "custom", path: ["REDIS_CLUSTER_NODES"], message: "give the cluster's nodes once: here or in a redis+cluster:// REDIS_URL" });
  }
  if (e.REDIS_CLUSTER_NODES && /^rediss?:\/\/[^/]*\/0*[1-9]/.test(e.REDIS_URL)) {
    ctx.addIssue({ code: "custom", path: ["REDIS_URL"], message: "a Redis Cluster has only database 0" });
  }
});

export type Config = {
  port: number;
  host: string;
  /** `statementTimeoutMs` unset or 0: statements are not bounded */
  database: { url: string; poolSize: number; statementTimeoutMs?: number };
  /** `cluster` is null for one Redis server */
  redis: { url: string; keyPrefix: string; cluster: RedisClusterConfig | null };
  bootstrapApiKey?: string;
  logLevel: z.infer<typeof EnvSchema>["LOG_LEVEL"];
  limits: {
    requestBytes: number;
    messageBytes: number;
    queryDepth: number;
    queryAliases: number;
    queryTokens: number;
    queryCost: number;
    responseBytes: number;
    mutationsPerRequest: number;
    consumerGroupsPerQueue: number;
    schemaValidationMs: number;
  };
  shutdownGraceMs: number;
  /** worker processes sharing the port; 1 = the process serves by itself */
  webConcurrency: number;
  retry: { backoffBaseMs: number; backoffMaxMs: number };
  agents: { enabled: boolean; archiveAfterMs: number; archiveDropBodies: boolean; agingStepMs: number; reconcileEveryMs: number };
  /** `corsOrigins`: "*" (any), or the allowed origins ([] = same origin only) */
  browser: { corsOrigins: "*" | string[]; graphiql: boolean };
  /** NODE_ENV=production */
  production: boolean;
  ws: {
    maxConnections: number;
    maxPendingConnections: number;
    maxConnectionsPerKey: number;
    maxSubscriptionsPerConnection: number;
    connectionInitTimeoutMs: number;
  };
  sse: { maxStreamsPerKey: number };
  /** failed authentications per client address (perSecond 0 = unlimited) */
  authFailures: { perSecond: number; burst: number };
  /** perSecond 0 = unlimited */
  rateLimits: { key: { perSecond: number; burst: number }; tenant: { perSecond: number; burst: number } };
};

/** "*" → "*"; "https://a.example, http://localhost:3000" → the serialized origins; null when an entry is not an origin. */
function corsOrigins(list: string): "*" | string[] | null {
  if (list.trim() === "*") return "*";
  const origins: string[] = [];
  for (const entry of list.split(",").map((o) => o.trim()).filter(Boolean)) {
    let url: URL;
    try {
      url = new URL(entry);
    } catch {
      return null;
    }
    // Browsers send the serialized origin (lower-case host, default port dropped): compare with that.
    if (!/^https?:$/.test(url.protocol) || url.pathname !== "/" || url.search || url.hash || url.username) return null;
    origins.push(url.origin);
  }
  return origins;
}

/** Seed nodes of a Redis Cluster (ioredis finds the rest) and what every node connection uses. */
export type RedisClusterConfig = { nodes: { host: string; port: number }[]; username?: string; password?: string; tls: boolean };

/**
 * A redis+cluster:// REDIS_URL names the nodes itself; with REDIS_CLUSTER_NODES, user,
 * password and TLS (rediss://) come from REDIS_URL and its host is not used.
 */
function redisCluster(url: string, nodes: string | undefined): RedisClusterConfig | null {
  const credentials = (user?: string, password?: string) => ({
    ...(user ? { username: decodeURIComponent(user) } : {}),
    ...(password ? { password: decodeURIComponent(password) } : {}),
  });
  const m = CLUSTER_URL.exec(url);
  if (m) return { nodes: hostPorts(m[4]!)!, ...credentials(m[2], m[3]), tls: m[1] === "rediss" };
  if (!nodes) return null;
  const u = new URL(url);
  return { nodes: hostPorts(nodes)!, ...credentials(u.username, u.password), tls: u.protocol === "rediss:" };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** Parses the environment once; reports every problem at the same time. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`));
  }
  const e = parsed.data;
  return {
    port: e.PORT,
    host: e.HOST,
    database: { url: e.DATABASE_URL, poolSize: e.DATABASE_POOL_SIZE, statementTimeoutMs: e.DATABASE_STATEMENT_TIMEOUT_S * 1000 },
    redis: { url: e.REDIS_URL, keyPrefix: e.REDIS_KEY_PREFIX, cluster: redisCluster(e.REDIS_URL, e.REDIS_CLUSTER_NODES) },
    bootstrapApiKey: e.SCAIQUEUE_BOOTSTRAP_API_KEY,
    logLevel: e.LOG_LEVEL,
    limits: {
      requestBytes: e.MAX_REQUEST_BYTES,
      messageBytes: e.MAX_MESSAGE_BYTES,
      queryDepth: e.MAX_QUERY_DEPTH,
      queryAliases: e.MAX_QUERY_ALIASES,
      queryTokens: e.MAX_QUERY_TOKENS,
      queryCost: e.MAX_QUERY_COST,
      responseBytes: e.MAX_RESPONSE_BYTES,
      mutationsPerRequest: e.MAX_MUTATIONS_PER_REQUEST,
      consumerGroupsPerQueue: e.MAX_CONSUMER_GROUPS_PER_QUEUE,
      schemaValidationMs: e.MAX_SCHEMA_VALIDATION_MS,
    },
    shutdownGraceMs: e.SHUTDOWN_GRACE_S * 1000,
    webConcurrency: e.WEB_CONCURRENCY,
    retry: { backoffBaseMs: e.RETRY_BACKOFF_BASE_MS, backoffMaxMs: e.RETRY_BACKOFF_MAX_MS },
    agents: {
      enabled: e.SCAIQUEUE_AGENTS === "on",
      archiveAfterMs: e.ARCHIVE_AFTER_S * 1000,
      archiveDropBodies: e.ARCHIVE_DROP_BODIES === "true",
      agingStepMs: e.PRIORITY_AGING_STEP_S * 1000,
      reconcileEveryMs: e.RECONCILE_EVERY_S * 1000,
    },
    production: e.NODE_ENV === "production",
    browser: {
      corsOrigins: corsOrigins(e.CORS_ORIGINS)!,
      graphiql: (e.GRAPHIQL ?? (e.NODE_ENV === "production" ? "off" : "on")) === "on",
    },
    ws: {
      maxConnections: e.WS_MAX_CONNECTIONS,
      maxPendingConnections: e.WS_MAX_PENDING_CONNECTIONS,
      maxConnectionsPerKey: e.WS_MAX_CONNECTIONS_PER_KEY,
      maxSubscriptionsPerConnection: e.WS_MAX_SUBSCRIPTIONS_PER_CONNECTION,
      connectionInitTimeoutMs: e.WS_CONNECTION_INIT_TIMEOUT_MS,
    },
    sse: { maxStreamsPerKey: e.SSE_MAX_STREAMS_PER_KEY },
    authFailures: { perSecond: e.AUTH_FAILURES_PER_S, burst: e.AUTH_FAILURE_BURST },
    rateLimits: {
      key: { perSecond: e.RATE_LIMIT_KEY_PER_S, burst: e.RATE_LIMIT_KEY_BURST },
      tenant: { perSecond: e.RATE_LIMIT_TENANT_PER_S, burst: e.RATE_LIMIT_TENANT_BURST },
    },
  };
}
