import { PrismaMariaDb } from "@prisma/adapter-mariadb";
import { PrismaClient } from "../generated/prisma/client.js";
import type { Config } from "../config.js";
import { parseDatabaseUrl } from "./connection.js";

export type Db = PrismaClient;

/**
 * Every connection's session (both pools): READ COMMITTED (below), and statements bounded
 * by DATABASE_STATEMENT_TIMEOUT_S: MariaDB stops one that runs longer, waiting on a lock
 * included, and rolls it back (error 1969), which the API answers SCAIQUEUE_OVERLOADED
 * (isOverloaded). Without it a stuck table lock held every request for as long as it lasted.
 */
export function sessionSql(config: Pick<Config, "database">): string[] {
  const timeoutS = (config.database.statementTimeoutMs ?? 0) / 1000;
  return ["SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", ...(timeoutS > 0 ? [`SET SESSION max_statement_time = ${timeoutS}`] : [])];
}

/**
 * Whether an error says MariaDB could not take the work now: a statement over its time
 * (1969) or no pooled connection free within the pool's wait. Driver errors reach us
 * raw (mariadb) or wrapped by Prisma's adapter, so the message is what both keep.
 */
export function isOverloaded(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if ((e as { errno?: unknown }).errno === 1969 || /max_statement_time exceeded|retrieve connection from pool timeout|pool timeout/i.test(e.message)) return true;
  }
  return false;
}

/**
 * @param opts.onQuery called with each SQL statement sent (tests count them to prove
 * there is no N+1); off by default, as Prisma then skips the event bookkeeping.
 */
export function createDb(config: Pick<Config, "database">, opts: { onQuery?: (sql: string) => void } = {}): Db {
  const { server, database } = parseDatabaseUrl(config.database.url);
  const adapter = new PrismaMariaDb({
    ...server,
    database,
    connectionLimit: config.database.poolSize,
    // Prepared statements are kept per connection: without the cache every statement is
    // PREPARE + EXECUTE + CLOSE, three writes (measured: publish −16%, claim −25%,
    // complete −9% server CPU per call; docs/performance.md).
    prepareCacheLength: 256,
    // Every write here is a conditional UPDATE, an INSERT or a SKIP LOCKED pick, which
    // need no gap locks; under REPEATABLE READ the gap locks of concurrent claims and
    // inserts (messages, `_events` rows) deadlocked under load (seen in the benchmark).
    initSql: sessionSql(config),
    // DATETIME(3) columns hold UTC; read and write them as such whatever the server zone.
    timezone: "Z",
  });
  if (!opts.onQuery) return new PrismaClient({ adapter });
  const db = new PrismaClient({ adapter, log: [{ emit: "event", level: "query" }] });
  const onQuery = opts.onQuery;
  db.$on("query", (e) => onQuery(e.query));
  return db;
}
