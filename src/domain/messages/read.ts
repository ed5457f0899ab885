import type { Message, MessageState } from "../../generated/prisma/client.js";
import { isUuid } from "../../ids.js";
import { QueueNotFoundError, ScopeNotFoundError, ValidationError } from "../../errors.js";
import type { Actor } from "../actor.js";
import type { Deps } from "../deps.js";

import { EVENT_CONTENT_TYPE } from "../../db/staged-events.js";

export const MAX_PAGE = 500;

export async function getMessage({ db }: Pick<Deps, "db">, actor: Actor, id: string): Promise<Message | null> {
  if (!isUuid(id)) return null;
  return db.message.findFirst({ where: { id, tenantId: actor.tenantId } });
}

/** A message's body as it is now (events do not carry it); null once the row is gone. */
export const bodyOf = async (deps: Pick<Deps, "statements">, id: string): Promise<unknown> => (await deps.statements.byId([id]))[0]?.body ?? null;

export type MessageFilter = {
  queueId?: string | null;
  scopeId?: string | null;
  correlationId?: string | null;
  state?: MessageState | null;
  first?: number | null;
  after?: string | null;
};

export type MessagePage = { edges: { cursor: string; node: Message }[]; hasNextPage: boolean; endCursor: string | null };

const encodeCursor = (id: string) => Buffer.from(id).toString("base64url");
function decodeCursor(cursor: string): string {
  const id = Buffer.from(cursor, "base64url").toString();
  if (!isUuid(id)) throw new ValidationError([{ field: "after", message: "not a cursor of this list" }]);
  return id;
}

/**
 * Messages in publish order (ids are UUIDv7), a page at a time. Each filter combination
 * has an index that starts with it (see prisma/schema.prisma).
 */
export async function listMessages(deps: Pick<Deps, "sql" | "queues" | "stagedEvents">, actor: Actor, f: MessageFilter): Promise<MessagePage> {
  const first = f.first ?? 50;
  if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE) {
    throw new ValidationError([{ field: "first", message: `must be 1 to ${MAX_PAGE}` }]);
  }
  if (f.queueId != null && !isUuid(f.queueId)) throw new QueueNotFoundError();
  if (f.scopeId != null && !isUuid(f.scopeId)) throw new ScopeNotFoundError();
  if (f.queueId != null) {
    // an `_events` queue's listing includes its staged events (the other listings leave `_events` out)
    const q = await deps.queues.get(actor.tenantId, f.queueId).catch((err: unknown) => {
      if (err instanceof QueueNotFoundError) return null; // lists nothing, as any unknown queue
      throw err;
    });
    if (q && q.servedFrom === "mariadb") await deps.stagedEvents.materialize([q.id]);
  }
  const conditions: [string, unknown][] = [["tenantId = ?", actor.tenantId]];
  if (f.queueId != null) conditions.push(["queueId = ?", f.queueId]);
  else conditions.push(["contentType <> ?", EVENT_CONTENT_TYPE]);
  if (f.scopeId != null) conditions.push(["scopeId = ?", f.scopeId]);
  if (f.correlationId != null) conditions.push(["correlationId = ?", f.correlationId]);
  if (f.state != null) conditions.push(["state = ?", f.state]);
  if (f.after != null) conditions.push(["id > ?", decodeCursor(f.after)]);
  // On the mariadb driver: a page of large bodies through Prisma's adapter cost several
  // times the CPU, and a view key may ask for many pages at once (the cost limit allows it)
  const rows = await deps.sql.rows<Message>(
    `SELECT * FROM messages WHERE ${conditions.map(([c]) => c).join(" AND ")} ORDER BY id LIMIT ?`,
    [...conditions.map(([, v]) => v), first + 1],
  );
  const page = rows.slice(0, first);
  return {
    edges: page.map((node) => ({ cursor: encodeCursor(node.id), node })),
    hasNextPage: rows.length > first,
    endCursor: page.length ? encodeCursor(page[page.length - 1]!.id) : null,
  };
}
