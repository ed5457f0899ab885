import type { Deps } from "../domain/deps.js";
import { deadLetterClaims } from "../domain/messages/dead-letter.js";
import { EventType } from "../events/message-event.js";
import { requeueClaims } from "../domain/messages/requeue.js";
import { deadLetterDelivery, lapsedDeliveries, requeueDelivery } from "../domain/messages/lanes/group.js";
import { SWEEP_BATCH, type Agent } from "./agent.js";
import { type HeldClaim } from "../db/message-statements.js";

/**
 * Lapsed claims come back: every second, claims past claimExpiresAt (read from
 * MariaDB, the record, so it also works after Redis lost its state) become pending
 * again at once with the try counted, or are dead-lettered when attempts reached
 * maxRetries, as a failure would be.
 */
export function visibilityEnforcer(deps: Deps): Agent {
  return {
    name: "visibility_timeout_enforcer",
    intervalMs: 1000,
    async runOnce({ now }) {
      const rows = await deps.db.message.findMany({
        where: { state: "CLAIMED", claimExpiresAt: { lte: new Date(now) } },
        orderBy: { claimExpiresAt: "asc" },
        take: SWEEP_BATCH,
      });
      const retry: HeldClaim[] = [];
      const dead: HeldClaim[] = [];
      for (const row of rows) {
        const q = await deps.queues.get(row.tenantId, row.queueId);
        (row.attempts >= q.maxRetries ? dead : retry).push({ row, token: row.claimToken! });
      }
      const reason = (c: HeldClaim) => `claim lapsed after its visibility timeout (attempt ${c.row.attempts})`;
      const requeued = await requeueClaims(deps, retry, {
        now,
        when: "lapsed",
        visibleAt: () => now,
        attemptsDelta: 0,
        failureReason: "claim lapsed after its visibility timeout",
        event: EventType.failed,
      });
      const deadLettered = await deadLetterClaims(deps, dead, { now, when: "lapsed", reason });
      return requeued.length + deadLettered.length + (await lapsedGroupClaims(deps, now));
    },
  };
}

/** The same for the deliveries of BROADCAST queues, each group on its own. */
async function lapsedGroupClaims(deps: Deps, now: number): Promise<number> {
  let n = 0;
  for (const h of await lapsedDeliveries(deps, now, SWEEP_BATCH)) {
    const q = await deps.queues.get(h.message.tenantId, h.message.queueId);
    const reason = `claim lapsed after its visibility timeout (attempt ${h.delivery.attempts})`;
    const done =
      h.delivery.attempts >= q.maxRetries
        ? await deadLetterDelivery(deps, h, { now, when: "lapsed", reason })
        : await requeueDelivery(deps, h, { now, when: "lapsed", visibleAt: now, attemptsDelta: 0, failureReason: reason, event: EventType.failed });
    if (done) n++;
  }
  return n;
}
