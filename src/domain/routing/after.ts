import type { Db } from "../../db/client.js";
import type { Message, RoutingTrigger } from "../../generated/prisma/client.js";
import type { Deps } from "../deps.js";
import { emit } from "../emit.js";
import { EventType, type EventTypeName } from "../message-events.js";
import { insertRows, MESSAGE_BY_ID } from "../message-rows.js";
import { orderScore } from "../ordering.js";
import { enqueueMessages } from "../pending.js";
import { commitPublish } from "../publish.js";
import { bestEffort } from "../redis-fallback.js";
import { routingFailed, step } from "./route.js";

/** The events that are routing triggers besides MESSAGE_PUBLISHED (which routes inside publish). */
export const TRIGGER_OF: Partial<Record<EventTypeName, RoutingTrigger>> = {
  [EventType.completed]: "MESSAGE_COMPLETED",
  [EventType.failed]: "MESSAGE_FAILED",
  [EventType.deadLettered]: "MESSAGE_DEAD_LETTERED",
};

/**
 * Routing after a completion, a failure (the message is pending again, backing off) or
 * a dead letter. The operation has committed, so routing must not fail it: a refusal
 * becomes an `_integrity` record and anything else is logged.
 */
export async function routeAfter(deps: Deps, messages: Message[], trigger: RoutingTrigger, at: Date): Promise<void> {
  for (const m of messages) {
    try {
      await routeOne(deps, m, trigger, at);
    } catch (err) {
      const record = await routingFailed(deps, m, err, at);
      if (record) await writeRecord(deps, record);
      else deps.log.error({ err, messageId: m.id, trigger }, "routing after an event failed");
    }
  }
}

async function routeOne(deps: Deps, m: Message, trigger: RoutingTrigger, at: Date): Promise<void> {
  const q = await deps.queues.get(m.tenantId, m.queueId);
  // a BROADCAST message fails and dead-letters per consumer group; only its completion is its own
  if (q.consumerMode === "BROADCAST" && trigger !== "MESSAGE_COMPLETED") return;
  const now = at.getTime();
  const s = await step(deps, m, trigger, now);
  const keys = deps.scripts.keys.queue(q.scopeId, q.id);
  // every change is conditional on the state the event left, so a claim that came in between wins
  const archive = async (db: Db) =>
    (await db.$executeRawUnsafe(`UPDATE ${MESSAGE_BY_ID} SET state = 'ARCHIVED', finishedAt = ?, claimExpiresAt = NULL WHERE id = ? AND state = ?`, at, m.id, m.state)) === 1;
  const leaveRedis = () => (m.state === "PENDING" ? bestEffort(deps, () => deps.scripts.remove(keys, [m.id])) : undefined);

  switch (s.kind) {
    case "none":
      return;
    case "refused":
      return writeRecord(deps, s.record);
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
        await bestEffort(deps, () => deps.scripts.requeue(keys, now, [{ id: m.id, score: orderScore(q.ordering, c), visibleAt: c.visibleAt?.getTime() ?? 0 }]));
      }
      return;
    }
    case "archive":
      if (await archive(deps.db)) {
        await leaveRedis();
        await emit(deps, [s.message], EventType.routed, at);
      }
      return;
    case "hop": {
      const written = await commitPublish(deps, [s.child], s.source ? { before: archive } : {});
      if (s.source && written.length) {
        await leaveRedis();
        await emit(deps, [s.source], EventType.routed, at);
      }
    }
  }
}

async function writeRecord(deps: Deps, record: Message): Promise<void> {
  await insertRows(deps.sql, [record]);
  await enqueueMessages(deps, [record]);
}
