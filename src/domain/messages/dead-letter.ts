import type { Message } from "../../generated/prisma/client.js";
import { DEAD_LETTER_QUEUE } from "../../db/queue-directory.js";
import type { Deps } from "../deps.js";
import { deadLetterCopy } from "../intake/records.js";
import { endClaims } from "./end-claims.js";
import type { Held, Lane, When } from "./lanes/lane.js";

/**
 * Ends claims as DEAD_LETTERED and publishes a copy of each message into its scope's
 * _dead_letter queue (same correlation id, causationId and parentId = the original,
 * failureReason = why, naming the consumer group in a BROADCAST queue). The lane writes
 * the change and the copy in one transaction, so a dead-lettered message is never in
 * both places or in neither; in a BROADCAST queue the other groups go on.
 */
export async function deadLetter(deps: Deps, lane: Lane, held: Held[], o: { now: number; when: When; reason: (h: Held) => string }): Promise<Held[]> {
  if (!held.length) return [];
  const at = new Date(o.now);
  const dlq = await deps.queues.systemQueue(lane.queue.scopeId, DEAD_LETTER_QUEUE);
  const reason = (h: Held) => (lane.group ? `consumer group ${lane.group.name}: ${o.reason(h)}` : o.reason(h));
  const copies = new Map<string, Message>(held.map((h) => [h.message.id, deadLetterCopy(h.message, dlq.id, reason(h), at)]));
  return endClaims(deps, lane, held, { to: "DEAD_LETTERED", reason, copies }, o.when, o.now);
}
