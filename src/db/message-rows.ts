import { marks, statementChunks, type Sql } from "./sql.js";
import { isUuid } from "../ids.js";
import type { Message } from "../generated/prisma/client.js";

const COLUMNS = [
  "id", "tenantId", "scopeId", "queueId", "state", "messageType", "body", "bodyHash", "contentType", "labels",
  "priorityTier", "priorityScore", "correlationId", "causationId", "parentId", "isCopy", "idempotencyKey", "deadline",
  "ttlSeconds", "delayUntil", "visibleAt", "expiresAt", "failureReason", "hitlSpec", "routeHops", "createdAt",
] as const;
/**
 * The messages table in UPDATEs that name their rows by id. The conditions beside the
 * ids (`state = 'CLAIMED' AND claimExpiresAt > ?`) match a secondary index too, and the
 * optimizer sometimes ranged over it instead, locking every live claim: concurrent
 * completes then deadlocked (seen in the benchmark with two processes).
 */
export const MESSAGE_BY_ID = "messages FORCE INDEX (PRIMARY)";

const JSON_COLUMNS = new Set(["body", "labels", "hitlSpec"]);

/**
 * Inserts new message rows with multi-row INSERTs (statementChunks: by rows and by
 * bytes), all or none: when they take more than one statement, the statements share one
 * transaction, so a batch is never half written whatever its size. A row whose
 * (queueId, idempotencyKey) exists is skipped by the unique index rather than read
 * first, so concurrent duplicates cannot both get in.
 */
export async function insertRows(sql: Sql, rows: Message[]): Promise<void> {
  const values = rows.map((r) =>
    COLUMNS.map((c) => {
      const v = r[c];
      return JSON_COLUMNS.has(c) && v !== null ? JSON.stringify(v) : v;
    }),
  );
  const chunks = statementChunks(values, bytesOf);
  const insert = (to: Sql, chunk: unknown[][]) => to.insert(`INSERT INTO messages (${COLUMNS.map((c) => `\`${c}\``).join(", ")}) VALUES`, chunk, "ON DUPLICATE KEY UPDATE id = id");
  if (chunks.length === 1) return insert(sql, chunks[0]!);
  await sql.atomically(async (tx) => {
    for (const chunk of chunks) await insert(tx, chunk);
  });
}

/**
 * A row's parameters' size, near enough: the characters of its strings (JSON columns are
 * text by now; UTF-8 takes at most three bytes for each, which still fits a statement
 * of STATEMENT_BYTES characters in MariaDB's default 16 MiB packet) and 8 for the rest.
 */
const bytesOf = (values: unknown[]): number => values.reduce<number>((n, v) => n + (typeof v === "string" ? v.length : 8), 0);

/**
 * The messages with these ids (any order; missing ids are skipped). Only UUIDs are
 * sent: the id columns are ascii, and MariaDB refuses to compare them with other text.
 */
export async function messagesById(sql: Sql, ids: string[]): Promise<Message[]> {
  const valid = ids.filter(isUuid);
  if (!valid.length) return [];
  return sql.rows<Message>(selectById(valid), valid);
}

/** The SELECT of whole messages by the ids given as its parameters. */
export const selectById = (ids: readonly string[]): string => `SELECT * FROM messages WHERE id IN (${marks(ids)})`;

/** A new PENDING message as it will be stored: the defaults every writer shares. */
export function newMessage(
  fields: Pick<Message, "id" | "tenantId" | "scopeId" | "queueId" | "body" | "createdAt"> & Partial<Message>,
): Message {
  return {
    state: "PENDING",
    bodyHash: null,
    messageType: null,
    contentType: "application/json",
    labels: {},
    priorityTier: "NORMAL",
    priorityScore: 0,
    correlationId: null,
    causationId: null,
    parentId: null,
    isCopy: false,
    idempotencyKey: null,
    deadline: null,
    ttlSeconds: null,
    delayUntil: null,
    visibleAt: null,
    expiresAt: null,
    attempts: 0,
    claimToken: null,
    claimedBy: null,
    claimKeyId: null,
    claimExpiresAt: null,
    failureReason: null,
    response: null,
    hitlSpec: null,
    routeHops: 0,
    claimedAt: null,
    completedAt: null,
    finishedAt: null,
    erasedAt: null,
    ...fields,
  };
}
