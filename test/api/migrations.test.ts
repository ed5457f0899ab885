import { createHash } from "node:crypto";
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createConnection, type Connection } from "mariadb";
// CommonJS package: Node's ESM loader cannot see its named exports.
import internals from "@prisma/internals";
import {
  applyMigrations,
  ensureDatabase,
  listMigrations,
  MigrationError,
  MIGRATIONS_DIR,
  type MigrationProgress,
} from "../../src/db/migrate.js";
import { parseDatabaseUrl } from "../../src/db/connection.js";
import { dropDatabase, uniq } from "../support/server.js";

/*
 * The native schema engine (and so `prisma migrate diff`) is not available here, so this
 * file is our drift check: Prisma's own parser (getDMMF, WebAssembly) reads schema.prisma,
 * and information_schema tells what our runner actually built.
 */

const { getDMMF } = internals;
type Datamodel = Awaited<ReturnType<typeof getDMMF>>["datamodel"];
type Model = Datamodel["models"][number];
type Field = Model["fields"][number];

const SCHEMA = new URL("../../prisma/schema.prisma", import.meta.url);
const BASE_URL = process.env.DATABASE_URL ?? "mysql://root@127.0.0.1:3306/scaiqueue";
const { datamodel } = await getDMMF({ datamodel: await readFile(SCHEMA, "utf8") });

const created: string[] = [];
const tempDirs: string[] = [];
/** A database URL of a name no other file uses; dropped in afterAll. */
function freshDbUrl(): string {
  const url = new URL(BASE_URL);
  url.pathname = `/sq_test_mig_${uniq()}`;
  created.push(url.toString());
  return url.toString();
}

let url: string;
let db: string;
let conn: Connection;
let progress: Parameters<MigrationProgress>[0][];
let firstRun: string[];

beforeAll(async () => {
  url = freshDbUrl();
  db = parseDatabaseUrl(url).database;
  progress = [];
  await ensureDatabase(url);
  await ensureDatabase(url); // idempotent
  firstRun = await applyMigrations(url, { onProgress: (e) => progress.push(e) });
  conn = await createConnection({ ...parseDatabaseUrl(url).server, bigIntAsNumber: true });
});

afterAll(async () => {
  await conn?.end();
  for (const u of created) await dropDatabase(u);
  for (const d of tempDirs) await rm(d, { recursive: true, force: true });
});

// ---- what schema.prisma says, in MariaDB's words ------------------------------------

const tableOf = (m: Model) => m.dbName ?? m.name;
const columnOf = (m: Model, name: string) => {
  const f = m.fields.find((x) => x.name === name)!;
  return f.dbName ?? f.name;
};
const scalarFields = (m: Model) => m.fields.filter((f) => f.kind !== "object");

/** Prisma's MySQL column type for a field, as information_schema.COLUMNS.COLUMN_TYPE prints it. */
function expectedType(f: Field): string {
  if (f.kind === "enum") {
    const values = datamodel.enums.find((e) => e.name === f.type)!.values;
    return `enum(${values.map((v) => `'${v.dbName ?? v.name}'`).join(",")})`;
  }
  if (f.nativeType) {
    const [name, args] = f.nativeType as [string, string[]];
    return `${name.toLowerCase()}${args.length ? `(${args.join(",")})` : ""}`;
  }
  // Prisma's MySQL defaults for fields without @db.*; Json is MariaDB's alias for longtext.
  const byScalar: Record<string, string> = {
    Int: "int",
    Boolean: "tinyint(1)",
    DateTime: "datetime(3)",
    Json: "longtext",
    String: "varchar(191)",
  };
  if (!byScalar[f.type]) throw new Error(`test does not know Prisma's MySQL type for ${f.type}`);
  return byScalar[f.type]!;
}

/** The field's @default as information_schema.COLUMNS.COLUMN_DEFAULT prints it; null when none. */
function expectedDefault(f: Field): string | null {
  if (!f.hasDefaultValue) return null;
  const d = f.default as unknown;
  if (d && typeof d === "object" && "name" in d) {
    if (d.name !== "now") throw new Error(`test does not know default ${String(d.name)}()`);
    const precision = (f.nativeType?.[1] as string[] | undefined)?.[0] ?? "3";
    return `current_timestamp(${precision})`;
  }
  if (typeof d === "boolean") return d ? "1" : "0";
  if (typeof d === "number") return String(d);
  return `'${String(d).replaceAll("'", "''")}'`;
}

