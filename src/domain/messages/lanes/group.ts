import type { Delivery, Message } from "../../../generated/prisma/client.js";
import type { Db, Tx } from "../../../db/client.js";
import { insertRows, MESSAGE_BY_ID } from "../../../db/message-rows.js";
import type { QueueInfo } from "../../../db/queue-directory.js";
import { marks, sqlOf } from "../../../db/sql.js";
import { EventType } from "../../../events/message-event.js";
import { InvalidStateError, MessageNotFoundError, NotClaimOwnerError } from "../../../errors.js";
import { newToken } from "../../../ids.js";
import type { Actor } from "../../actor.js";
import type { Deps } from "../../deps.js";
import { happenedTo, type Happened } from "../../outcomes/event-log.js";
import { type ClaimSpec, type Ending, type Held, type Lane, type LaneChange, type Popped, type When } from "./lane.js";
import { sqlOrder } from "../../intake/ordering.js";

type Group = { id: string; name: string };

/**
 * One consumer group of a BROADCAST queue: its deliveries are the lane's rows (one per
 * message published while it had joined, intake/fan-out.ts), with their own claims,
 * attempts and outcomes, and its own Redis structures (keys.queue(scope, queue, group)).
 * A message ends as a whole when its last group is done with it.
 */
export function groupLane(deps: Deps, queue: QueueInfo, group: Group): Lane {
  return {
    queue,
    group,
    keys: deps.scripts.keys.queue(queue.scopeId, queue.id, group.id),
    recordClaims: (popped, c) => recordClaims(deps.db, group.id, popped, c),
    claimFromMariaDb: (c) => claimFromMariaDb(deps, queue, group.id, c),
    async end(held, e, when, at) {
      const change: LaneChange = { ended: [], happened: [], finished: [] };
      // one delivery at a time: each locks its message, so groups finishing together agree on who ends it
      for (const h of held) {
        const r = await endDelivery(deps.db, group.id, h, e, when, at);
        if (!r) continue;
        change.ended.push(r.ended);
        if (e.to !== "COMPLETED") change.happened.push(...happenedTo([r.ended.message], e.to === "PENDING" ? e.event : EventType.deadLettered));
        change.finished.push(...r.finished);
      }
      return change;
    },
    async extend(h, expiresAt, now) {
      const changed = await deps.db.$executeRawUnsafe(
        `UPDATE deliveries SET claimExpiresAt = ? WHERE ${HELD} AND claimExpiresAt > ?`,
        expiresAt,
        ...heldParams(group.id, h),
        new Date(now),
      );
      return changed === 1;
    },
    occupancy: () => deps.db.delivery.count({ where: { groupId: group.id, state: { in: ["PENDING", "CLAIMED"] } } }),
    async abandon(db, ids, at) {
      if (!ids.length) return;
      await db.$executeRawUnsafe(
        `UPDATE deliveries SET state = 'EXPIRED', finishedAt = ?, claimExpiresAt = NULL
         WHERE groupId = ? AND messageId IN (${marks(ids)}) AND state IN ('PENDING', 'CLAIMED')`,
        at,
        group.id,
        ...ids,
      );
    },
  };
}

/** The groups of a BROADCAST queue as lanes. */
export async function groupLanes(deps: Deps, queue: QueueInfo): Promise<Lane[]> {
  const groups = await deps.db.consumerGroup.findMany({ where: { queueId: queue.id }, select: { id: true, name: true } });
  return groups.map((g) => groupLane(deps, queue, g));
}

/**
 * The caller's live claims on deliveries: by token, or without one the single delivery
 * of the message this API key holds. Checks as heldClaims does for COMPETING queues.
 */
export async function heldInGroups(
  deps: Deps,
  actor: Actor,
  items: { messageId: string; claimToken?: string | null }[],
  messages: Map<string, Message>,
  now: number,
): Promise<{ lane: Lane; held: Held }[]> {
  const deliveries = await deps.db.delivery.findMany({
    where: { messageId: { in: items.map((i) => i.messageId) }, tenantId: actor.tenantId },
    include: { group: { select: { id: true, name: true } } },
  });
  const out: { lane: Lane; held: Held }[] = [];
  for (const item of items) {
    const message = messages.get(item.messageId);
    if (!message) throw new MessageNotFoundError();
    const mine = deliveries.filter(
      (d) => d.messageId === item.messageId && (item.claimToken ? d.claimToken === item.claimToken : d.claimKeyId === actor.keyId && d.state === "CLAIMED"),
    );
    if (mine.length !== 1) throw new NotClaimOwnerError();
    const d = mine[0]!;
    if (d.state !== "CLAIMED") throw new InvalidStateError(`this group's delivery is ${d.state}, not CLAIMED`);
    if (!d.claimExpiresAt || d.claimExpiresAt.getTime() <= now) throw new NotClaimOwnerError();
    if (message.expiresAt && message.expiresAt.getTime() <= now) throw new InvalidStateError(`the message expired at ${message.expiresAt.toISOString()}`);
    const q = await deps.queues.get(message.tenantId, message.queueId);
    out.push({ lane: groupLane(deps, q, d.group), held: { message: asSeenBy(message, d), token: d.claimToken! } });
  }
  return out;
}

