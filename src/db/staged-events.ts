import type { Db } from "./client.js";
import { Grouped } from "./grouped.js";
import { marks, retried, sqlOf, statementChunks, type Sql } from "./sql.js";
import type { Message } from "../generated/prisma/client.js";
import { JOURNAL_WRITES_IN_FLIGHT } from "./journal.js";

/**
 * The content type of `_events` messages. They carry the correlation id of the chain
 * they describe (so trace finds them by index), and this type keeps them out of
 * `messages(correlationId:)` unless their queue is asked for; publishers may not use it.
 */
export const EVENT_CONTENT_TYPE = "application/vnd.scaiqueue.event+json";

/** What an `_events` message has beyond the defaults of a new message: all event_log keeps. */
const STAGED = ["id", "tenantId", "scopeId", "queueId", "messageType", "body", "correlationId", "causationId", "createdAt"] as const;

/** Rows moved into `messages` per transaction: an IN list stays below MariaDB's 1,000, where it becomes a join. */
const MOVE_CHUNK = 500;

/**
 * The `_events` messages of claims, completions and the other operations after publish
 * are staged in the slim `event_log` table and become rows of `messages` only when their
 * `_events` queue is read (claimed, counted, listed, traced, erased). A `messages` row
 * costs MariaDB its nine indexes and the server a 25-column row; the feed is read rarely
 * and every event of a scope goes into it, so most of it never needs to be a full row.
 * Writing no `_events` rows at all would give benchmark scenario 1 +40% messages/s and
 * scenario 2 +28%; staging gets +14% and +8% (docs/performance.md). A publish's own events
 * go into `messages` in the same INSERT as the messages, so they are exactly as durable.
 * Staged events older than the archive retention arrive ARCHIVED, as the archiver would
 * have left them.
 */
export class StagedEvents {
  /** Group-committed inserts into event_log: takes `_events` rows as eventRows builds them. */
  readonly insert: Grouped<Message, void>;

  constructor(
    private readonly sql: Sql,
    private readonly db: Db,
    private readonly retentionMs: number,
    private readonly clock: () => number,
  ) {
    this.insert = new Grouped<Message, void>(async (rows) => {
      for (const chunk of statementChunks(rows)) await retried(() => stageRows(sql, chunk));
      return rows.map(() => undefined);
    }, JOURNAL_WRITES_IN_FLIGHT);
  }

  /**
   * Moves the staged events of these `_events` queues into `messages`, oldest first, in
   * transactions of MOVE_CHUNK: one statement when there are none. Safe to run
   * concurrently: a row moved twice is kept once.
   */
  async materialize(queueIds: readonly string[]): Promise<number> {
    if (!queueIds.length) return 0;
    const of = `queueId IN (${marks(queueIds)})`;
    let moved = 0;
    // what was staged when the call began, so events staged meanwhile cannot keep it going
    let last: string | null = null;
    for (;;) {
      const upTo = last ? ` AND id <= ?` : "";
      const params = last ? [...queueIds, last] : [...queueIds];
      const ids = (await this.sql.rows<{ id: string }>(`SELECT id FROM event_log WHERE ${of}${upTo} ORDER BY id LIMIT ${MOVE_CHUNK}`, params)).map((r) => r.id);
      if (!ids.length) return moved;
      if (!last && ids.length === MOVE_CHUNK) last = (await this.sql.rows<{ id: string }>(`SELECT MAX(id) id FROM event_log WHERE ${of}`, [...queueIds]))[0]!.id;
      await retried(() => this.move(ids));
      moved += ids.length;
      if (ids.length < MOVE_CHUNK) return moved;
    }
  }

  /** One transaction: the rows into `messages` (ARCHIVED when past the retention), then out of event_log. */
  private async move(ids: string[]): Promise<void> {
    const now = this.clock();
    const cutOff = new Date(now - this.retentionMs);
    await this.db.$transaction(async (txClient) => {
      const tx = sqlOf(txClient);
      await tx.exec(
        `INSERT INTO messages (id, tenantId, scopeId, queueId, state, messageType, body, contentType, labels, correlationId, causationId, parentId, createdAt, finishedAt)
         SELECT id, tenantId, scopeId, queueId, IF(createdAt <= ?, 'ARCHIVED', 'PENDING'), messageType, body, ?, '{}', correlationId, causationId, causationId, createdAt,
           IF(createdAt <= ?, ?, NULL)
         FROM event_log WHERE id IN (${marks(ids)})
         ON DUPLICATE KEY UPDATE id = messages.id`,
        [cutOff, EVENT_CONTENT_TYPE, cutOff, new Date(now), ...ids],
      );
      await tx.exec(`DELETE FROM event_log WHERE id IN (${marks(ids)})`, ids);
    });
  }
}

/** INSERTs `_events` rows (as eventRows builds them) into event_log. */
export async function stageRows(sql: Sql, rows: Message[]): Promise<void> {
  await sql.insert(
    `INSERT INTO event_log (${STAGED.map((c) => `\`${c}\``).join(", ")}) VALUES`,
    rows.map((r) => STAGED.map((c) => (c === "body" ? JSON.stringify(r.body) : r[c]))),
  );
}