/** Prisma's default constraint names (no name here is near MySQL's 64-character limit). */
const indexName = (m: Model, cols: string[], unique: boolean) =>
  `${tableOf(m)}_${cols.join("_")}_${unique ? "key" : "idx"}`;

const RULES: Record<string, string> = {
  Cascade: "CASCADE",
  Restrict: "RESTRICT",
  NoAction: "NO ACTION",
  SetNull: "SET NULL",
  SetDefault: "SET DEFAULT",
};

// ---- what the database has -----------------------------------------------------------

type ColumnRow = { name: string; type: string; nullable: string; def: string | null };

async function columns(table: string): Promise<ColumnRow[]> {
  return conn.query(
    `SELECT COLUMN_NAME name, COLUMN_TYPE type, IS_NULLABLE nullable, COLUMN_DEFAULT def
       FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
    [db, table],
  );
}

async function indexes(table: string): Promise<{ name: string; columns: string[]; unique: boolean }[]> {
  const rows: { name: string; cols: string; nonUnique: number }[] = await conn.query(
    `SELECT INDEX_NAME name, GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX) cols, MAX(NON_UNIQUE) nonUnique
       FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? GROUP BY INDEX_NAME`,
    [db, table],
  );
  return rows.map((r) => ({ name: r.name, columns: r.cols.split(","), unique: Number(r.nonUnique) === 0 }));
}

async function foreignKeys(table: string) {
  return conn.query(
    `SELECT k.CONSTRAINT_NAME name, GROUP_CONCAT(k.COLUMN_NAME ORDER BY k.ORDINAL_POSITION) columns,
            k.REFERENCED_TABLE_NAME refTable,
            GROUP_CONCAT(k.REFERENCED_COLUMN_NAME ORDER BY k.ORDINAL_POSITION) refColumns,
            r.DELETE_RULE onDelete, r.UPDATE_RULE onUpdate
       FROM information_schema.KEY_COLUMN_USAGE k
       JOIN information_schema.REFERENTIAL_CONSTRAINTS r
         ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.TABLE_NAME = k.TABLE_NAME
        AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME
      WHERE k.TABLE_SCHEMA = ? AND k.TABLE_NAME = ? AND k.REFERENCED_TABLE_NAME IS NOT NULL
      GROUP BY k.CONSTRAINT_NAME, k.REFERENCED_TABLE_NAME, r.DELETE_RULE, r.UPDATE_RULE`,
    [db, table],
  );
}

type MigrationRow = {
  id: string;
  checksum: string;
  migration_name: string;
  started_at: Date;
  finished_at: Date | null;
  rolled_back_at: Date | null;
  logs: string | null;
  applied_steps_count: number;
};
const migrationRows = async (database: string): Promise<MigrationRow[]> =>
  conn.query(`SELECT * FROM \`${database}\`.\`_prisma_migrations\` ORDER BY migration_name, started_at`);

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

// ---- tests ---------------------------------------------------------------------------

