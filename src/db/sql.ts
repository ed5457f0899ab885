import { createPool, type Pool } from "mariadb";
import type { Config } from "../config.js";
import type { Db } from "./client.js";
import { parseDatabaseUrl } from "./connection.js";

/**
 * Plain SQL with `?` parameters, for the statements of the hot path (publish, claim,
 * complete, the journal). The same interface runs on a Prisma client or transaction
 * (`sqlOf`), so a step can join a transaction Prisma opened.
 */
export type Sql = {
  /** runs a write; resolves to the affected row count */
  exec(sql: string, params?: unknown[]): Promise<number>;
  /** runs a read; JSON columns come back parsed, as from Prisma's raw queries */
  rows<T>(sql: string, params?: unknown[]): Promise<T[]>;
};

export type SqlPool = Sql & { end(): Promise<void> };

/**
 * The hot path's own pool on the `mariadb` driver, beside Prisma's. Measured per
 * statement (client CPU, 8 in flight): one-row SELECT by id 329 µs through Prisma and
 * its adapter → 79 µs here, 50 rows 2,124 → 325 µs, one-row UPDATE 145 → 52 µs
 * (docs/performance.md). Statements go as text with the parameters escaped by the
 * driver: one write per statement, where a prepared statement costs two or three.
 */
export function createSqlPool(config: Pick<Config, "database">, opts: { onQuery?: (sql: string) => void } = {}): SqlPool {
  const { server, database } = parseDatabaseUrl(config.database.url);
  const pool: Pool = createPool({
    ...server,
    database,
    connectionLimit: config.database.poolSize,
    // opened as needed, not all at start: Prisma's pool holds poolSize connections too
    minimumIdle: 1,
    // same session as Prisma's pool (src/db/client.ts says why)
    initSql: "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
    timezone: "Z",
    // JSON columns parsed by their column type (the server marks them), as Prisma does
    autoJsonMap: true,
    bigIntAsNumber: true,
    decimalAsNumber: true,
  });
  const onQuery = opts.onQuery;
  return {
    async exec(sql, params = []) {
      onQuery?.(sql);
      const r = (await pool.query(sql, params)) as { affectedRows: number };
      return r.affectedRows;
    },
    async rows<T>(sql: string, params: unknown[] = []) {
      onQuery?.(sql);
      return (await pool.query(sql, params)) as T[];
    },
    end: () => pool.end(),
  };
}

/** A Prisma client or transaction as Sql, for steps that run inside a Prisma transaction. */
export function sqlOf(db: Db): Sql {
  return {
    exec: (sql, params = []) => db.$executeRawUnsafe(sql, ...params),
    rows: <T>(sql: string, params: unknown[] = []) => db.$queryRawUnsafe<T[]>(sql, ...params),
  };
}

/** The `?, ?, …` placeholders of an IN list with one per value. */
export const marks = (xs: readonly unknown[]): string => xs.map(() => "?").join(", ");

/** Rows per multi-row INSERT: keeps each statement's packet well under max_allowed_packet. */
const ROWS_PER_STATEMENT = 500;

export function statementChunks<T>(rows: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) out.push(rows.slice(i, i + ROWS_PER_STATEMENT));
  return out;
}
