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
  };
}
