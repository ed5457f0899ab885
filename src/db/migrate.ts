import { createHash, randomUUID } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { createConnection, type Connection } from "mariadb";
import { parseDatabaseUrl } from "./connection.js";

/**
 * Our own `prisma migrate deploy`: the native schema engine it needs cannot be had on
 * our machines (docs/migrations.md). It reads Prisma's layout
 * (prisma/migrations/<timestamp>_<name>/migration.sql) and keeps Prisma's bookkeeping in
 * `_prisma_migrations` exactly as Prisma does, so the real `prisma migrate deploy` sees
 * the same history wherever the engine exists.
 */
export const MIGRATIONS_DIR = new URL("../../prisma/migrations/", import.meta.url).pathname;

// The table as Prisma's MySQL connector creates it.
const CREATE_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS \`_prisma_migrations\` (
    \`id\`                  VARCHAR(36) PRIMARY KEY NOT NULL,
    \`checksum\`            VARCHAR(64) NOT NULL,
    \`finished_at\`         DATETIME(3),
    \`migration_name\`      VARCHAR(255) NOT NULL,
    \`logs\`                TEXT,
    \`rolled_back_at\`      DATETIME(3),
    \`started_at\`          DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    \`applied_steps_count\` INTEGER UNSIGNED NOT NULL DEFAULT 0
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`;

// Two processes starting at once must not both apply a migration; the lock is per database.
const lockName = (database: string) => `scaiqueue_migrate:${database}`;
const LOCK_WAIT_S = 60;

export type MigrationProgress = (event: { migration: string; step: "applying" | "applied" }) => void;

export class MigrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MigrationError";
  }
}

/** Creates the database named by the URL when it is missing. */
export async function ensureDatabase(url: string): Promise<void> {
  const { server, database } = parseDatabaseUrl(url);
  const conn = await createConnection(server);
  try {
    await conn.query(
      `CREATE DATABASE IF NOT EXISTS \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`,
    );
  } finally {
    await conn.end();
  }
}

export async function listMigrations(dir = MIGRATIONS_DIR): Promise<{ name: string; sql: string; checksum: string }[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const names = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(join(dir, name, "migration.sql"), "utf8");
      return { name, sql, checksum: createHash("sha256").update(sql).digest("hex") };
    }),
  );
}

/** Applies pending migrations in name order; returns the names it applied. */
export async function applyMigrations(
  url: string,
  opts: { dir?: string; onProgress?: MigrationProgress } = {},
): Promise<string[]> {
  const { server, database } = parseDatabaseUrl(url);
  const migrations = await listMigrations(opts.dir);
  const conn = await createConnection({ ...server, database, multipleStatements: true });
  try {
    const [{ got }] = await conn.query("SELECT GET_LOCK(?, ?) AS got", [lockName(database), LOCK_WAIT_S]);
    if (Number(got) !== 1) throw new MigrationError(`could not take the migration lock in ${LOCK_WAIT_S}s`);
    try {
      await conn.query(CREATE_MIGRATIONS_TABLE);
      return await applyPending(conn, migrations, opts.onProgress);
    } finally {
      await conn.query("SELECT RELEASE_LOCK(?)", [lockName(database)]);
    }
  } finally {
    await conn.end();
  }
}

async function applyPending(
  conn: Connection,
  migrations: { name: string; sql: string; checksum: string }[],
  onProgress?: MigrationProgress,
): Promise<string[]> {
  const rows: { migration_name: string; finished_at: Date | null; rolled_back_at: Date | null }[] =
    await conn.query("SELECT migration_name, finished_at, rolled_back_at FROM `_prisma_migrations`");
  const failed = rows.find((r) => r.finished_at === null && r.rolled_back_at === null);
  if (failed) {
    // Prisma refuses to go on in this case too (P3009): a person must look at it first.
    throw new MigrationError(
      `migration ${failed.migration_name} failed earlier; fix the database, then mark it rolled back or applied`,
    );
  }
  const done = new Set(rows.filter((r) => r.finished_at !== null).map((r) => r.migration_name));
  const applied: string[] = [];
  for (const m of migrations) {
    if (done.has(m.name)) continue;
    onProgress?.({ migration: m.name, step: "applying" });
    const id = randomUUID();
    await conn.query(
      "INSERT INTO `_prisma_migrations` (id, checksum, migration_name, started_at, applied_steps_count) VALUES (?, ?, ?, NOW(3), 0)",
      [id, m.checksum, m.name],
    );
    try {
      await conn.query(m.sql);
    } catch (err) {
      await conn.query("UPDATE `_prisma_migrations` SET logs = ? WHERE id = ?", [String(err), id]);
      throw new MigrationError(`migration ${m.name} failed: ${(err as Error).message}`);
    }
    await conn.query(
      "UPDATE `_prisma_migrations` SET finished_at = NOW(3), applied_steps_count = 1 WHERE id = ?",
      [id],
    );
    applied.push(m.name);
    onProgress?.({ migration: m.name, step: "applied" });
  }
  return applied;
}
