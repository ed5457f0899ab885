import type { Message } from "../generated/prisma/client.js";
import { Grouped } from "./grouped.js";
import { marks, retried, type Sql } from "./sql.js";
import { insertRows, MESSAGE_BY_ID, messagesById, selectById } from "./message-rows.js";

/** A claim named by its message and token. */
export type ClaimRef = { id: string; token: string };

/** A claim popped from Redis, to be recorded on its row. */
export type ClaimRecord = { id: string; token: string; claimedBy: string; keyId: string; claimedAt: Date; claimExpiresAt: Date };

/** A held claim to complete, with its response. */
export type CompletionRecord = ClaimRef & { response: unknown; at: Date };

/**
 * The statements every publish, claim and complete sends, grouped across concurrent
 * operations (src/db/grouped.ts): their inserts, reads by id and claim/complete UPDATEs
 * each share one statement with whatever else is waiting. Measured on benchmark
 * scenario 2 (32 producers and 32 consumers, one message per request): 1.5 MariaDB
 * statements per message and 309–444 messages/s, against 5.7 and 261 with one statement
 * per operation (docs/performance.md, log 2026-11-29 23:11).
 */
export class MessageStatements {
  readonly insert: Grouped<Message, void>;
  private readonly reads: Grouped<string, Message | null>;
  private readonly claims: Grouped<ClaimRecord, Message | null>;
  private readonly completions: Grouped<CompletionRecord, Date | null>;

  constructor(sql: Sql) {
    this.insert = new Grouped<Message, void>(async (rows) => {
      await retried(() => insertRows(sql, rows));
      return rows.map(() => undefined);
    });
    this.reads = new Grouped(async (ids) => {
      const found = new Map((await messagesById(sql, [...new Set(ids)])).map((m) => [m.id, m]));
      return ids.map((id) => found.get(id) ?? null);
    });
    this.claims = new Grouped((records) => recordClaims(sql, records), CLAIMS_IN_FLIGHT);
    this.completions = new Grouped((records) => completeClaims(sql, records, (ids) => this.byId(ids)));
  }

  /** The rows with these ids, as now; missing ids are left out. */
  async byId(ids: string[]): Promise<Message[]> {
    return (await this.reads.submit(ids)).filter((m): m is Message => m !== null);
  }

  /** Records popped claims; resolves to the messages now claimed by them (the others were not claimable). */
  async claim(records: ClaimRecord[]): Promise<Message[]> {
    return (await this.claims.submit(records)).filter((m): m is Message => m !== null);
  }

  /** Completes held claims; per claim, when it was completed, or null if it was no longer live. */
  complete(records: CompletionRecord[]): Promise<Array<Date | null>> {
    return this.completions.submit(records);
  }
}

type Read = (ids: string[]) => Promise<Message[]>;

/**
 * Claim UPDATEs that may run at once. With a million pending, the oldest rows a claim
 * takes have left MariaDB's buffer pool (128 MiB by default), so each UPDATE waits on
 * reads; four at once overlap those waits (benchmark scenario 5 at 1,000,000 pending:
 * 2,911 claims/s with four, 1,919 with one; no clear difference in scenarios 1 and 2).
 */
const CLAIMS_IN_FLIGHT = 4;

/**
 * One UPDATE records the claims (tokens, holders and expiries by CASE), only on rows
 * still PENDING and not expired; then the rows are read back, and a claim is ours
 * when its row holds our token. The read goes out right behind the UPDATE on its
 * connection, so a claim waits for one round trip to MariaDB, not two (its effect is
 * measured together with Journal.stage's; see there).
 */
export async function recordClaims(sql: Sql, records: ClaimRecord[]): Promise<Array<Message | null>> {
  const ids = records.map((r) => r.id);
  const cases = (value: (r: ClaimRecord) => unknown) => ({
    sql: `CASE id ${records.map(() => "WHEN ? THEN ?").join(" ")} END`,
    params: records.flatMap((r) => [r.id, value(r)]),
  });
  const sets = [cases((r) => r.token), cases((r) => r.claimedBy), cases((r) => r.keyId), cases((r) => r.claimedAt), cases((r) => r.claimExpiresAt)];
  // the latest of the grouped claims' times: a message expiring in between is not handed out
  const now = new Date(Math.max(...records.map((r) => r.claimedAt.getTime())));
  const [, read] = await sql.execThenRows<Message>(
    `UPDATE ${MESSAGE_BY_ID} SET state = 'CLAIMED', attempts = attempts + 1,
       claimToken = ${sets[0]!.sql}, claimedBy = ${sets[1]!.sql}, claimKeyId = ${sets[2]!.sql},
       claimedAt = ${sets[3]!.sql}, claimExpiresAt = ${sets[4]!.sql}
     WHERE id IN (${marks(ids)}) AND state = 'PENDING' AND (expiresAt IS NULL OR expiresAt > ?)`,
    [...sets.flatMap((s) => s.params), ...ids, now],
    selectById(ids),
    ids,
  );
  const rows = new Map(read.map((m) => [m.id, m]));
  return records.map((r) => {
    const m = rows.get(r.id);
    return m && m.state === "CLAIMED" && m.claimToken === r.token ? m : null;
  });
}

/**
 * MariaDB decides which completions hold: one conditional UPDATE (claimCondition) over
 * all of them, at the latest of their times. When it matched fewer rows than asked,
 * some claim lapsed (or was taken again) since it was checked: only its holder can make
 * a message COMPLETED, so "COMPLETED with our token" tells ours apart. Resolves to the
 * completion time of each claim that held, null for the others.
 */
async function completeClaims(sql: Sql, records: CompletionRecord[], read: Read): Promise<Array<Date | null>> {
  const at = new Date(Math.max(...records.map((r) => r.at.getTime())));
  const where = claimCondition(records, "live", at);
  const affected = await sql.exec(
    `UPDATE ${MESSAGE_BY_ID} SET state = 'COMPLETED', completedAt = ?, finishedAt = ?, claimExpiresAt = NULL,
       response = CASE id ${records.map(() => "WHEN ? THEN ?").join(" ")} END
     WHERE ${where.sql}`,
    [at, at, ...records.flatMap((r) => [r.id, r.response === null ? null : JSON.stringify(r.response)]), ...where.params],
  );
  if (affected === records.length) return records.map(() => at);
  const rows = await read(records.map((r) => r.id));
  const ours = new Set(rows.filter((r) => r.state === "COMPLETED").map((r) => `${r.id}/${r.claimToken}`));
  return records.map((r) => (ours.has(`${r.id}/${r.token}`) ? at : null));
}

/**
 * The WHERE clause that makes a write to claimed rows conditional on each claim still
 * being the one named (its token), and either still live or already lapsed. MariaDB is
 * the arbiter: a claim that lapsed or was taken again is simply not matched, and a live
 * write is refused on a message past its ttl or deadline (the expiry enforcer ends it).
 */
export function claimCondition(claims: ClaimRef[], when: "live" | "lapsed", now: Date): { sql: string; params: unknown[] } {
  return {
    sql: `id IN (${marks(claims)}) AND state = 'CLAIMED'
      AND claimExpiresAt ${when === "live" ? ">" : "<="} ?
      AND claimToken = CASE id ${claims.map(() => "WHEN ? THEN ?").join(" ")} END${when === "live" ? `
      AND (expiresAt IS NULL OR expiresAt > ?)` : ""}`,
    params: [...claims.map((c) => c.id), now, ...claims.flatMap((c) => [c.id, c.token]), ...(when === "live" ? [now] : [])],
  };
}
