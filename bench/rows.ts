/**
 * What MariaDB spends per row on each write a message causes, on the real schema:
 * `npm run bench:rows` (optionally `-- --rows 20000 --json FILE`). Each statement kind
 * runs in multi-row statements of 500, as the grouped hot path sends them, and the
 * table shows mariadbd's CPU (from /proc) and the wall time per row. The last row is
 * an `_events` message staged in event_log (src/domain/staged-events.ts), as the events
 * after publish are written. `--alter "ALTER TABLE messages …"` measures a schema
 * variant (run after the migrations), e.g. other indexes.
 */
import { writeFileSync } from "node:fs";
import { applyMigrations, ensureDatabase } from "../src/db/migrate.js";
import { createSqlPool, type Sql } from "../src/db/sql.js";
import { insertRows, MESSAGE_BY_ID, newMessage } from "../src/db/message-rows.js";
import { stageRows } from "../src/db/staged-events.js";
import { uuidv7 } from "../src/ids.js";
import { dropDatabase, findPid, newRunIds, procSample } from "./env.js";

const PER_STATEMENT = 500;
const argv = process.argv.slice(2);
const flag = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const total = Number(flag("--rows") ?? 20_000);
const jsonFile = flag("--json");
const alter = flag("--alter");

const mariadbd = findPid("mariadbd") ?? findPid("mysqld");
if (!mariadbd) throw new Error("mariadbd is not visible in /proc: its CPU cannot be measured here");

const ids = newRunIds();
const tenant = uuidv7();
const scope = uuidv7();
const queue = uuidv7();
const events = uuidv7();
const body = { orderId: "ord-000123", customer: { id: "c-42", tier: "premium" }, items: [{ sku: "sku-1", qty: 2, price: 19.99 }], note: "x".repeat(120) };

type Result = { statement: string; rows: number; mariadbCpuUsPerRow: number; wallUsPerRow: number };

async function measure(statement: string, run: (batch: number) => Promise<void>): Promise<Result> {
  const c0 = procSample(mariadbd!)!.cpuS;
  const t0 = performance.now();
  for (let b = 0; b < total / PER_STATEMENT; b++) await run(b);
  const r = {
    statement,
    rows: total,
    mariadbCpuUsPerRow: ((procSample(mariadbd!)!.cpuS - c0) * 1e6) / total,
    wallUsPerRow: ((performance.now() - t0) * 1000) / total,
  };
  process.stderr.write(`  ${statement}: ${r.mariadbCpuUsPerRow.toFixed(0)} µs MariaDB CPU per row\n`);
  return r;
}

function message(fields: Partial<Parameters<typeof newMessage>[0]> = {}) {
  return newMessage({ id: uuidv7(), tenantId: tenant, scopeId: scope, queueId: queue, body, bodyHash: "0".repeat(64), createdAt: new Date(), ...fields });
}

async function main(sql: Sql): Promise<Result[]> {
  const published: string[] = [];
  const results: Result[] = [];
  results.push(
    await measure("INSERT a published message", async () => {
      const rows = Array.from({ length: PER_STATEMENT }, () => message());
      published.push(...rows.map((r) => r.id));
      await insertRows(sql, rows);
    }),
  );
  results.push(
    await measure("INSERT an `_events` message into messages (a publish's)", async () => {
      const rows = Array.from({ length: PER_STATEMENT }, (_, i) => {
        const about = published[i]!;
        const logged = { eventId: uuidv7(), type: "scaiqueue.message.published", messageId: about, queueId: queue, state: "PENDING", attempts: 0, failureReason: null, occurredAt: new Date().toISOString() };
        return message({ queueId: events, body: logged, messageType: logged.type, contentType: "application/vnd.scaiqueue.event+json", correlationId: uuidv7(), causationId: about, parentId: about });
      });
      await insertRows(sql, rows);
    }),
  );
  const page = (b: number) => published.slice(b * PER_STATEMENT, (b + 1) * PER_STATEMENT);
  const inList = (xs: string[]) => xs.map(() => "?").join(", ");
  results.push(
    await measure("UPDATE to CLAIMED", async (b) => {
      const batch = page(b);
      const now = new Date();
      await sql.exec(
        `UPDATE ${MESSAGE_BY_ID} SET state = 'CLAIMED', attempts = attempts + 1, claimToken = ?, claimedBy = ?, claimKeyId = ?, claimedAt = ?, claimExpiresAt = ?
         WHERE id IN (${inList(batch)}) AND state = 'PENDING'`,
        [uuidv7(), "bench", uuidv7(), now, new Date(now.getTime() + 30_000), ...batch],
      );
    }),
  );
  results.push(
    await measure("UPDATE to COMPLETED", async (b) => {
      const batch = page(b);
      const now = new Date();
      await sql.exec(
        `UPDATE ${MESSAGE_BY_ID} SET state = 'COMPLETED', completedAt = ?, finishedAt = ?, claimExpiresAt = NULL, response = ?
         WHERE id IN (${inList(batch)}) AND state = 'CLAIMED'`,
        [now, now, JSON.stringify({ ok: true }), ...batch],
      );
    }),
  );
  results.push(
    await measure("SELECT * by id", async (b) => {
      const batch = page(b);
      await sql.rows(`SELECT * FROM messages WHERE id IN (${inList(batch)})`, batch);
    }),
  );
  results.push(
    await measure("INSERT a staged `_events` message into event_log (the later events)", async (b) => {
      const rows = page(b).map((about) => {
        const logged = { eventId: uuidv7(), type: "scaiqueue.message.claimed", messageId: about, queueId: queue, state: "CLAIMED", attempts: 1, failureReason: null, occurredAt: new Date().toISOString() };
        return message({ queueId: events, body: logged, messageType: logged.type, contentType: "application/vnd.scaiqueue.event+json", correlationId: uuidv7(), causationId: about, parentId: about });
      });
      await stageRows(sql, rows);
    }),
  );
  return results;
}

await ensureDatabase(ids.databaseUrl);
await applyMigrations(ids.databaseUrl, {});
const sql = createSqlPool({ database: { url: ids.databaseUrl, poolSize: 2 } });
try {
  if (alter) await sql.exec(alter);
  process.stderr.write(`${total} rows per statement kind, ${PER_STATEMENT} per statement, database ${ids.database}\n`);
  const results = await main(sql);
  console.log("| statement | MariaDB CPU µs/row | wall µs/row |\n|---|---|---|");
  for (const r of results) console.log(`| ${r.statement} | ${r.mariadbCpuUsPerRow.toFixed(0)} | ${r.wallUsPerRow.toFixed(0)} |`);
  if (jsonFile) writeFileSync(jsonFile, JSON.stringify({ at: new Date().toISOString(), database: ids.database, perStatement: PER_STATEMENT, alter, results }, null, 2));
} finally {
  await sql.end();
  await dropDatabase(ids);
}
