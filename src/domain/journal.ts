import type { Db } from "../db/client.js";
import type { Message } from "../generated/prisma/client.js";
import { insertRows } from "./message-rows.js";

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

/** Rows per INSERT statement: keeps each statement's packet well under max_allowed_packet. */
const CHUNK = 500;

const AUDIT_COLUMNS = [
  "id", "tenantId", "at", "action", "actor", "scopeId", "queueId", "messageId", "correlationId", "requestId", "details",
] as const;

type Pending = { events: Message[]; audit: AuditRow[]; done: Array<() => void> };

/**
 * The after-the-fact records of operations: audit entries and the `_events` copies of
 * message events. Writes are group-committed: while one INSERT is in flight, every
 * record appended meanwhile waits for the next, so N concurrent operations cost about
 * one round trip instead of N (the callers await their flush, so an answered mutation
 * has its audit entry). A failed flush is logged, not thrown: the operation it records
 * has already committed and must not be answered as failed.
 */
export class Journal {
  private queued: Pending = { events: [], audit: [], done: [] };
  private flushing: Promise<void> | null = null;

  constructor(
    private readonly db: Db,
    private readonly onError: (err: unknown) => void,
  ) {}

  append(records: { events?: Message[]; audit?: AuditRow[] }): Promise<void> {
    if (!records.events?.length && !records.audit?.length) return Promise.resolve();
    return new Promise((resolve) => {
      this.queued.events.push(...(records.events ?? []));
      this.queued.audit.push(...(records.audit ?? []));
      this.queued.done.push(resolve);
      if (!this.flushing) this.flushing = this.drain();
    });
  }

  /** Waits until everything appended so far is written (shutdown). */
  async settled(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private async drain(): Promise<void> {
    // let the operations of this tick append before the first flush
    await new Promise((r) => setImmediate(r));
    while (this.queued.done.length) {
      const batch = this.queued;
      this.queued = { events: [], audit: [], done: [] };
      try {
        await Promise.all([
          ...chunks(batch.events).map((rows) => retried(() => insertRows(this.db, rows))),
          ...chunks(batch.audit).map((rows) => retried(() => this.insertAudit(rows))),
        ]);
      } catch (err) {
        this.onError(err);
      }
      for (const resolve of batch.done) resolve();
    }
    this.flushing = null;
  }

  private async insertAudit(rows: AuditRow[]): Promise<void> {
    await this.db.$executeRawUnsafe(
      `INSERT INTO audit_entries (${AUDIT_COLUMNS.map((c) => `\`${c}\``).join(", ")})
       VALUES ${rows.map(() => `(${AUDIT_COLUMNS.map(() => "?").join(", ")})`).join(", ")}`,
      ...rows.flatMap((r) => AUDIT_COLUMNS.map((c) => (c === "details" ? (r.details == null ? null : JSON.stringify(r.details)) : r[c]))),
    );
  }
}

const TRANSIENT = /Deadlock found|Lock wait timeout/;

/** InnoDB may pick a statement as a deadlock victim; it was rolled back whole, so it is run again. */
async function retried(write: () => Promise<void>, attempts = 3): Promise<void> {
  for (let i = 1; ; i++) {
    try {
      return await write();
    } catch (err) {
      if (i >= attempts || !TRANSIENT.test((err as Error).message)) throw err;
    }
  }
}

function chunks<T>(xs: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += CHUNK) out.push(xs.slice(i, i + CHUNK));
  return out;
}
