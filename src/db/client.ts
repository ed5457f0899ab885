import { PrismaMariaDb } from "@prisma/adapter-mariadb";
import { PrismaClient } from "../generated/prisma/client.js";
import type { Config } from "../config.js";
import { parseDatabaseUrl } from "./connection.js";

export type Db = PrismaClient;

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
    initSql: "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
    // DATETIME(3) columns hold UTC; read and write them as such whatever the server zone.
    timezone: "Z",
  });
  if (!opts.onQuery) return new PrismaClient({ adapter });
  const db = new PrismaClient({ adapter, log: [{ emit: "event", level: "query" }] });
  const onQuery = opts.onQuery;
  db.$on("query", (e) => onQuery(e.query));
  return db;
}
