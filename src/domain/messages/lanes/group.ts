import type { Db } from "../../../db/client.js";
import { marks, sqlOf } from "../../../db/sql.js";
import type { Delivery, Message } from "../../../generated/prisma/client.js";
import { newToken } from "../../../ids.js";
import { InvalidStateError, MessageNotFoundError, NotClaimOwnerError } from "../../../errors.js";
import type { Actor } from "../../actor.js";
import type { Deps } from "../../deps.js";
import { asSeenBy } from "../../intake/fan-out.js";
import { EventType, type EventTypeName } from "../../../events/message-event.js";
import { insertRows, MESSAGE_BY_ID } from "../../../db/message-rows.js";
import { orderScore } from "../../intake/ordering.js";
import { enqueueMessages } from "../../intake/enqueue.js";
import type { QueueInfo } from "../../../db/queue-directory.js";
import { bestEffort } from "../../../redis/fallback.js";
import { afterCommit } from "../../outcomes/after-commit.js";
import { happenedTo } from "../../outcomes/event-log.js";
import { DEAD_LETTER_QUEUE } from "../../../db/queue-directory.js";
import { deadLetterCopy } from "../../intake/records.js";

/** A BROADCAST message's delivery to one group, held by the caller. */
export type HeldDelivery = { message: Message; delivery: Delivery; token: string };

export type GroupClaim = { n: number; now: number; visibilityMs: number; claimedBy: string; keyId: string };

const groupKeys = (deps: Pick<Deps, "scripts">, d: Pick<Delivery, "queueId" | "groupId">, scopeId: string) =>
  deps.scripts.keys.queue(scopeId, d.queueId, d.groupId);

/** claim on a BROADCAST queue: the group's own pending set, the group's delivery rows. */
export async function claimForGroup(deps: Deps, q: QueueInfo, groupId: string, c: GroupClaim): Promise<Message[]> {
  const keys = deps.scripts.keys.queue(q.scopeId, q.id, groupId);
  const got = await deps.scripts.claim(keys, { now: c.now, visibilityMs: c.visibilityMs, tokens: Array.from({ length: c.n }, newToken) });
  if (!got.length) return [];
  const claimed = await recordGroupClaims(deps.db, groupId, got, c);
  const ok = new Set(claimed.map((x) => x.id));
  const stale = got.filter((g) => !ok.has(g.id));
  if (stale.length) await deps.scripts.settle(keys, c.now, stale);
  return claimed;
}

const SQL_ORDER: Record<QueueInfo["ordering"], string> = {
  FIFO: "m.id",
  PRIORITY: "FIELD(m.priorityTier, 'CRITICAL', 'HIGH', 'NORMAL', 'LOW', 'BACKGROUND'), m.priorityScore DESC, m.id",
  DEADLINE: "m.deadline IS NULL, m.deadline, m.id",
};

/**
 * A group's claim while Redis is down: candidates read from MariaDB in the queue's
 * order, then taken by the same conditional UPDATE as the Redis path, which makes
 * concurrent claimers take different ones (a loser just gets fewer).
 */
export async function claimForGroupFromMariaDb(deps: Deps, q: QueueInfo, groupId: string, c: GroupClaim): Promise<Message[]> {
  const at = new Date(c.now);
  const candidates = await deps.db.$queryRawUnsafe<{ messageId: string }[]>(
    `SELECT d.messageId FROM deliveries d JOIN messages m ON m.id = d.messageId
     WHERE d.groupId = ? AND d.state = 'PENDING' AND (d.visibleAt IS NULL OR d.visibleAt <= ?) AND (m.expiresAt IS NULL OR m.expiresAt > ?)
     ORDER BY ${SQL_ORDER[q.ordering]} LIMIT ?`,
    groupId,
    at,
    at,
    c.n,
  );
  if (!candidates.length) return [];
  return recordGroupClaims(deps.db, groupId, candidates.map((x) => ({ id: x.messageId, token: newToken() })), c);
}

