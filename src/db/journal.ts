import { Grouped } from "./grouped.js";
import { retried, statementChunks, type Sql } from "./sql.js";
import type { Message } from "../generated/prisma/client.js";

/** One row of the audit log (table audit_entries). */
export type AuditRow = {
  id: string;
  tenantId: string;
  at: Date;
  action: string;
  actor: string;
  scopeId: string | null;
  queueId: string | null;
  messageId: string | null;
  correlationId: string | null;
  requestId: string | null;
  details: unknown;
};

/**
 * Journal INSERTs of a kind that may run at once. They only append rows nothing else
 * writes, so two at once cannot deadlock, and an operation waits for them before it
 * answers: two at once give benchmark scenario 1 3,043 msg/s against 2,828 with one
 * (four interleaved runs each, --scale 0.3); scenario 2 is the same either way
 * (764 / 760); three do no better.
 */
export const JOURNAL_WRITES_IN_FLIGHT = 2;

const AUDIT_COLUMNS = [
  "id", "tenantId", "at", "action", "actor", "scopeId", "queueId", "messageId", "correlationId", "requestId", "details",
] as const;

/**
 * The after-the-fact records of operations: audit entries and the `_events` copies of
 * message events (staged in event_log, staged-events.ts). Writes are group-committed.
 * A mutation is answered only once all its records are written (`audit` waits for
 * them). A failed write is logged, not thrown: the operation it records has already
 * committed and must not be answered as failed.
 */
export class Journal {
  private readonly auditEntries: Grouped<AuditRow, void>;
  private readonly pending = new Set<Promise<void>>();

  constructor(
    sql: Sql,
    private readonly stagedEvents: Grouped<Message, void>,
    private readonly onError: (err: unknown) => void,
  ) {
    this.auditEntries = new Grouped<AuditRow, void>(async (rows) => {
      for (const chunk of statementChunks(rows)) await retried(() => insertAudit(sql, chunk));
      return rows.map(() => undefined);
    }, JOURNAL_WRITES_IN_FLIGHT);
  }

  /**
   * Starts writing events' `_events` rows without waiting for them: they are written
   * while the operation goes on (pub/sub, routing, its audit entry), which spares each
   * claim and complete a round trip of waiting. With the claim's pipelined read-back
   * (recordClaims) and pub/sub tracked the same way, one caller does 134 claims and 137
   * completes a second, against 118 and 127 when each step is waited for in turn
   * (`bench:ops --callers 1`, five pairs); benchmark scenario 2 296 / 309 msg/s against
   * 278 / 280; scenario 1 +5% (docs/performance.md, log 2026-11-30 04:58).
   */
  stage(events: Message[]): void {
    if (events.length) this.track(this.stagedEvents.submit(events));
  }

  /**
   * Writes a mutation's audit entries and waits, with them, for everything tracked
   * before, the `_events` rows and pub/sub of the events the mutation caused among it:
   * so the mutation is answered once all it caused is written and sent. A mutation
   * without entries changed nothing (a claim that found nothing): it waits for nothing.
   */
  audit(rows: AuditRow[]): Promise<void> {
    if (!rows.length) return Promise.resolve();
    return Promise.all([this.track(this.auditEntries.submit(rows)), ...this.pending]).then(() => undefined);
  }

  /** Waits until everything appended so far is written (shutdown). */
  async settled(): Promise<void> {
    while (this.pending.size) await Promise.all(this.pending);
  }

  /**
   * Work an operation started without waiting for it (its `_events` rows, its events'
   * pub/sub): the audit step and shutdown wait for it; a failure is logged.
   */
  track(work: Promise<unknown>): Promise<void> {
    const written = work.then(
      () => undefined,
      (err: unknown) => this.onError(err),
    );
    this.pending.add(written);
    void written.finally(() => this.pending.delete(written));
    return written;
  }
}

async function insertAudit(sql: Sql, rows: AuditRow[]): Promise<void> {
  await sql.insert(
    `INSERT INTO audit_entries (${AUDIT_COLUMNS.map((c) => `\`${c}\``).join(", ")}) VALUES`,
    rows.map((r) => AUDIT_COLUMNS.map((c) => (c === "details" ? (r.details == null ? null : JSON.stringify(r.details)) : r[c]))),
  );
}
