import { PrismaMariaDb } from "@prisma/adapter-mariadb";
import { Prisma, PrismaClient } from "../generated/prisma/client.js";
import type { Config } from "../config.js";
import { parseDatabaseUrl } from "./connection.js";

export type Db = PrismaClient;
/** A Prisma client or an open transaction of one: what a step that may run inside a transaction takes. */
export type Tx = Prisma.TransactionClient;

/** How much later than MariaDB's own statement timeout a connection that has not answered at all is given up. */
const SOCKET_GRACE_MS = 2000;

/**
 * What every connection of both pools shares: its session, READ COMMITTED (below), and
 * the bounds of DATABASE_STATEMENT_TIMEOUT_S. MariaDB stops a statement that runs longer,
 * waiting on a lock included, and rolls it back (error 1969: SCAIQUEUE_OVERLOADED, see
 * isOverloaded). A server that does not answer at all (stopped, or its host gone) is
 * given up SOCKET_GRACE_MS later by the driver (`socketTimeout`); what was sent may
 * still run when it comes back, so that outcome is unknown and answers
 * INTERNAL_SERVER_ERROR, not a code that promises nothing was done. Without these a
 * stuck table lock, or a stopped MariaDB, would hold every request for as long as it lasted.
 * A socket timeout also ends idle connections, so the pools let idle ones go before it
 * would (`idleTimeout`, seconds) and open new ones as needed.
 */
export function connectionOptions(config: Pick<Config, "database">): { initSql: string[]; socketTimeout?: number; idleTimeout?: number } {
  const timeoutMs = config.database.statementTimeoutMs ?? 0;
  const initSql = ["SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"];
  if (timeoutMs <= 0) return { initSql };
  const socketTimeout = timeoutMs + SOCKET_GRACE_MS;
  return { initSql: [...initSql, `SET SESSION max_statement_time = ${timeoutMs / 1000}`], socketTimeout, idleTimeout: Math.max(1, Math.floor(socketTimeout / 2000)) };
}

/**
 * Whether an error says MariaDB did not take the work, so nothing of it was done: a
 * statement over its time (MariaDB rolled it back) or no pooled connection free within
 * the pool's wait (nothing was sent). Driver errors reach us raw (mariadb) or wrapped
 * by Prisma's adapter, so the message is what both keep.
 */
export function isOverloaded(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const errno = (e as { errno?: unknown }).errno;
    // 1969: a statement over its time, rolled back; 45028: no pooled connection in time, nothing sent
    if (errno === 1969 || errno === 45028) return true;
    if (/max_statement_time exceeded|pool timeout/i.test(e.message)) return true;
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
    ...connectionOptions(config),
    // DATETIME(3) columns hold UTC; read and write them as such whatever the server zone.
    timezone: "Z",
  });
  if (!opts.onQuery) return new PrismaClient({ adapter });
  const db = new PrismaClient({ adapter, log: [{ emit: "event", level: "query" }] });
  const onQuery = opts.onQuery;
  db.$on("query", (e) => onQuery(e.query));
  return db;
}

/** A write refused by a unique index (Prisma P2002). */
export function isUniqueViolation(err: unknown): boolean {
  return err instanceof Prisma.PrismaClientKnownRequestError && err.code === "P2002";
}
