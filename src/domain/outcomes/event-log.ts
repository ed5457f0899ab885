import type { Message } from "../../generated/prisma/client.js";
import { isUuid, uuidv7 } from "../../ids.js";
import { ScopeNotFoundError, ValidationError } from "../../errors.js";
import type { Actor } from "../actor.js";
import type { Deps } from "../deps.js";
import { EventType, messageEvent, type EventTypeName, type MessageEvent } from "../../events/message-event.js";
import { newMessage } from "../../db/message-rows.js";
import { EVENTS_QUEUE } from "../../db/queue-directory.js";
import { EVENT_CONTENT_TYPE } from "../../db/staged-events.js";


/** What an `_events` message carries: the event without the message's body or response. */
export type LoggedEvent = {
  eventId: string;
  type: EventTypeName;
  messageId: string;
  queueId: string;
  state: Message["state"];
  attempts: number;
  failureReason: string | null;
  occurredAt: string;
};

/** A message event a committed change caused: the message as the change left it. */
export type Happened = { message: Message; type: EventTypeName };

export const happenedTo = (messages: Message[], type: EventTypeName): Happened[] => messages.map((message) => ({ message, type }));

/** Events ready to announce, with their `_events` rows (none for messages of system queues). */
export type PreparedEvents = { items: Happened[]; events: MessageEvent[]; rows: Message[] };

/**
 * Builds the events and their `_events` rows. A write may build them before it runs,
 * so the rows go in its own statement (a publish does: its published events are then as
 * durable as the messages, and cost no INSERT of their own).
 */
export async function prepareEvents(deps: Pick<Deps, "queues">, items: Happened[], at: Date): Promise<PreparedEvents> {
  const events = items.map((i) => messageEvent(i.type, i.message, at));
  const logged: MessageEvent[] = [];
  for (const e of events) if (!(await deps.queues.get(e.tenantId, e.queueId)).system) logged.push(e);
  return { items, events, rows: await eventRows(deps, logged, at) };
}

/** Repeatable events get a fresh id each time they happen; the rest one per message. */
export function eventRows(deps: Pick<Deps, "queues">, events: MessageEvent[], at: Date): Promise<Message[]> {
  return Promise.all(
    events.map(async (e) => {
      const log = await deps.queues.systemQueue(e.scopeId, EVENTS_QUEUE);
      const body: LoggedEvent = {
        eventId: e.eventId,
        type: e.type,
        messageId: e.messageId,
        queueId: e.queueId,
        state: e.state,
        attempts: e.message.attempts,
        failureReason: e.failureReason,
        occurredAt: e.occurredAt.toISOString(),
      };
      return newMessage({
        id: uuidv7(at.getTime()),
        tenantId: e.tenantId,
        scopeId: e.scopeId,
        queueId: log.id,
        messageType: e.type,
        contentType: EVENT_CONTENT_TYPE,
        body,
        correlationId: e.correlationId,
        causationId: e.messageId,
        parentId: e.messageId,
        createdAt: at,
      });
    }),
  );
}

/**
 * trace: the events of one correlation chain in a scope, in the order they happened,
 * read back from the scope's `_events` queue. Each event's `message` is the message as
 * it is now (the log keeps only ids and states, so erasing a body erases it everywhere).
 */
export async function trace(deps: Pick<Deps, "db" | "queues" | "stagedEvents">, actor: Actor, scopeId: string, correlationId: string): Promise<MessageEvent[]> {
  if (!correlationId || correlationId.length > 128) throw new ValidationError([{ field: "correlationId", message: "must be 1 to 128 characters" }]);
  const scope = isUuid(scopeId) ? await deps.db.scope.findFirst({ where: { id: scopeId, tenantId: actor.tenantId }, select: { id: true } }) : null;
  if (!scope) throw new ScopeNotFoundError();
  const log = await deps.queues.systemQueue(scope.id, EVENTS_QUEUE);
  await deps.stagedEvents.materialize([log.id]);
  const rows = await deps.db.message.findMany({
    where: { tenantId: actor.tenantId, correlationId, queueId: log.id },
    orderBy: { id: "asc" },
    take: 10_000,
  });
  const logged = rows.map((r) => r.body as LoggedEvent);
  const messages = new Map(
    (await deps.db.message.findMany({ where: { id: { in: [...new Set(logged.map((e) => e.messageId))] }, tenantId: actor.tenantId } })).map((m) => [m.id, m]),
  );
  return logged.flatMap((e): MessageEvent[] => {
    const message = messages.get(e.messageId);
    if (!message) return [];
    return [
      {
        eventId: e.eventId,
        type: e.type,
        messageId: e.messageId,
        queueId: e.queueId,
        scopeId: scope.id,
        tenantId: actor.tenantId,
        correlationId,
        state: e.state,
        response: e.type === EventType.completed ? message.response : null,
        failureReason: e.failureReason,
        occurredAt: new Date(e.occurredAt),
        message,
      },
    ];
  });
}