/** Lapsed delivery claims, for the visibility enforcer. */
export async function lapsedInGroups(deps: Deps, now: number, take: number): Promise<{ lane: Lane; held: Held }[]> {
  const ds = await deps.db.delivery.findMany({
    where: { state: "CLAIMED", claimExpiresAt: { lte: new Date(now) } },
    include: { group: { select: { id: true, name: true } } },
    orderBy: { claimExpiresAt: "asc" },
    take,
  });
  const ms = new Map((await deps.db.message.findMany({ where: { id: { in: ds.map((d) => d.messageId) } } })).map((m) => [m.id, m]));
  const out: { lane: Lane; held: Held }[] = [];
  for (const d of ds) {
    const m = ms.get(d.messageId);
    if (m) out.push({ lane: groupLane(deps, await deps.queues.get(m.tenantId, m.queueId), d.group), held: { message: asSeenBy(m, d), token: d.claimToken! } });
  }
  return out;
}

/** The message as one group sees it: the delivery's state, attempts, claim and outcome. */
export function asSeenBy(m: Message, d: Delivery): Message {
  return {
    ...m,
    state: d.state,
    attempts: d.attempts,
    claimToken: d.claimToken,
    claimedBy: d.claimedBy,
    claimKeyId: d.claimKeyId,
    claimExpiresAt: d.claimExpiresAt,
    claimedAt: d.claimedAt,
    visibleAt: d.visibleAt,
    completedAt: d.completedAt,
    finishedAt: d.finishedAt,
    failureReason: d.failureReason,
    response: d.response,
  };
}

/** One UPDATE records the group's claims (only on deliveries still PENDING); returns those, in order. */
async function recordClaims(db: Db, groupId: string, got: Popped[], c: ClaimSpec): Promise<Message[]> {
  const at = new Date(c.now);
  const ids = got.map((g) => g.id);
  await db.$executeRawUnsafe(
    `UPDATE deliveries SET state = 'CLAIMED', attempts = attempts + 1,
       claimToken = CASE messageId ${ids.map(() => "WHEN ? THEN ?").join(" ")} END,
       claimedBy = ?, claimKeyId = ?, claimedAt = ?, claimExpiresAt = ?
     WHERE groupId = ? AND messageId IN (${marks(ids)}) AND state = 'PENDING'`,
    ...got.flatMap((g) => [g.id, g.token]),
    c.claimedBy,
    c.keyId,
    at,
    new Date(c.now + c.visibilityMs),
    groupId,
    ...ids,
  );
  const [messages, deliveries] = await Promise.all([
    db.message.findMany({ where: { id: { in: ids } } }),
    db.delivery.findMany({ where: { groupId, messageId: { in: ids } } }),
  ]);
  const m = new Map(messages.map((x) => [x.id, x]));
  const d = new Map(deliveries.map((x) => [x.messageId, x]));
  return got.flatMap((g) => {
    const dv = d.get(g.id);
    return dv && dv.state === "CLAIMED" && dv.claimToken === g.token && m.has(g.id) ? [asSeenBy(m.get(g.id)!, dv)] : [];
  });
}

/**
 * A group's claim while Redis is down: candidates read from MariaDB in the queue's
 * order, then taken by the same conditional UPDATE as the Redis path, which makes
 * concurrent claimers take different ones (a loser just gets fewer).
 */
async function claimFromMariaDb(deps: Deps, q: QueueInfo, groupId: string, c: ClaimSpec): Promise<Message[]> {
  const at = new Date(c.now);
  const candidates = await deps.db.$queryRawUnsafe<{ messageId: string }[]>(
    `SELECT d.messageId FROM deliveries d JOIN messages m ON m.id = d.messageId
     WHERE d.groupId = ? AND d.state = 'PENDING' AND (d.visibleAt IS NULL OR d.visibleAt <= ?) AND (m.expiresAt IS NULL OR m.expiresAt > ?)
     ORDER BY ${sqlOrder(q.ordering, "m.")} LIMIT ?`,
    groupId,
    at,
    at,
    c.n,
  );
  if (!candidates.length) return [];
  return recordClaims(deps.db, groupId, candidates.map((x) => ({ id: x.messageId, token: newToken() })), c);
}

