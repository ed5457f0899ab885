import { z } from "zod";
import type { Message } from "../generated/prisma/client.js";
import { newToken } from "../ids.js";
import { ValidationError } from "../errors.js";
import type { Actor } from "./actor.js";
import type { Deps } from "./deps.js";
import { EventType, messageEvent } from "./message-events.js";
import type { QueueInfo } from "./queue-directory.js";
import { intIn, parseInput, text, visibilityTimeoutS } from "./validation.js";

export const MAX_CLAIM_BATCH = 100;

const ClaimInput = z.object({
  queueId: z.string(),
  batchSize: intIn(1, MAX_CLAIM_BATCH).nullish(),
  visibilityTimeoutS: visibilityTimeoutS.nullish(),
  consumerId: text(200).nullish(),
  consumerGroup: text(64).nullish(),
});

/** Messages handed out by claim: the only ones whose claimToken is shown. */
const freshClaims = new WeakSet<Message>();
export const isFreshClaim = (m: Message): boolean => freshClaims.has(m);

/** A paused or archived queue or scope hands out nothing; a draining one goes on until empty. */
const serving = (q: QueueInfo): boolean =>
  (q.state === "ACTIVE" || q.state === "DRAINING") && (q.scopeState === "ACTIVE" || q.scopeState === "DRAINING");

/**
 * Claims up to batchSize messages: one Lua script pops them and takes their locks
 * atomically across processes, then one UPDATE records the claims in MariaDB.
 */
export async function claim(deps: Deps, actor: Actor, input: unknown): Promise<Message[]> {
  const data = parseInput(ClaimInput, input, "input");
  const q = await deps.queues.get(actor.tenantId, data.queueId);
  if (q.consumerMode === "BROADCAST") {
    // TODO(2026-11-29): consumer groups come with the reliability issue (#3).
    throw new ValidationError([{ field: "input.consumerGroup", message: "broadcast queues are not served yet" }]);
  }
  if (!serving(q)) return [];

  const now = deps.clock();
  const visibilityMs = (data.visibilityTimeoutS ?? q.visibilityTimeoutS) * 1000;
  const keys = deps.scripts.keys.queue(q.scopeId, q.id);
  const tokens = Array.from({ length: data.batchSize ?? 1 }, newToken);
  const got = await deps.scripts.claim(keys, { now, visibilityMs, tokens });
  if (!got.length) return [];

  const claimedAt = new Date(now);
  const claimExpiresAt = new Date(now + visibilityMs);
  const ids = got.map((g) => g.id);
  const marks = ids.map(() => "?").join(", ");
  await deps.db.$executeRawUnsafe(
    `UPDATE messages SET state = 'CLAIMED', attempts = attempts + 1,
       claimToken = CASE id ${ids.map(() => "WHEN ? THEN ?").join(" ")} END,
       claimedBy = ?, claimKeyId = ?, claimedAt = ?, claimExpiresAt = ?
     WHERE id IN (${marks}) AND state = 'PENDING' AND (expiresAt IS NULL OR expiresAt > ?)`,
    ...got.flatMap((g) => [g.id, g.token]),
    data.consumerId ?? actor.keyId,
    actor.keyId,
    claimedAt,
    claimExpiresAt,
    ...ids,
    claimedAt,
  );
  const rows = new Map((await deps.db.message.findMany({ where: { id: { in: ids } } })).map((m) => [m.id, m]));
  const claimed: Message[] = [];
  const stale: { id: string; token: string }[] = [];
  for (const g of got) {
    const m = rows.get(g.id);
    if (m && m.state === "CLAIMED" && m.claimToken === g.token) claimed.push(m);
    else stale.push(g); // the record says it is not claimable (expired, or ended meanwhile): drop the lock
  }
  if (stale.length) await deps.scripts.settle(keys, now, stale);
  for (const m of claimed) freshClaims.add(m);
  await deps.bus.publish(actor.tenantId, claimed.map((m) => messageEvent(EventType.claimed, m, claimedAt)));
  return claimed;
}