/** One UPDATE records the group's claims (only on deliveries still PENDING); returns those, in order. */
async function recordGroupClaims(db: Db, groupId: string, got: { id: string; token: string }[], c: GroupClaim): Promise<Message[]> {
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
 * The caller's live claims on deliveries: by token, or without one the single delivery
 * of the message this API key holds. Checks as loadHeldClaims does for COMPETING queues.
 */
export async function loadHeldDeliveries(
  deps: Pick<Deps, "db" | "clock">,
  actor: Actor,
  items: { messageId: string; claimToken?: string | null }[],
  messages: Map<string, Message>,
): Promise<HeldDelivery[]> {
  const ids = items.map((i) => i.messageId);
  const deliveries = await deps.db.delivery.findMany({ where: { messageId: { in: ids }, tenantId: actor.tenantId } });
  const now = deps.clock();
  return items.map((item) => {
    const message = messages.get(item.messageId);
    if (!message) throw new MessageNotFoundError();
    const mine = deliveries.filter(
      (d) => d.messageId === item.messageId && (item.claimToken ? d.claimToken === item.claimToken : d.claimKeyId === actor.keyId && d.state === "CLAIMED"),
    );
    if (mine.length !== 1) throw new NotClaimOwnerError();
    const delivery = mine[0]!;
    if (delivery.state !== "CLAIMED") throw new InvalidStateError(`this group's delivery is ${delivery.state}, not CLAIMED`);
    if (!delivery.claimExpiresAt || delivery.claimExpiresAt.getTime() <= now) throw new NotClaimOwnerError();
    if (message.expiresAt && message.expiresAt.getTime() <= now) throw new InvalidStateError(`the message expired at ${message.expiresAt.toISOString()}`);
    return { message, delivery, token: delivery.claimToken! };
  });
}

const HELD = `messageId = ? AND groupId = ? AND state = 'CLAIMED' AND claimToken = ?`;
const held = (h: HeldDelivery) => [h.delivery.messageId, h.delivery.groupId, h.token];

/**
 * Changes one delivery in a transaction that first locks its message row, then, when no
 * group has it pending or claimed any more, ends the message: COMPLETED (response =
 * each group's response by group name) if every group completed it, else DEAD_LETTERED.
 * The lock makes two groups finishing at once agree on who ends the message.
 */
async function changeDelivery(
  deps: Deps,
  h: HeldDelivery,
  when: "live" | "lapsed",
  at: Date,
  set: { sql: string; params: unknown[] },
  extra?: (tx: Db) => Promise<void>,
): Promise<{ changed: boolean; ended: Message | null }> {
  return deps.db.$transaction(async (txClient) => {
    const tx = txClient as unknown as Db;
    await tx.$queryRawUnsafe(`SELECT id FROM messages WHERE id = ? FOR UPDATE`, h.message.id);
    const changed =
      (await tx.$executeRawUnsafe(
        `UPDATE deliveries SET ${set.sql} WHERE ${HELD} AND claimExpiresAt ${when === "live" ? ">" : "<="} ?`,
        ...set.params,
        ...held(h),
        at,
      )) === 1;
    if (!changed) return { changed, ended: null };
    if (extra) await extra(tx);
    const all = await tx.delivery.findMany({ where: { messageId: h.message.id }, include: { group: { select: { name: true } } } });
    if (all.some((d) => d.state === "PENDING" || d.state === "CLAIMED")) return { changed, ended: null };
    const completed = all.every((d) => d.state === "COMPLETED");
    const response = completed ? Object.fromEntries(all.map((d) => [d.group.name, d.response])) : null;
    const reason = completed ? null : `dead-lettered by consumer group ${all.filter((d) => d.state === "DEAD_LETTERED").map((d) => d.group.name).join(", ")}`;
    await tx.$executeRawUnsafe(
      `UPDATE ${MESSAGE_BY_ID} SET state = ?, completedAt = ?, finishedAt = ?, response = ?, failureReason = COALESCE(?, failureReason) WHERE id = ?`,
      completed ? "COMPLETED" : "DEAD_LETTERED",
      completed ? at : null,
      at,
      response === null ? null : JSON.stringify(response),
      reason,
      h.message.id,
    );
    const ended: Message = {
      ...h.message,
      state: completed ? "COMPLETED" : "DEAD_LETTERED",
      completedAt: completed ? at : null,
      finishedAt: at,
      response: response as Message["response"],
      failureReason: reason ?? h.message.failureReason,
    };
    return { changed, ended };
  });
}

async function afterEnd(deps: Deps, ended: Message | null, at: Date): Promise<void> {
  if (ended?.state === "COMPLETED") await afterCommit(deps, happenedTo([ended], EventType.completed), at);
}

export async function completeDelivery(deps: Deps, h: HeldDelivery, response: unknown, now: number): Promise<Message> {
  const at = new Date(now);
  const r = await changeDelivery(deps, h, "live", at, {
    sql: `state = 'COMPLETED', completedAt = ?, finishedAt = ?, claimExpiresAt = NULL, response = ?`,
    params: [at, at, response === null ? null : JSON.stringify(response)],
  });
  if (!r.changed) throw new NotClaimOwnerError();
  await bestEffort(deps, () => deps.scripts.settle(groupKeys(deps, h.delivery, h.message.scopeId), now, [{ id: h.message.id, token: h.token }]));
  await afterEnd(deps, r.ended, at);
  return asSeenBy(h.message, { ...h.delivery, state: "COMPLETED", completedAt: at, finishedAt: at, claimExpiresAt: null, response: response as Delivery["response"] });
}

/** Pending again in its group (fail with retries left, release, a lapse). */
export async function requeueDelivery(
  deps: Deps,
  h: HeldDelivery,
  o: { now: number; when: "live" | "lapsed"; visibleAt: number; attemptsDelta: 0 | -1; failureReason?: string; event: EventTypeName },
): Promise<Message | null> {
  const at = new Date(o.now);
  const r = await changeDelivery(deps, h, o.when, at, {
    sql: `state = 'PENDING', claimExpiresAt = NULL, attempts = attempts + ?, visibleAt = ?, failureReason = COALESCE(?, failureReason)`,
    params: [o.attemptsDelta, new Date(o.visibleAt), o.failureReason ?? null],
  });
  if (!r.changed) return null;
  const q = await deps.queues.get(h.message.tenantId, h.message.queueId);
  await bestEffort(deps, () =>
    deps.scripts.requeue(groupKeys(deps, h.delivery, h.message.scopeId), o.now, [{ id: h.message.id, score: orderScore(q.ordering, h.message), visibleAt: o.visibleAt }]),
  );
  const seen = asSeenBy(h.message, {
    ...h.delivery,
    state: "PENDING",
    claimExpiresAt: null,
    attempts: h.delivery.attempts + o.attemptsDelta,
    visibleAt: new Date(o.visibleAt),
    failureReason: o.failureReason ?? h.delivery.failureReason,
  });
  await afterCommit(deps, happenedTo([seen], o.event), at);
  return seen;
}

/** The group gives up on it: its delivery DEAD_LETTERED, a copy in _dead_letter; other groups go on. */
export async function deadLetterDelivery(deps: Deps, h: HeldDelivery, o: { now: number; when: "live" | "lapsed"; reason: string }): Promise<Message | null> {
  const at = new Date(o.now);
  const group = await deps.db.consumerGroup.findUniqueOrThrow({ where: { id: h.delivery.groupId } });
  const reason = `consumer group ${group.name}: ${o.reason}`;
  const dlq = await deps.queues.systemQueue(h.message.scopeId, DEAD_LETTER_QUEUE);
  const copy = deadLetterCopy(h.message, dlq.id, reason, at);
  const r = await changeDelivery(
    deps,
    h,
    o.when,
    at,
    { sql: `state = 'DEAD_LETTERED', finishedAt = ?, claimExpiresAt = NULL, failureReason = ?`, params: [at, reason] },
    (tx) => insertRows(sqlOf(tx), [copy]),
  );
  if (!r.changed) return null;
  await bestEffort(deps, () => deps.scripts.remove(groupKeys(deps, h.delivery, h.message.scopeId), [h.message.id]));
  await enqueueMessages(deps, [copy]);
  const seen = asSeenBy(h.message, { ...h.delivery, state: "DEAD_LETTERED", finishedAt: at, claimExpiresAt: null, failureReason: reason });
  await afterCommit(deps, [...happenedTo([seen], EventType.deadLettered), ...happenedTo([copy], EventType.published)], at);
  await afterEnd(deps, r.ended, at);
  return seen;
}

export async function extendDelivery(deps: Deps, h: HeldDelivery, now: number, expiresAt: Date): Promise<Message> {
  const changed = await deps.db.$executeRawUnsafe(
    `UPDATE deliveries SET claimExpiresAt = ? WHERE ${HELD} AND claimExpiresAt > ?`,
    expiresAt,
    ...held(h),
    new Date(now),
  );
  if (changed !== 1) throw new NotClaimOwnerError();
  await bestEffort(deps, () => deps.scripts.extend(groupKeys(deps, h.delivery, h.message.scopeId), h.message.id, h.token, expiresAt.getTime()));
  return asSeenBy(h.message, { ...h.delivery, claimExpiresAt: expiresAt });
}

/** Lapsed delivery claims, for the visibility enforcer. */
export async function lapsedDeliveries(deps: Pick<Deps, "db">, now: number, take: number): Promise<HeldDelivery[]> {
  const ds = await deps.db.delivery.findMany({ where: { state: "CLAIMED", claimExpiresAt: { lte: new Date(now) } }, take });
  const ms = new Map((await deps.db.message.findMany({ where: { id: { in: ds.map((d) => d.messageId) } } })).map((m) => [m.id, m]));
  return ds.flatMap((d) => (ms.has(d.messageId) ? [{ message: ms.get(d.messageId)!, delivery: d, token: d.claimToken! }] : []));
}
