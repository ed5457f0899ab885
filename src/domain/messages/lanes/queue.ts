import type { Message } from "../../../generated/prisma/client.js";
import type { Tx } from "../../../db/client.js";
import { claimCondition, recordClaims, type ClaimRecord, type ClaimRef } from "../../../db/message-statements.js";
import { insertRows, MESSAGE_BY_ID } from "../../../db/message-rows.js";
import type { QueueInfo } from "../../../db/queue-directory.js";
import { sqlOf } from "../../../db/sql.js";
import { EventType } from "../../../events/message-event.js";
import { newToken } from "../../../ids.js";
import type { Deps } from "../../deps.js";
import { happenedTo } from "../../outcomes/event-log.js";
import type { ClaimSpec, Ending, Held, Lane, LaneChange, Popped, When } from "./lane.js";
import { sqlOrder } from "../../intake/ordering.js";

/**
 * A COMPETING queue: its messages are the lane's rows. The hot path's statements are
 * grouped across concurrent operations (db/message-statements.ts); MariaDB is the
 * arbiter, every change conditional on the claim still being the one named.
 */
export function queueLane(deps: Deps, queue: QueueInfo): Lane {
  return {
    queue,
    group: null,
    keys: deps.scripts.keys.queue(queue.scopeId, queue.id),
    recordClaims: (popped, c) => deps.statements.claim(popped.map((p) => claimRecord(p, c))),
    claimFromMariaDb: (c) => claimFromMariaDb(deps, queue, c),
    end: (held, e, when, at) => end(deps, held, e, when, at),
    async extend(h, expiresAt, now) {
      const where = claimCondition([ref(h)], "live", new Date(now));
      return (await deps.sql.exec(`UPDATE ${MESSAGE_BY_ID} SET claimExpiresAt = ? WHERE ${where.sql}`, [expiresAt, ...where.params])) === 1;
    },
    // the message row is the lane's row: ending the message ended it
    abandon: async () => {},
    occupancy: () => deps.db.message.count({ where: { queueId: queue.id, state: { in: ["PENDING", "CLAIMED"] } } }),
  };
}

/** Lapsed claims of COMPETING queues, oldest lapse first, for the visibility enforcer. */
export async function lapsedInQueues(deps: Deps, now: number, take: number): Promise<{ lane: Lane; held: Held }[]> {
  const rows = await deps.db.message.findMany({
    where: { state: "CLAIMED", claimExpiresAt: { lte: new Date(now) } },
    orderBy: { claimExpiresAt: "asc" },
    take,
  });
  const out: { lane: Lane; held: Held }[] = [];
  for (const message of rows) out.push({ lane: queueLane(deps, await deps.queues.get(message.tenantId, message.queueId)), held: { message, token: message.claimToken! } });
  return out;
}

const ref = (h: Held): ClaimRef => ({ id: h.message.id, token: h.token });

function claimRecord(p: Popped, c: ClaimSpec): ClaimRecord {
  return { ...p, claimedBy: c.claimedBy, keyId: c.keyId, claimedAt: new Date(c.now), claimExpiresAt: new Date(c.now + c.visibilityMs) };
}

/**
 * The path while Redis is down: MariaDB alone picks and locks the rows
 * (FOR UPDATE SKIP LOCKED, so concurrent claimers take different ones) in the queue's
 * order. Slower than Redis, and it stays correct alongside processes that still reach
 * Redis, since both record a claim only on a row that is still PENDING.
 */
async function claimFromMariaDb(deps: Deps, q: QueueInfo, c: ClaimSpec): Promise<Message[]> {
  return deps.db.$transaction(async (txClient) => {
    const tx = sqlOf(txClient);
    const at = new Date(c.now);
    const rows = await tx.rows<{ id: string }>(
      `SELECT id FROM messages WHERE queueId = ? AND state = 'PENDING' AND (visibleAt IS NULL OR visibleAt <= ?)
         AND (expiresAt IS NULL OR expiresAt > ?) ORDER BY ${sqlOrder(q.ordering)} LIMIT ? FOR UPDATE SKIP LOCKED`,
      [q.id, at, at, c.n],
    );
    if (!rows.length) return [];
    const claimed = await recordClaims(tx, rows.map((r) => claimRecord({ id: r.id, token: newToken() }, c)));
    return claimed.filter((m): m is Message => m !== null);
  });
}

