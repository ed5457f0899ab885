import { EventChannel } from "../events/channel.js";
import type { Message } from "../generated/prisma/client.js";
import { isUuid } from "../ids.js";
import { QueueNotFoundError, ScopeNotFoundError, ValidationError } from "../errors.js";
import type { Actor } from "./actor.js";
import type { Deps } from "./deps.js";
import { EventType, messageEvent, type MessageEvent } from "./message-events.js";
import { getQueue } from "./queues.js";
import { getScope } from "./scopes.js";
import { text } from "./validation.js";
import { depthOfQueue, type QueueDepth } from "./messages.js";

/** Events are at-least-once (the completion relay may resend); readers get each id once. */
const byEventId = (e: MessageEvent) => e.eventId;

/** Built once: a zod schema per subscription was 3% of the server's CPU in benchmark scenario 3. */
const CORRELATION_ID = text(128);

/**
 * Completions of a correlation id: those already recorded, then live ones, each once.
 * The live listener is confirmed by Redis before the record is read, so a completion
 * can only fall into both (and is then dropped by event id), never into neither.
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
  let early: MessageEvent[] | null = [];
  const off = await deps.bus.listen(
    actor.tenantId,
    (e) => {
      if (e.type !== EventType.completed) return;
      if (early) early.push(e);
      else channel.push(e);
    },
    correlationId,
  );
  channel.onClose(off);
  try {
    // On the mariadb driver: through Prisma this read was ~8% of the server's CPU in
    // benchmark scenario 3, where every message has a waiter of its own.
    const done = await deps.sql.rows<Message>(
      `SELECT * FROM messages WHERE tenantId = ? AND correlationId = ? AND completedAt IS NOT NULL ORDER BY completedAt`,
      [actor.tenantId, correlationId],
    );
    for (const m of done) channel.push(messageEvent(EventType.completed, m, m.completedAt!));
  } catch (err) {
    channel.close();
    throw err;
  }
  for (const e of early) channel.push(e);
  early = null;
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
  if (f.queueId != null && !(isUuid(f.queueId) && (await getQueue(deps.db, actor, f.queueId)))) throw new QueueNotFoundError();
  if (f.scopeId != null && !(isUuid(f.scopeId) && (await getScope(deps.db, actor, { id: f.scopeId })))) {
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