describe("schema.prisma and the database built by our runner agree", () => {
  it("has a table per model plus _prisma_migrations, and nothing else", async () => {
    const rows: { t: string }[] = await conn.query(
      "SELECT TABLE_NAME t FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?",
      [db],
    );
    expect(rows.map((r) => r.t).sort()).toEqual([...datamodel.models.map(tableOf), "_prisma_migrations"].sort());
  });

  for (const model of datamodel.models) {
    describe(`model ${model.name} (table ${tableOf(model)})`, () => {
      it("has exactly the model's columns, each with its type, nullability and default", async () => {
        const actual = await columns(tableOf(model));
        const expected = scalarFields(model).map((f) => ({
          name: f.dbName ?? f.name,
          type: expectedType(f),
          nullable: !f.isRequired,
          default: expectedDefault(f),
        }));
        const normalized = actual.map((c) => ({
          name: c.name,
          // MariaDB still prints a display width for int; Prisma's INTEGER has none.
          type: c.type.replace(/^int\(\d+\)/, "int"),
          nullable: c.nullable === "YES",
          // A nullable column without DEFAULT reports the text NULL.
          default: c.def === "NULL" && c.nullable === "YES" ? null : c.def,
        }));
        const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
        expect(normalized.sort(byName)).toEqual(expected.sort(byName));
      });

      it("keeps Json columns valid with MariaDB's json_valid CHECK", async () => {
        const jsonCols = scalarFields(model).filter((f) => f.type === "Json").map((f) => f.dbName ?? f.name);
        const rows: { clause: string }[] = await conn.query(
          "SELECT CHECK_CLAUSE clause FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?",
          [db, tableOf(model)],
        );
        expect(rows.map((r) => r.clause).sort()).toEqual(jsonCols.map((c) => `json_valid(\`${c}\`)`).sort());
      });

      it("has the primary key and exactly the @unique/@@unique/@@index indexes, columns in order", async () => {
        const declared = datamodel.indexes.filter((i) => i.model === model.name);
        const pk = declared.find((i) => i.type === "id")!;
        const expected = [
          { name: "PRIMARY", columns: pk.fields.map((f) => columnOf(model, f.name)), unique: true },
          ...declared
            .filter((i) => i.type === "unique" || i.type === "normal")
            .map((i) => {
              const cols = i.fields.map((f) => columnOf(model, f.name));
              const unique = i.type === "unique";
              return { name: i.dbName ?? indexName(model, cols, unique), columns: cols, unique };
            }),
        ];
        const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
        expect((await indexes(tableOf(model))).sort(byName)).toEqual(expected.sort(byName));
      });

      it("has a foreign key for each relation with fields/references, and no other", async () => {
        const expected = model.fields
          .filter((f) => f.kind === "object" && f.relationFromFields?.length)
          .map((f) => {
            const target = datamodel.models.find((m) => m.name === f.type)!;
            const cols = f.relationFromFields!.map((n) => columnOf(model, n));
            // Prisma's referential actions when the schema names none.
            const allRequired = f.relationFromFields!.every((n) => model.fields.find((x) => x.name === n)!.isRequired);
            return {
              name: `${tableOf(model)}_${cols.join("_")}_fkey`,
              columns: cols.join(","),
              refTable: tableOf(target),
              refColumns: f.relationToFields!.map((n) => columnOf(target, n)).join(","),
              onDelete: f.relationOnDelete ? RULES[f.relationOnDelete] : allRequired ? "RESTRICT" : "SET NULL",
              onUpdate: f.relationOnUpdate ? RULES[f.relationOnUpdate] : "CASCADE",
            };
          });
        const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
        expect((await foreignKeys(tableOf(model))).sort(byName)).toEqual(expected.sort(byName));
      });
    });
  }
});

describe("listMigrations and ensureDatabase", () => {
  it("lists every migration dir in name order with the sha256 of its migration.sql", async () => {
    const dirs = (await readdir(MIGRATIONS_DIR, { withFileTypes: true }))
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
    expect(dirs.length).toBeGreaterThan(0);
    const listed = await listMigrations();
    expect(listed.map((m) => m.name)).toEqual(dirs);
    for (const m of listed) {
      const sql = await readFile(join(MIGRATIONS_DIR, m.name, "migration.sql"), "utf8");
      expect(m).toEqual({ name: m.name, sql, checksum: sha256(sql) });
    }
  });

  it("creates the database as utf8mb4 / utf8mb4_unicode_ci", async () => {
    const [row] = await conn.query(
      "SELECT DEFAULT_CHARACTER_SET_NAME cs, DEFAULT_COLLATION_NAME co FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
      [db],
    );
    expect(row).toEqual({ cs: "utf8mb4", co: "utf8mb4_unicode_ci" });
  });

  it("keeps the ids of the hot tables ascii_bin, which Prisma does not model (migrations ascii_ids, event_log)", async () => {
    const rows: { t: string; c: string }[] = await conn.query(
      "SELECT TABLE_NAME t, COLUMN_NAME c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND COLLATION_NAME = 'ascii_bin' ORDER BY t, c",
      [db],
    );
    expect(rows.map((r) => `${r.t}.${r.c}`)).toEqual([
      "deliveries.claimKeyId", "deliveries.claimToken", "deliveries.messageId", "deliveries.queueId", "deliveries.tenantId",
      "event_log.id", "event_log.queueId", "event_log.scopeId", "event_log.tenantId",
      "messages.bodyHash", "messages.claimKeyId", "messages.claimToken", "messages.id", "messages.parentId", "messages.queueId",
      "messages.scopeId", "messages.tenantId",
    ]);
  });
});

