import { randomUUID } from "node:crypto";
import { Prisma, type Message, type MessageState } from "../generated/prisma/client.js";

export const EventType = {
  published: "scaiqueue.message.published",
  claimed: "scaiqueue.message.claimed",
  completed: "scaiqueue.message.completed",
  failed: "scaiqueue.message.failed",
  released: "scaiqueue.message.released",
  deadLettered: "scaiqueue.message.dead_lettered",
  expired: "scaiqueue.message.expired",
  /** a routing rule moved or archived the message (it is ARCHIVED now) */
  routed: "scaiqueue.message.routed",
} as const;
export type EventTypeName = (typeof EventType)[keyof typeof EventType];

export type MessageEvent = {
  eventId: string;
  type: EventTypeName;
  messageId: string;
  queueId: string;
  scopeId: string;
  tenantId: string;
  correlationId: string | null;
  state: MessageState;
  response: unknown;
  failureReason: string | null;
  occurredAt: Date;
  /** the message as of the event */
  message: Message;
};

/** Events that happen at most once in a message's life. */
const ONCE: ReadonlySet<EventTypeName> = new Set([
  EventType.published,
  EventType.completed,
  EventType.deadLettered,
  EventType.expired,
  EventType.routed,
]);

/**
 * An event that happens once per message has an id derived from the message, so it has
 * the same id however it reaches a waiter (live, read back after the fact, or resent by
 * the completion relay): waiters drop repeats by id, which makes a completion arrive
 * exactly once. Repeatable events (claimed, failed, released) get a fresh id each time.
 */
export function messageEvent(type: EventTypeName, message: Message, occurredAt: Date): MessageEvent {
  const once = onceEventId(message.id, type);
  return {
    eventId: ONCE.has(type) ? once : `${once}:${randomUUID()}`,
    type,
    messageId: message.id,
    queueId: message.queueId,
    scopeId: message.scopeId,
    tenantId: message.tenantId,
    correlationId: message.correlationId,
    state: message.state,
    response: type === EventType.completed ? message.response : null,
    failureReason: message.failureReason,
    occurredAt,
    message,
  };
}

/** The id of a message's event that happens at most once (a completion's, say). */
export const onceEventId = (messageId: string, type: EventTypeName): string => `${messageId}:${type.slice("scaiqueue.message.".length)}`;

/** An event as it crosses processes (EventBus): JSON, with its message carried in part (`toWire`). */
export type WireEvent = Omit<MessageEvent, "message" | "occurredAt"> & { occurredAt: string; message: Record<string, unknown> };

/**
 * Message fields an event does not carry across processes: those the event repeats, the
 * hash, the claim's token and key (never shown for an event's message), and the body: a
 * subscriber that selects `message { body }` reads it by id (bodyOf in
 * src/domain/messages/read.ts), the others do not pay for it. A published event is ~580
 * bytes and a claimed one ~710. With the whole message they would be ~1,440 and ~1,590:
 * ~4.5 kB of Redis traffic per message in benchmark scenario 1 (more than MariaDB gets)
 * and ~6% of the server's CPU for their JSON. Leaving the message out: scenario 1 2,513
 * msg/s against 2,302 (three interleaved runs each).
 */
const NOT_CARRIED: ReadonlySet<string> = new Set(["id", "tenantId", "scopeId", "queueId", "correlationId", "state", "failureReason", "bodyHash", "claimToken", "claimKeyId", "body"]);
const MESSAGE_FIELDS = Object.values(Prisma.MessageScalarFieldEnum);
const MESSAGE_DATES: ReadonlySet<string> = new Set([
  "deadline", "delayUntil", "visibleAt", "expiresAt", "claimExpiresAt", "createdAt", "claimedAt", "completedAt", "finishedAt", "erasedAt",
]);

/** The event to send: its message without the fields above, null fields or a completion's response (the event has it). */
export function toWire(e: MessageEvent): Omit<MessageEvent, "message"> & { message: Record<string, unknown> } {
  const carried: Record<string, unknown> = {};
  for (const f of MESSAGE_FIELDS) {
    const v = e.message[f];
    if (v !== null && !NOT_CARRIED.has(f) && !(f === "response" && e.type === EventType.completed)) carried[f] = v;
  }
  return { ...e, message: carried };
}

/** An event received: its dates restored and its message completed, but for the body (left undefined, read on demand). */
export function reviveEvent(raw: WireEvent): MessageEvent {
  const message: Record<string, unknown> = {};
  for (const f of MESSAGE_FIELDS) {
    const v = raw.message[f];
    message[f] = v === undefined ? null : MESSAGE_DATES.has(f) ? new Date(v as string) : v;
  }
  Object.assign(message, {
    id: raw.messageId,
    tenantId: raw.tenantId,
    scopeId: raw.scopeId,
    queueId: raw.queueId,
    correlationId: raw.correlationId,
    state: raw.state,
    failureReason: raw.failureReason,
    body: undefined,
  });
  if (raw.type === EventType.completed) message.response = raw.response;
  return { ...raw, occurredAt: new Date(raw.occurredAt), message: message as Message };
}
