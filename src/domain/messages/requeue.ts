import type { Message } from "../../generated/prisma/client.js";
import type { Deps } from "../deps.js";
import { byQueue } from "./held.js";
import type { EventTypeName } from "../../events/message-event.js";
import { afterCommit } from "../outcomes/after-commit.js";
import { happenedTo } from "../outcomes/event-log.js";
import { orderScore } from "../intake/ordering.js";
import { bestEffort } from "../../redis/fallback.js";
import { MESSAGE_BY_ID } from "../../db/message-rows.js";
import { claimCondition, type HeldClaim } from "../../db/message-statements.js";


export type RequeueOptions = {
  now: number;
  /** a caller's own claim must be live; the visibility enforcer takes lapsed ones */
  when: "live" | "lapsed";
  /** when each message may be claimed again (ms) */
  visibleAt: (c: HeldClaim) => number;
  /** release gives the try back (−1); fail and a lapse keep it counted (0) */
  attemptsDelta: 0 | -1;
  failureReason?: string;
  event: EventTypeName;
};

/**
 * Ends claims and makes the messages PENDING again: MariaDB first, conditional on each
 * claim (claimCondition), then Redis. Returns the messages that were requeued; a claim
 * that lapsed or was taken again in the meantime is left out.
 */
export async function requeueClaims(deps: Deps, claims: HeldClaim[], opts: RequeueOptions): Promise<Message[]> {
  if (!claims.length) return [];
  const at = new Date(opts.now);
  const where = claimCondition(claims, opts.when, at);
  const affected = await deps.db.$executeRawUnsafe(
    `UPDATE ${MESSAGE_BY_ID} SET state = 'PENDING', claimExpiresAt = NULL, attempts = attempts + ?,
       failureReason = COALESCE(?, failureReason),
       visibleAt = CASE id ${claims.map(() => "WHEN ? THEN ?").join(" ")} END
     WHERE ${where.sql}`,
    opts.attemptsDelta,
    opts.failureReason ?? null,
    ...claims.flatMap((c) => [c.row.id, new Date(opts.visibleAt(c))]),
    ...where.params,
  );
  const done = affected === claims.length ? claims : await stillOurs(deps, claims, "PENDING");

  const requeued: Message[] = [];
  await Promise.all(
    byQueue(done).map(async (cs) => {
      const q = await deps.queues.get(cs[0]!.row.tenantId, cs[0]!.row.queueId);
      const items = cs.map((c) => {
        const m: Message = {
          ...c.row,
          state: "PENDING",
          claimExpiresAt: null,
          attempts: c.row.attempts + opts.attemptsDelta,
          failureReason: opts.failureReason ?? c.row.failureReason,
          visibleAt: new Date(opts.visibleAt(c)),
        };
        requeued.push(m);
        return { id: m.id, score: orderScore(q.ordering, m), visibleAt: opts.visibleAt(c) };
      });
      if (q.servedFrom === "redis") await bestEffort(deps, () => deps.scripts.requeue(deps.scripts.keys.queue(q.scopeId, q.id), opts.now, items));
    }),
  );
  await afterCommit(deps, happenedTo(requeued, opts.event), at);
  return requeued;
}

/**
 * After a write that matched fewer rows than asked, which claims did it end? The claim
 * token stays on the row until the next claim, so "in the target state with our token"
 * identifies them.
 */
export async function stillOurs(deps: Pick<Deps, "db">, claims: HeldClaim[], state: Message["state"]): Promise<HeldClaim[]> {
  const rows = await deps.db.message.findMany({
    where: { id: { in: claims.map((c) => c.row.id) } },
    select: { id: true, state: true, claimToken: true },
  });
  const ours = new Set(rows.filter((r) => r.state === state).map((r) => `${r.id}/${r.claimToken}`));
  return claims.filter((c) => ours.has(`${c.row.id}/${c.token}`));
}