describe("applyMigrations keeps _prisma_migrations as Prisma does", () => {
  it("applied every migration once, in order, reporting progress", async () => {
    const names = (await listMigrations()).map((m) => m.name);
    expect(firstRun).toEqual(names);
    expect(progress).toEqual(names.flatMap((migration) => [
      { migration, step: "applying" },
      { migration, step: "applied" },
    ]));
  });

  it("has Prisma's _prisma_migrations table", async () => {
    const cols = await columns("_prisma_migrations");
    expect(cols.map((c) => [c.name, c.type, c.nullable])).toEqual([
      ["id", "varchar(36)", "NO"],
      ["checksum", "varchar(64)", "NO"],
      ["finished_at", "datetime(3)", "YES"],
      ["migration_name", "varchar(255)", "NO"],
      ["logs", "text", "YES"],
      ["rolled_back_at", "datetime(3)", "YES"],
      ["started_at", "datetime(3)", "NO"],
      ["applied_steps_count", "int(10) unsigned", "NO"],
    ]);
  });

  it("records one finished row per migration dir with the file's checksum", async () => {
    const migrations = await listMigrations();
    const rows = await migrationRows(db);
    expect(rows).toHaveLength(migrations.length);
    for (const [i, m] of migrations.entries()) {
      const row = rows[i]!;
      const sql = await readFile(join(MIGRATIONS_DIR, m.name, "migration.sql"), "utf8");
      expect(row).toMatchObject({
        migration_name: m.name,
        checksum: sha256(sql),
        rolled_back_at: null,
        logs: null,
        applied_steps_count: 1,
      });
      expect(row.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(row.finished_at).toBeInstanceOf(Date);
      expect(row.finished_at!.getTime()).toBeGreaterThanOrEqual(row.started_at.getTime());
    }
  });

  it("applies nothing the second time and leaves the history alone", async () => {
    const before = await migrationRows(db);
    expect(await applyMigrations(url)).toEqual([]);
    expect(await migrationRows(db)).toEqual(before);
  });

  it("two runs started at once on a fresh database both succeed and apply each migration once", async () => {
    const other = freshDbUrl();
    const otherDb = parseDatabaseUrl(other).database;
    await ensureDatabase(other);
    const names = (await listMigrations()).map((m) => m.name);
    const results = await Promise.all([applyMigrations(other), applyMigrations(other)]);
    // The advisory lock serializes them: one applies everything, the other finds it done.
    expect(results.map((r) => r.length).sort()).toEqual([0, names.length]);
    expect(results.flat()).toEqual(names);
    const rows = await migrationRows(otherDb);
    expect(rows.map((r) => [r.migration_name, r.applied_steps_count])).toEqual(names.map((n) => [n, 1]));
  });
});

describe("a migration that fails", () => {
  const BROKEN = "29991231235959_broken";
  let dir: string;
  let other: string;
  let otherDb: string;

  beforeAll(async () => {
    // A copy of the real migrations plus a broken one whose second statement fails, so
    // the real prisma/migrations stays untouched.
    dir = await mkdtemp(join(tmpdir(), "sq-migrations-"));
    tempDirs.push(dir);
    await cp(MIGRATIONS_DIR, dir, { recursive: true });
    await mkdir(join(dir, BROKEN));
    await writeFile(
      join(dir, BROKEN, "migration.sql"),
      "CREATE TABLE `broken_first` (`id` INT NOT NULL);\nALTER TABLE `no_such_table` ADD COLUMN `x` INT;\n",
    );
    other = freshDbUrl();
    otherDb = parseDatabaseUrl(other).database;
    await ensureDatabase(other);
  });

  it("throws, leaves its row unfinished with logs, and blocks later runs", async () => {
    const err = await applyMigrations(other, { dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationError);
    expect((err as Error).message).toContain(BROKEN);

    const rows = await migrationRows(otherDb);
    const good = (await listMigrations()).map((m) => m.name);
    expect(rows.map((r) => r.migration_name)).toEqual([...good, BROKEN]);
    expect(rows.slice(0, -1).every((r) => r.finished_at !== null && r.applied_steps_count === 1)).toBe(true);
    const broken = rows.at(-1)!;
    expect(broken).toMatchObject({ finished_at: null, rolled_back_at: null, applied_steps_count: 0 });
    expect(broken.checksum).toBe(sha256(await readFile(join(dir, BROKEN, "migration.sql"), "utf8")));
    expect(broken.logs).toContain("no_such_table");

    // Like Prisma's P3009: nothing more runs until a person resolves the failed row,
    // whether or not the broken dir is still there.
    await expect(applyMigrations(other, { dir })).rejects.toThrow(MigrationError);
    await expect(applyMigrations(other)).rejects.toThrow(/failed earlier/);
    expect(await migrationRows(otherDb)).toHaveLength(rows.length);
  });
});
