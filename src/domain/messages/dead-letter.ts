import type { Db } from "../../db/client.js";
import { sqlOf } from "../../db/sql.js";
import type { Message } from "../../generated/prisma/client.js";
import type { Deps } from "../deps.js";
import { byQueue } from "./held.js";
import { EventType } from "../../events/message-event.js";
import { insertRows, MESSAGE_BY_ID } from "../../db/message-rows.js";
import { enqueueMessages } from "../intake/enqueue.js";
import { stillOurs } from "./requeue.js";
import { afterCommit } from "../outcomes/after-commit.js";
import { happenedTo } from "../outcomes/event-log.js";
import { bestEffort } from "../../redis/fallback.js";
import { claimCondition, type HeldClaim } from "../../db/message-statements.js";
import { DEAD_LETTER_QUEUE } from "../../db/queue-directory.js";
import { deadLetterCopy } from "../intake/records.js";


/**
 * Ends claims as DEAD_LETTERED and publishes a copy of each message into its scope's
 * _dead_letter queue (same correlation id, causationId and parentId = the original,
 * failureReason = why). The original's change and the copy are one transaction, so a
 * dead-lettered message is never in both places or in neither.
 */
export async function deadLetterClaims(
  deps: Deps,
  claims: HeldClaim[],
  opts: { now: number; when: "live" | "lapsed"; reason: (c: HeldClaim) => string },
): Promise<Message[]> {
  if (!claims.length) return [];
  const at = new Date(opts.now);
  const deadLetterQueues = new Map<string, string>();
  for (const c of claims) {
    if (!deadLetterQueues.has(c.row.scopeId)) {
      deadLetterQueues.set(c.row.scopeId, (await deps.queues.systemQueue(c.row.scopeId, DEAD_LETTER_QUEUE)).id);
    }
  }

  const { ended, copies } = await deps.db.$transaction(async (txClient) => {
    const tx = txClient as unknown as Db;
    const where = claimCondition(claims, opts.when, at);
    const affected = await tx.$executeRawUnsafe(
      `UPDATE ${MESSAGE_BY_ID} SET state = 'DEAD_LETTERED', finishedAt = ?, claimExpiresAt = NULL,
         failureReason = CASE id ${claims.map(() => "WHEN ? THEN ?").join(" ")} END
       WHERE ${where.sql}`,
      at,
      ...claims.flatMap((c) => [c.row.id, opts.reason(c)]),
      ...where.params,
    );
    const ended = affected === claims.length ? claims : await stillOurs({ db: tx }, claims, "DEAD_LETTERED");
    const copies = ended.map((c) => deadLetterCopy(c.row, deadLetterQueues.get(c.row.scopeId)!, opts.reason(c), at));
    if (copies.length) await insertRows(sqlOf(tx), copies);
    return { ended, copies };
  });

  await Promise.all(
    byQueue(ended).map((cs) =>
      bestEffort(deps, () =>
        deps.scripts.remove(
          deps.scripts.keys.queue(cs[0]!.row.scopeId, cs[0]!.row.queueId),
          cs.map((c) => c.row.id),
        ),
      ),
    ),
  );
  await enqueueMessages(deps, copies);
  const dead: Message[] = ended.map((c) => ({
    ...c.row,
    state: "DEAD_LETTERED",
    finishedAt: at,
    claimExpiresAt: null,
    failureReason: opts.reason(c),
  }));
  await afterCommit(deps, [...happenedTo(dead, EventType.deadLettered), ...happenedTo(copies, EventType.published)], at);
  return dead;
}
