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

/** Events of different types in the order they happened (trace shows them so). */
export async function emitInOrder(deps: Deps, items: { message: Message; type: EventTypeName }[], at: Date): Promise<void> {
  if (!items.length) return;
  const events = items.map((i) => messageEvent(i.type, i.message, at));
  await broadcast(deps, events);
  const logged: MessageEvent[] = [];
  for (const e of events) if (!(await deps.queues.get(e.tenantId, e.queueId)).system) logged.push(e);
  await deps.journal.append({ events: await eventRows(deps, logged, at) });
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
  for (const e of events) byTenant.set(e.tenantId, [...(byTenant.get(e.tenantId) ?? []), e]);
  await Promise.all([...byTenant].map(([tenantId, es]) => bestEffort(deps, () => deps.bus.publish(tenantId, es))));
}
