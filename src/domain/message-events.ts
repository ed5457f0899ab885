import { randomUUID } from "node:crypto";
import type { Message, MessageState } from "../generated/prisma/client.js";

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

const MESSAGE_DATES = ["deadline", "delayUntil", "claimExpiresAt", "createdAt", "claimedAt", "completedAt"] as const;

/** Events cross processes as JSON; this restores their dates. */
export function reviveEvent(raw: MessageEvent): MessageEvent {
  const message = { ...raw.message } as Message;
  for (const f of MESSAGE_DATES) {
    const v = message[f] as unknown;
    if (typeof v === "string") (message as Record<string, unknown>)[f] = new Date(v);
  }
  return { ...raw, occurredAt: new Date(raw.occurredAt), message };
}
