import type { Message } from "../generated/prisma/client.js";
import type { Deps } from "../domain/deps.js";
import { byQueue } from "../domain/messages/held.js";
import { EventType } from "../events/message-event.js";
import { afterCommit } from "../domain/outcomes/after-commit.js";
import { happenedTo } from "../domain/outcomes/event-log.js";
import { SWEEP_BATCH, type Agent } from "./agent.js";
import { bestEffort } from "../redis/fallback.js";
import { MESSAGE_BY_ID } from "../db/message-rows.js";
import { marks } from "../db/sql.js";

/**
 * Messages whose ttlSeconds or deadline passed before completion become EXPIRED, pending
 * or claimed (a late complete then answers INVALID_STATE). Claim also refuses expired
 * rows, so none is handed out in the second before this sweep sees it.
 * TODO(2026-11-29): a BROADCAST message's open deliveries are not ended with it yet (a
 * group can still be handed it; its complete is refused).
 */
export function expiryEnforcer(deps: Deps): Agent {
  return {
    name: "expiry_enforcer",
    intervalMs: 1000,
    async runOnce({ now }) {
      const at = new Date(now);
      const rows = await deps.db.message.findMany({
        where: { state: { in: ["PENDING", "CLAIMED"] }, expiresAt: { lte: at } },
        take: SWEEP_BATCH,
      });
      if (!rows.length) return 0;
      const affected = await deps.db.$executeRawUnsafe(
        `UPDATE ${MESSAGE_BY_ID} SET state = 'EXPIRED', finishedAt = ?, claimExpiresAt = NULL
         WHERE id IN (${marks(rows)}) AND state IN ('PENDING', 'CLAIMED') AND expiresAt <= ?`,
        at,
        ...rows.map((r) => r.id),
        at,
      );
      let expired = rows;
      if (affected !== rows.length) {
        const current = await deps.db.message.findMany({
          where: { id: { in: rows.map((r) => r.id) } },
          select: { id: true, state: true, finishedAt: true },
        });
        const ours = new Set(current.filter((r) => r.state === "EXPIRED" && r.finishedAt?.getTime() === at.getTime()).map((r) => r.id));
        expired = rows.filter((r) => ours.has(r.id));
      }
      const ended: Message[] = expired.map((r) => ({ ...r, state: "EXPIRED", finishedAt: at, claimExpiresAt: null }));
      await Promise.all(
        byQueue(ended.map((row) => ({ row }))).map((g) =>
          bestEffort(deps, () => deps.scripts.remove(deps.scripts.keys.queue(g[0]!.row.scopeId, g[0]!.row.queueId), g.map((x) => x.row.id))),
        ),
      );
      await afterCommit(deps, happenedTo(ended, EventType.expired), at);
      return ended.length;
    },
  };
}
