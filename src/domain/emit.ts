import type { Message } from "../generated/prisma/client.js";
import type { Deps } from "./deps.js";
import { eventRows } from "./event-log.js";
import { messageEvent, type EventTypeName, type MessageEvent } from "./message-events.js";
import { bestEffort } from "./redis-fallback.js";
import { routeAfter, TRIGGER_OF } from "./routing/after.js";

/**
 * Everything that follows a message event, once its change has committed: pub/sub to
 * the waiters of every process, the event's copy in the scope's `_events` queue (never
 * for messages of system queues, which would recurse), and the routing rules whose
 * trigger it is.
 */
export async function emit(deps: Deps, messages: Message[], type: EventTypeName, at: Date): Promise<void> {
  await emitInOrder(deps, messages.map((message) => ({ message, type })), at);
}

type EventItem = { message: Message; type: EventTypeName };
/** Events ready to announce, with their `_events` rows (none for messages of system queues). */
export type PreparedEvents = { items: EventItem[]; events: MessageEvent[]; rows: Message[] };

/** Events of different types in the order they happened (trace shows them so). */
export async function emitInOrder(deps: Deps, items: EventItem[], at: Date): Promise<void> {
  if (!items.length) return;
  const prepared = await prepareEvents(deps, items, at);
  deps.journal.stage(prepared.rows);
  deps.journal.track(broadcast(deps, prepared.events));
  await routeAfterEvents(deps, items, at);
}

/**
 * Builds the events and their `_events` rows before the change is written, so the rows
 * can go in its own statement (publish does: its published events are then as durable
 * as the messages, and cost no INSERT of their own); `announce` follows the write.
 */
export async function prepareEvents(deps: Deps, items: EventItem[], at: Date): Promise<PreparedEvents> {
  const events = items.map((i) => messageEvent(i.type, i.message, at));
  const logged: MessageEvent[] = [];
  for (const e of events) if (!(await deps.queues.get(e.tenantId, e.queueId)).system) logged.push(e);
  return { items, events, rows: await eventRows(deps, logged, at) };
}

/** What follows prepared events whose rows were written with their change: pub/sub and routing. */
export async function announce(deps: Deps, prepared: PreparedEvents, at: Date): Promise<void> {
  deps.journal.track(broadcast(deps, prepared.events));
  await routeAfterEvents(deps, prepared.items, at);
}

async function routeAfterEvents(deps: Deps, items: EventItem[], at: Date): Promise<void> {
  for (const [type, trigger] of Object.entries(TRIGGER_OF)) {
    const triggered = items.filter((i) => i.type === type).map((i) => i.message);
    if (triggered.length) await routeAfter(deps, triggered, trigger, at);
  }
}

/** Pub/sub alone, per tenant channel; lost while Redis is down (the relay resends completions). */
export async function broadcastEvents(deps: Pick<Deps, "bus" | "scripts">, messages: Message[], type: EventTypeName, at: Date): Promise<void> {
  await broadcast(deps, messages.map((m) => messageEvent(type, m, at)));
}

async function broadcast(deps: Pick<Deps, "bus" | "scripts">, events: MessageEvent[]): Promise<void> {
  const byTenant = new Map<string, MessageEvent[]>();
  for (const e of events) {
    const of = byTenant.get(e.tenantId);
    if (of) of.push(e);
    else byTenant.set(e.tenantId, [e]);
  }
  await Promise.all([...byTenant].map(([tenantId, es]) => bestEffort(deps, () => deps.bus.publish(tenantId, es))));
}