async function end(deps: Deps, held: Held[], e: Ending, when: When, at: Date): Promise<LaneChange> {
  switch (e.to) {
    case "COMPLETED": {
      // only a live claim completes; grouped with the completions of this moment, at the latest of their times
      const times = await deps.statements.complete(held.map((h) => ({ ...ref(h), response: e.response(h), at })));
      const ended = held.flatMap((h, i): Held[] => {
        const t = times[i];
        if (!t) return [];
        const response = e.response(h) as Message["response"];
        return [{ token: h.token, message: { ...h.message, state: "COMPLETED", completedAt: t, finishedAt: t, claimExpiresAt: null, response } }];
      });
      return { ended, happened: happenedTo(ended.map((h) => h.message), EventType.completed), finished: [] };
    }
    case "PENDING": {
      const where = claimCondition(held.map(ref), when, at);
      const affected = await deps.sql.exec(
        `UPDATE ${MESSAGE_BY_ID} SET state = 'PENDING', claimExpiresAt = NULL, attempts = attempts + ?,
           failureReason = COALESCE(?, failureReason),
           visibleAt = CASE id ${held.map(() => "WHEN ? THEN ?").join(" ")} END
         WHERE ${where.sql}`,
        [e.attemptsDelta, e.failureReason, ...held.flatMap((h) => [h.message.id, new Date(e.visibleAt(h))]), ...where.params],
      );
      const done = affected === held.length ? held : await stillOurs(deps.db, held, "PENDING");
      const ended = done.map((h): Held => ({
        token: h.token,
        message: {
          ...h.message,
          state: "PENDING",
          claimExpiresAt: null,
          attempts: h.message.attempts + e.attemptsDelta,
          failureReason: e.failureReason ?? h.message.failureReason,
          visibleAt: new Date(e.visibleAt(h)),
        },
      }));
      return { ended, happened: happenedTo(ended.map((h) => h.message), e.event), finished: [] };
    }
    case "DEAD_LETTERED": {
      // the original's change and its copy are one transaction: never in both places, or in neither
      const done = await deps.db.$transaction(async (tx) => {
        const where = claimCondition(held.map(ref), when, at);
        const affected = await sqlOf(tx).exec(
          `UPDATE ${MESSAGE_BY_ID} SET state = 'DEAD_LETTERED', finishedAt = ?, claimExpiresAt = NULL,
             failureReason = CASE id ${held.map(() => "WHEN ? THEN ?").join(" ")} END
           WHERE ${where.sql}`,
          [at, ...held.flatMap((h) => [h.message.id, e.reason(h)]), ...where.params],
        );
        const done = affected === held.length ? held : await stillOurs(tx, held, "DEAD_LETTERED");
        if (done.length) await insertRows(sqlOf(tx), done.map((h) => e.copies.get(h.message.id)!));
        return done;
      });
      const ended = done.map((h): Held => ({
        token: h.token,
        message: { ...h.message, state: "DEAD_LETTERED", finishedAt: at, claimExpiresAt: null, failureReason: e.reason(h) },
      }));
      return { ended, happened: happenedTo(ended.map((h) => h.message), EventType.deadLettered), finished: [] };
    }
  }
}

/**
 * After a write that matched fewer rows than asked, which claims did it end? The claim
 * token stays on the row until the next claim, so "in the target state with our token"
 * identifies them.
 */
async function stillOurs(db: Tx, held: Held[], state: Message["state"]): Promise<Held[]> {
  const rows = await db.message.findMany({ where: { id: { in: held.map((h) => h.message.id) } }, select: { id: true, state: true, claimToken: true } });
  const ours = new Set(rows.filter((r) => r.state === state).map((r) => `${r.id}/${r.claimToken}`));
  return held.filter((h) => ours.has(`${h.message.id}/${h.token}`));
}
