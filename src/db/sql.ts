import { createPool, type Pool } from "mariadb";
import type { Config } from "../config.js";
import { connectionOptions, type Tx } from "./client.js";
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
  /**
   * Inserts rows: `head` is the statement up to VALUES, each row one value per `?` of a
   * `(?, …)` group, `tail` what follows (ON DUPLICATE KEY …).
   */
  insert(head: string, rows: unknown[][], tail?: string): Promise<void>;
  /**
   * A write and then a read of what it wrote, on one connection: the read is sent
   * without waiting for the write's answer (the driver pipelines), and runs after it.
   */
  execThenRows<T>(write: string, writeParams: unknown[], read: string, readParams: unknown[]): Promise<[number, T[]]>;
  /**
   * Runs `work` so that its statements commit together or not at all: in a transaction
   * of its own on one pooled connection, or as part of the Prisma transaction this Sql
   * already runs in.
   */
  atomically<T>(work: (sql: Sql) => Promise<T>): Promise<T>;
};

export type SqlPool = Sql & { end(): Promise<void> };

/**
 * The hot path's own pool on the `mariadb` driver, beside Prisma's. Measured per
 * statement (client CPU, 8 in flight): one-row SELECT by id 79 µs here against 329 µs
 * through Prisma and its adapter; 50 rows 325 against 2,124 µs; one-row UPDATE 52
 * against 145 µs (docs/performance.md). Statements go as text with the parameters
 * escaped by the driver: one write per statement, where a prepared statement costs two
 * or three.
 * Inserts are the exception (`insert`): prepared, kept per connection and executed in
 * the binary protocol, so the bodies they carry go as they are instead of escaped into
 * the SQL text and parsed back (scenario 1 of the benchmark +3–9%, scenario 2 +2–4%,
 * two interleaved runs). One prepared one-row INSERT run for every row (the driver's
 * `batch`, MariaDB's bulk execution) would halve scenario 1: MariaDB runs it row by row.
 */
export function createSqlPool(config: Pick<Config, "database">, opts: { onQuery?: (sql: string) => void } = {}): SqlPool {
  const { server, database } = parseDatabaseUrl(config.database.url);
  const pool: Pool = createPool({
    ...server,
    database,
    connectionLimit: config.database.poolSize,
    // opened as needed, not all at start: Prisma's pool holds poolSize connections too
    minimumIdle: 1,
    // same session and bounds as Prisma's pool (src/db/client.ts says why)
    ...connectionOptions(config),
    timezone: "Z",
    // JSON columns parsed by their column type (the server marks them), as Prisma does
    autoJsonMap: true,
    bigIntAsNumber: true,
    decimalAsNumber: true,
    // the prepared INSERTs of `insert`, one per table and row count
    prepareCacheLength: 256,
  });
  const onQuery = opts.onQuery;
  return {
    ...statementsOn(pool, onQuery),
    async execThenRows<T>(write: string, writeParams: unknown[], read: string, readParams: unknown[]): Promise<[number, T[]]> {
      onQuery?.(write);
      onQuery?.(read);
      const conn = await pool.getConnection();
      // both settled before the connection goes back to the pool, whichever failed
      const [w, r] = await Promise.allSettled([conn.query(write, writeParams), conn.query(read, readParams)]);
      await conn.release();
      if (w.status === "rejected") throw w.reason;
      if (r.status === "rejected") throw r.reason;
      return [(w.value as { affectedRows: number }).affectedRows, r.value as T[]];
    },
    async atomically<T>(work: (sql: Sql) => Promise<T>): Promise<T> {
      const conn = await pool.getConnection();
      try {
        await conn.beginTransaction();
        const onConn: Sql = {
          ...statementsOn(conn, onQuery),
          execThenRows: async (write, writeParams, read, readParams) => [await onConn.exec(write, writeParams), await onConn.rows(read, readParams)],
          atomically: (inner) => inner(onConn),
        };
        const result = await work(onConn);
        await conn.commit();
        return result;
      } catch (err) {
        await conn.rollback().catch(() => {}); // the error that matters is the first one
        throw err;
      } finally {
        await conn.release();
      }
    },
    end: () => pool.end(),
  };
}

/** exec, rows and insert on a pool (each statement on any connection) or on one connection. */
function statementsOn(on: Pick<Pool, "query" | "execute">, onQuery?: (sql: string) => void): Pick<Sql, "exec" | "rows" | "insert"> {
  return {
    async exec(sql, params = []) {
      onQuery?.(sql);
      const r = (await on.query(sql, params)) as { affectedRows: number };
      return r.affectedRows;
    },
    async rows<T>(sql: string, params: unknown[] = []) {
      onQuery?.(sql);
      return (await on.query(sql, params)) as T[];
    },
    async insert(head, rows, tail = "") {
      if (!rows.length) return;
      const sql = `${head} ${rows.map((r) => `(${marks(r)})`).join(", ")} ${tail}`;
      onQuery?.(sql);
      await on.execute(sql, rows.flat());
    },
  };
}

/** A Prisma client or transaction as Sql, for steps that run inside a Prisma transaction. */
export function sqlOf(db: Tx): Sql {
  return {
    exec: (sql, params = []) => db.$executeRawUnsafe(sql, ...params),
    rows: <T>(sql: string, params: unknown[] = []) => db.$queryRawUnsafe<T[]>(sql, ...params),
    async insert(head, rows, tail = "") {
      if (rows.length) await db.$executeRawUnsafe(`${head} ${rows.map((r) => `(${marks(r)})`).join(", ")} ${tail}`, ...rows.flat());
    },
    async execThenRows<T>(write: string, writeParams: unknown[], read: string, readParams: unknown[]): Promise<[number, T[]]> {
      const affected = await db.$executeRawUnsafe(write, ...writeParams);
      return [affected, await db.$queryRawUnsafe<T[]>(read, ...readParams)];
    },
    // only ever handed a transaction: its statements already commit together
    atomically(work) {
      return work(this);
    },
  };
}

/** The `?, ?, …` placeholders of an IN list with one per value. */
export const marks = (xs: readonly unknown[]): string => xs.map(() => "?").join(", ");

/** Rows per multi-row statement. */
const ROWS_PER_STATEMENT = 500;
/**
 * Bytes of parameters per multi-row INSERT: a quarter of MariaDB's default
 * max_allowed_packet (16 MiB), so rows of large bodies split into more statements
 * instead of one the server refuses. A row larger than this goes alone.
 */
export const STATEMENT_BYTES = 4 * 1024 * 1024;

/** Rows in statements of at most ROWS_PER_STATEMENT rows and, given each row's size, at most STATEMENT_BYTES. */
export function statementChunks<T>(rows: T[], bytesOf?: (row: T) => number): T[][] {
  const out: T[][] = [];
  let chunk: T[] = [];
  let bytes = 0;
  for (const row of rows) {
    const size = bytesOf?.(row) ?? 0;
    if (chunk.length && (chunk.length >= ROWS_PER_STATEMENT || bytes + size > STATEMENT_BYTES)) {
      out.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(row);
    bytes += size;
  }
  if (chunk.length) out.push(chunk);
  return out;
}

const TRANSIENT = /Deadlock found|Lock wait timeout/;

/** InnoDB may pick a statement as a deadlock victim; it was rolled back whole, so it is run again. */
export async function retried<T>(write: () => Promise<T>, attempts = 3): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await write();
    } catch (err) {
      if (i >= attempts || !TRANSIENT.test((err as Error).message)) throw err;
    }
  }
}
