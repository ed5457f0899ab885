import { z } from "zod";

const SECOND = 1;
const KIB = 1024;
const MIB = 1024 * KIB;

const int = (def: number, min: number, max: number) =>
  z.coerce.number().int().min(min).max(max).default(def);

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
    .refine((u) => /^rediss?:\/\//.test(u), "must be a redis:// or rediss:// URL")
    .default("redis://127.0.0.1:6379"),
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
});

export type Config = {
  port: number;
  host: string;
  database: { url: string; poolSize: number };
  redis: { url: string; keyPrefix: string };
  bootstrapApiKey?: string;
  logLevel: z.infer<typeof EnvSchema>["LOG_LEVEL"];
  limits: {
    requestBytes: number;
    messageBytes: number;
    queryDepth: number;
    queryAliases: number;
    queryTokens: number;
  };
  shutdownGraceMs: number;
  retry: { backoffBaseMs: number; backoffMaxMs: number };
  agents: { enabled: boolean; archiveAfterMs: number; archiveDropBodies: boolean; agingStepMs: number; reconcileEveryMs: number };
};

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
    database: { url: e.DATABASE_URL, poolSize: e.DATABASE_POOL_SIZE },
    redis: { url: e.REDIS_URL, keyPrefix: e.REDIS_KEY_PREFIX },
    bootstrapApiKey: e.SCAIQUEUE_BOOTSTRAP_API_KEY,
    logLevel: e.LOG_LEVEL,
    limits: {
      requestBytes: e.MAX_REQUEST_BYTES,
      messageBytes: e.MAX_MESSAGE_BYTES,
      queryDepth: e.MAX_QUERY_DEPTH,
      queryAliases: e.MAX_QUERY_ALIASES,
      queryTokens: e.MAX_QUERY_TOKENS,
    },
    shutdownGraceMs: e.SHUTDOWN_GRACE_S * 1000,
    retry: { backoffBaseMs: e.RETRY_BACKOFF_BASE_MS, backoffMaxMs: e.RETRY_BACKOFF_MAX_MS },
    agents: {
      enabled: e.SCAIQUEUE_AGENTS === "on",
      archiveAfterMs: e.ARCHIVE_AFTER_S * 1000,
      archiveDropBodies: e.ARCHIVE_DROP_BODIES === "true",
      agingStepMs: e.PRIORITY_AGING_STEP_S * 1000,
      reconcileEveryMs: e.RECONCILE_EVERY_S * 1000,
    },
  };
}
