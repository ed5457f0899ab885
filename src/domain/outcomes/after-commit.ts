import type { Message, RoutingTrigger } from "../../generated/prisma/client.js";
import type { Tx } from "../../db/client.js";
import type { QueueInfo } from "../../db/queue-directory.js";
import { insertRows, MESSAGE_BY_ID } from "../../db/message-rows.js";
import { EventType, messageEvent, type EventTypeName, type MessageEvent } from "../../events/message-event.js";
import { bestEffort } from "../../redis/fallback.js";
import type { Deps } from "../deps.js";
import { enqueueMessages } from "../intake/enqueue.js";
import { orderScore } from "../intake/ordering.js";
import { writeMessages } from "../intake/write.js";
import { MAX_HOPS, routingFailed, step, type Step } from "../routing/route.js";
import { happenedTo, prepareEvents, type Happened, type PreparedEvents } from "./event-log.js";

/** The events that are routing triggers besides MESSAGE_PUBLISHED (which routes inside the write, intake/write.ts). */
const TRIGGER_OF: Partial<Record<EventTypeName, RoutingTrigger>> = {
  [EventType.completed]: "MESSAGE_COMPLETED",
  [EventType.failed]: "MESSAGE_FAILED",
  [EventType.deadLettered]: "MESSAGE_DEAD_LETTERED",
};

/**
 * Everything that follows a committed change, as one loop: record the events it caused
 * (their `_events` rows; never for messages of system queues, which would recurse) and
 * announce them (pub/sub to the waiters of every process); ask routing what each
 * trigger among them calls for, write that, and go round again with the events those
 * writes caused. Each round is one routing hop further down a chain, so routing's
 * circuit breaker (MAX_HOPS) ends the loop; the bound here only guards against a bug.
 * `recorded`: the first round's events, when the write carried their rows itself.
 */
export async function afterCommit(deps: Deps, happened: Happened[], at: Date, recorded?: PreparedEvents): Promise<void> {
  let round = happened;
  for (let hop = 0; round.length; hop++) {
    if (hop > MAX_HOPS + 1) {
      deps.log.error({ messageIds: round.map((h) => h.message.id) }, "routing went past its hop limit; the rest is not routed");
      return;
    }
    const prepared = hop === 0 && recorded ? recorded : await prepareEvents(deps, round, at);
    if (prepared !== recorded) deps.journal.stage(prepared.rows);
    deps.journal.track(announce(deps, prepared.events));
    round = await routeTriggers(deps, round, at);
  }
}

/** Pub/sub alone, per tenant channel; lost while Redis is down (the completion relay resends completions). */
export async function announceEvents(deps: Pick<Deps, "bus" | "scripts">, messages: Message[], type: EventTypeName, at: Date): Promise<void> {
  await announce(deps, messages.map((m) => messageEvent(type, m, at)));
}

async function announce(deps: Pick<Deps, "bus" | "scripts">, events: MessageEvent[]): Promise<void> {
  const byTenant = new Map<string, MessageEvent[]>();
  for (const e of events) {
    const of = byTenant.get(e.tenantId);
    if (of) of.push(e);
    else byTenant.set(e.tenantId, [e]);
  }
  await Promise.all([...byTenant].map(([tenantId, es]) => bestEffort(deps, () => deps.bus.publish(tenantId, es))));
}

/**
 * Routing after a completion, a failure (the message is pending again, backing off) or
 * a dead letter; returns the events its writes caused. The change that triggered it has
 * committed, so routing must not fail it: a refusal becomes an `_integrity` record and
 * anything else is logged.
 */
async function routeTriggers(deps: Deps, happened: Happened[], at: Date): Promise<Happened[]> {
  const caused: Happened[] = [];
  for (const { message: m, type } of happened) {
    const trigger = TRIGGER_OF[type];
    if (!trigger) continue;
    try {
      const q = await deps.queues.get(m.tenantId, m.queueId);
      // a BROADCAST message fails and dead-letters per consumer group; only its completion is its own
      if (q.consumerMode === "BROADCAST" && trigger !== "MESSAGE_COMPLETED") continue;
      caused.push(...(await carryOut(deps, q, m, await step(deps, m, trigger, at.getTime()), at)));
    } catch (err) {
      const record = await routingFailed(deps, m, err, at);
      if (record) await writeRecord(deps, record);
      else deps.log.error({ err, messageId: m.id, trigger }, "routing after an event failed");
    }
  }
  return caused;
}

/** Writes what routing decided for one message; every change is conditional on the state the event left, so a claim that came in between wins. */
async function carryOut(deps: Deps, q: QueueInfo, m: Message, s: Step, at: Date): Promise<Happened[]> {
  const keys = deps.scripts.keys.queue(q.scopeId, q.id);
  const archive = async (db: Tx) =>
    (await db.$executeRawUnsafe(`UPDATE ${MESSAGE_BY_ID} SET state = 'ARCHIVED', finishedAt = ?, claimExpiresAt = NULL WHERE id = ? AND state = ?`, at, m.id, m.state)) === 1;
  const leaveRedis = () => (m.state === "PENDING" ? bestEffort(deps, () => deps.scripts.remove(keys, [m.id])) : undefined);

  switch (s.kind) {
    case "none":
      return [];
    case "refused":
      await writeRecord(deps, s.record);
      return [];
    case "change": {
      const c = s.message;
      const n = await deps.db.$executeRawUnsafe(
        `UPDATE ${MESSAGE_BY_ID} SET labels = ?, priorityTier = ?, body = ? WHERE id = ? AND state = ?`,
        JSON.stringify(c.labels),
        c.priorityTier,
        JSON.stringify(c.body),
        m.id,
        m.state,
      );
      if (n === 1 && m.state === "PENDING") {
        // a new tier is a new place in a PRIORITY queue
        const item = { id: m.id, score: orderScore(q.ordering, c), visibleAt: c.visibleAt?.getTime() ?? 0 };
        await bestEffort(deps, () => deps.scripts.requeue(keys, at.getTime(), [item]));
      }
      return [];
    }
    case "archive":
      if (!(await archive(deps.db))) return [];
      await leaveRedis();
      return happenedTo([s.message], EventType.routed);
    case "hop": {
      const written = await writeMessages(deps, [s.child], s.source ? { before: archive } : {});
      if (!s.source || !written.results.length) return written.happened;
      await leaveRedis();
      return [...written.happened, ...happenedTo([s.source], EventType.routed)];
    }
  }
}

async function writeRecord(deps: Deps, record: Message): Promise<void> {
  await insertRows(deps.sql, [record]);
  await enqueueMessages(deps, [record]);
}
