import { EventChannel } from "../../events/channel.js";
import { Prisma, type Message } from "../../generated/prisma/client.js";
import { isUuid } from "../../ids.js";
import { QueueNotFoundError, ScopeNotFoundError, ValidationError } from "../../errors.js";
import type { Actor } from "../actor.js";
import type { Deps } from "../deps.js";
import { EventType, messageEvent, type MessageEvent } from "../../events/message-event.js";
import { getQueue } from "../scopes/queues.js";
import { getScope } from "../scopes/scopes.js";
import { text } from "../validation.js";
import { type QueueDepth, depthOfQueue } from "../scopes/depth.js";

/** Events are at-least-once (the completion relay may resend); readers get each id once. */
const byEventId = (e: MessageEvent) => e.eventId;

/** Built once: building it per subscription costs 3% of the server's CPU in benchmark scenario 3. */
const CORRELATION_ID = text(128);

/** Completions read per page of a waiter's catch-up. */
const CATCH_UP_PAGE = 500;
/**
 * The columns a completion event needs: all but the body, which an event does not carry
 * (bodyOf, messages/read.ts, reads it when a subscriber selects it), so 10,000 past
 * completions of one id do not bring 10,000 bodies into memory.
 */
const EVENT_COLUMNS = Object.values(Prisma.MessageScalarFieldEnum).filter((c) => c !== "body").map((c) => `\`${c}\``).join(", ");

/**
 * Completions of a correlation id: those already recorded, then live ones, each once.
 * The live listener is confirmed by Redis before the record is read, so a completion
 * can only fall into both (and is then sent once, by event id), never into neither.
 * The record is read a page at a time, each page only once the subscriber has taken
 * most of the one before: read at once, a correlation id with more than 10,000 completions
 * would fill the channel with its own catch-up, which would close it before anything was
 * delivered.
 */
export async function completionsOf(
  deps: Pick<Deps, "sql" | "bus">,
  actor: Actor,
  correlationId: string,
): Promise<AsyncIterableIterator<MessageEvent>> {
  if (!CORRELATION_ID.safeParse(correlationId).success) {
    throw new ValidationError([{ field: "correlationId", message: "1-128 characters, no control characters" }]);
  }
  const channel = new EventChannel<MessageEvent>({ keyOf: byEventId });
  // live completions that came while catching up, by event id; sent after it unless it sent them
  let early: Map<string, MessageEvent> | null = new Map();
  const off = await deps.bus.listen(
    actor.tenantId,
    (e) => {
      if (e.type !== EventType.completed) return;
      if (!early) return channel.push(e);
      early.set(e.eventId, e);
      if (early.size > CATCH_UP_PAGE * 20) channel.close(); // a flood while catching up: the subscriber cannot keep up
    },
    correlationId,
  );
  channel.onClose(off);
  // On the mariadb driver: through Prisma this read costs ~8% of the server's CPU in
  // benchmark scenario 3, where every message has a waiter of its own.
  const page = (after: Message | null) =>
    deps.sql.rows<Message>(
      `SELECT ${EVENT_COLUMNS} FROM messages WHERE tenantId = ? AND correlationId = ? AND completedAt IS NOT NULL
         ${after ? "AND (completedAt > ? OR (completedAt = ? AND id > ?))" : ""} ORDER BY completedAt, id LIMIT ${CATCH_UP_PAGE}`,
      [actor.tenantId, correlationId, ...(after ? [after.completedAt, after.completedAt, after.id] : [])],
    );
  const send = (rows: Message[]) => {
    for (const m of rows) {
      const e = messageEvent(EventType.completed, { ...m, body: undefined as unknown as Message["body"] }, m.completedAt!);
      early?.delete(e.eventId);
      channel.push(e);
    }
  };
  let rows: Message[];
  try {
    rows = await page(null);
  } catch (err) {
    channel.close();
    throw err;
  }
  send(rows);
  // the rest of the record (and then the live ones) is sent as the subscriber reads
  void (async () => {
    while (rows.length === CATCH_UP_PAGE && (await channel.room(CATCH_UP_PAGE))) send((rows = await page(rows.at(-1)!)));
    for (const e of early!.values()) channel.push(e);
    early = null;
  })().catch(() => channel.close());
  return channel;
}

export type EventFilter = { queueId?: string | null; scopeId?: string | null; correlationId?: string | null; types?: string[] | null };

/** Live lifecycle events of a queue, a scope or a correlation chain (at least one filter). */
export async function eventsOf(
  deps: Pick<Deps, "db" | "bus">,
  actor: Actor,
  f: EventFilter,
): Promise<AsyncIterableIterator<MessageEvent>> {
  if (f.queueId == null && f.scopeId == null && f.correlationId == null) {
    throw new ValidationError([{ field: "queueId", message: "give a queueId, a scopeId or a correlationId" }]);
  }
  if (f.queueId != null && !(isUuid(f.queueId) && (await getQueue(deps, actor, f.queueId)))) throw new QueueNotFoundError();
  if (f.scopeId != null && !(isUuid(f.scopeId) && (await getScope(deps, actor, { id: f.scopeId })))) {
    throw new ScopeNotFoundError();
  }
  const types = f.types?.length ? new Set(f.types) : null;
  const channel = new EventChannel<MessageEvent>({ keyOf: byEventId });
  const off = await deps.bus.listen(
    actor.tenantId,
    (e) => {
      if (f.queueId != null && e.queueId !== f.queueId) return;
      if (f.scopeId != null && e.scopeId !== f.scopeId) return;
      if (types && !types.has(e.type)) return;
      channel.push(e);
    },
    f.correlationId ?? undefined,
  );
  channel.onClose(off);
  return channel;
}

/** Coalescing window of the queueDepth subscription: at most ~10 updates a second. */
const DEPTH_EVERY_MS = 100;

/**
 * The queue's depth now, then each time it changes: every event of the queue schedules
 * one read at most DEPTH_EVERY_MS later, and only a changed depth is sent.
 */
export async function depthChangesOf(
  deps: Pick<Deps, "db" | "bus" | "scripts" | "queues" | "clock" | "stagedEvents">,
  actor: Actor,
  queueId: string,
): Promise<AsyncIterableIterator<QueueDepth>> {
  const q = await deps.queues.get(actor.tenantId, queueId);
  const channel = new EventChannel<QueueDepth>({ maxBuffered: 100 });
  let last = "";
  let timer: NodeJS.Timeout | null = null;
  const read = async () => {
    timer = null;
    const d = await depthOfQueue(deps, q);
    const key = JSON.stringify(d);
    if (key !== last) {
      last = key;
      channel.push(d);
    }
  };
  const off = await deps.bus.listen(actor.tenantId, (e) => {
    if (e.queueId === q.id && !timer) timer = setTimeout(() => void read().catch(() => channel.close()), DEPTH_EVERY_MS);
  });
  channel.onClose(() => {
    off();
    if (timer) clearTimeout(timer);
  });
  await read();
  return channel;
}
