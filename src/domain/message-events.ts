import type { Message, MessageState } from "../generated/prisma/client.js";

export const EventType = {
  published: "scaiqueue.message.published",
  claimed: "scaiqueue.message.claimed",
  completed: "scaiqueue.message.completed",
  failed: "scaiqueue.message.failed",
  released: "scaiqueue.message.released",
  deadLettered: "scaiqueue.message.dead_lettered",
  expired: "scaiqueue.message.expired",
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

/**
 * The event id is derived from the message, the event and the attempt, so the same
 * event has the same id however it reaches a waiter (live, or read back after the
 * fact): waiters drop repeats by id, which makes a completion racing a new
 * subscription arrive exactly once.
 */
export function messageEvent(type: EventTypeName, message: Message, occurredAt: Date): MessageEvent {
  return {
    eventId: `${message.id}:${type.slice("scaiqueue.message.".length)}:${message.attempts}`,
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