const HELD = `messageId = ? AND groupId = ? AND state = 'CLAIMED' AND claimToken = ?`;
const heldParams = (groupId: string, h: Held) => [h.message.id, groupId, h.token];

/** What ending one delivery sets, and how the group then sees the message. */
function deliveryChange(h: Held, e: Ending, at: Date): { sql: string; params: unknown[]; seen: Message } {
  switch (e.to) {
    case "COMPLETED": {
      const response = e.response(h);
      return {
        sql: `state = 'COMPLETED', completedAt = ?, finishedAt = ?, claimExpiresAt = NULL, response = ?`,
        params: [at, at, response === null ? null : JSON.stringify(response)],
        seen: { ...h.message, state: "COMPLETED", completedAt: at, finishedAt: at, claimExpiresAt: null, response: response as Message["response"] },
      };
    }
    case "PENDING": {
      const visibleAt = new Date(e.visibleAt(h));
      return {
        sql: `state = 'PENDING', claimExpiresAt = NULL, attempts = attempts + ?, visibleAt = ?, failureReason = COALESCE(?, failureReason)`,
        params: [e.attemptsDelta, visibleAt, e.failureReason],
        seen: {
          ...h.message,
          state: "PENDING",
          claimExpiresAt: null,
          attempts: h.message.attempts + e.attemptsDelta,
          visibleAt,
          failureReason: e.failureReason ?? h.message.failureReason,
        },
      };
    }
    case "DEAD_LETTERED": {
      const reason = e.reason(h);
      return {
        sql: `state = 'DEAD_LETTERED', finishedAt = ?, claimExpiresAt = NULL, failureReason = ?`,
        params: [at, reason],
        seen: { ...h.message, state: "DEAD_LETTERED", finishedAt: at, claimExpiresAt: null, failureReason: reason },
      };
    }
  }
}

/** Ends one delivery in a transaction that first locks its message row, then ends the message if it was the last open one (finishIfDone). */
async function endDelivery(db: Db, groupId: string, h: Held, e: Ending, when: When, at: Date): Promise<{ ended: Held; finished: Happened[] } | null> {
  const change = deliveryChange(h, e, at);
  return db.$transaction(async (tx) => {
    await tx.$queryRawUnsafe(`SELECT id FROM messages WHERE id = ? FOR UPDATE`, h.message.id);
    const changed = await tx.$executeRawUnsafe(
      `UPDATE deliveries SET ${change.sql} WHERE ${HELD} AND claimExpiresAt ${when === "live" ? ">" : "<="} ?`,
      ...change.params,
      ...heldParams(groupId, h),
      at,
    );
    if (changed !== 1) return null;
    if (e.to === "DEAD_LETTERED") await insertRows(sqlOf(tx), [e.copies.get(h.message.id)!]);
    return { ended: { message: change.seen, token: h.token }, finished: await finishIfDone(tx, h.message.id, at) };
  });
}

/**
 * Ends a BROADCAST message as a whole once no group has it pending or claimed any more:
 * COMPLETED (response = each group's response by group name) if every group completed
 * it, else DEAD_LETTERED. Runs in the transaction that changed a delivery, after locking the message row,
 * so two groups finishing at once agree on who ends it. Its waiters hear its completion
 * once, here; a dead letter they heard from the group.
 */
async function finishIfDone(tx: Tx, messageId: string, at: Date): Promise<Happened[]> {
  const all = await tx.delivery.findMany({ where: { messageId }, include: { group: { select: { name: true } } } });
  if (all.some((d) => d.state === "PENDING" || d.state === "CLAIMED")) return [];
  const state = all.every((d) => d.state === "COMPLETED") ? "COMPLETED" : "DEAD_LETTERED";
  const response = state === "COMPLETED" ? Object.fromEntries(all.map((d) => [d.group.name, d.response])) : null;
  const reason = state === "COMPLETED" ? null : `dead-lettered by consumer group ${all.filter((d) => d.state === "DEAD_LETTERED").map((d) => d.group.name).join(", ")}`;
  await tx.$executeRawUnsafe(
    `UPDATE ${MESSAGE_BY_ID} SET state = ?, completedAt = ?, finishedAt = ?, response = ?, failureReason = COALESCE(?, failureReason) WHERE id = ?`,
    state,
    state === "COMPLETED" ? at : null,
    at,
    response === null ? null : JSON.stringify(response),
    reason,
    messageId,
  );
  if (state !== "COMPLETED") return [];
  const message = await tx.message.findUniqueOrThrow({ where: { id: messageId } });
  return happenedTo([message], EventType.completed);
}
