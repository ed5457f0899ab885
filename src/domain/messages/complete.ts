import { z } from "zod";
import type { Message } from "../../generated/prisma/client.js";
import { NotClaimOwnerError } from "../../errors.js";
import { byQueue, heldClaims, inBroadcastQueues, loadNamed } from "./held.js";
import { completeDelivery, loadHeldDeliveries } from "./lanes/group.js";
import type { Actor } from "../actor.js";
import type { Deps } from "../deps.js";
import { EventType } from "../../events/message-event.js";
import { itemField, jsonOfAtMost, parseBatch, perLimit, type BatchPrefix } from "../validation.js";
import { bestEffort } from "../../redis/fallback.js";
import { afterCommit } from "../outcomes/after-commit.js";
import { happenedTo } from "../outcomes/event-log.js";
import { type HeldClaim } from "../../db/message-statements.js";

const completeSchema = perLimit((messageBytes: number) =>
  z.object({
    messageId: z.string(),
    claimToken: z.string().max(64, "at most 64 characters").nullish(),
    response: jsonOfAtMost(messageBytes).nullish(),
  }),
);

/**
 * complete and completeBatch. Each message must be CLAIMED and the token must be its
 * live claim's (without a token, the claim must have been taken by the same API key).
 * The conditional UPDATE in MariaDB is the arbiter against lapses; Redis then drops the locks.
 */
export async function complete(deps: Deps, actor: Actor, inputs: unknown[], prefix: BatchPrefix): Promise<Message[]> {
  const parsed = parseBatch(completeSchema(deps.limits.messageBytes), inputs, prefix);
  const rows = await loadNamed(deps, actor, parsed, prefix);
  const broadcast = await inBroadcastQueues(deps, rows);
  if (broadcast.size === 0) return completeClaims(deps, parsed, heldClaims(deps.clock(), actor, parsed, rows), prefix);
  // BROADCAST messages are completed per consumer group, one delivery at a time.
  const groupItems = parsed.filter((p) => broadcast.has(p.messageId));
  const held = await loadHeldDeliveries(deps, actor, groupItems, rows);
  const others = parsed.filter((p) => !broadcast.has(p.messageId));
  const done = new Map(
    (others.length ? await completeClaims(deps, others, heldClaims(deps.clock(), actor, others, rows), prefix) : []).map((m) => [m.id, m]),
  );
  for (const [i, h] of held.entries()) done.set(h.message.id, await completeDelivery(deps, h, groupItems[i]!.response ?? null, deps.clock()));
  return parsed.map((p) => done.get(p.messageId)!);
}

type CompleteItem = { messageId: string; claimToken?: string | null; response?: unknown };

async function completeClaims(deps: Deps, parsed: CompleteItem[], held: HeldClaim[], prefix: BatchPrefix): Promise<Message[]> {
  const claims = held.map((c, i) => ({
    ...c,
    response: parsed[i]!.response ?? null,
  }));

  const now = deps.clock();
  // MariaDB decides; Redis is settled afterwards, so a write that fails leaves the
  // claim intact and completable.
  const at = await deps.statements.complete(claims.map((c) => ({ ...c, at: new Date(now) })));
  const settled = claims.filter((_, i) => at[i]);
  const lost = claims.flatMap((c, i) => (settled.includes(c) ? [] : [i]));

  await Promise.all(
    byQueue(settled).map((cs) =>
      bestEffort(deps, () =>
        deps.scripts.settle(
          deps.scripts.keys.queue(cs[0]!.row.scopeId, cs[0]!.row.queueId),
          now,
          cs.map((c) => ({ id: c.row.id, token: c.token })),
        ),
      ),
    ),
  );

  const completedAt = at.find((d) => d) ?? new Date(now);
  const done: Message[] = settled.map((c) => ({
    ...c.row,
    state: "COMPLETED",
    completedAt,
    finishedAt: completedAt,
    claimExpiresAt: null,
    response: c.response as Message["response"],
  }));
  await afterCommit(deps, happenedTo(done, EventType.completed), completedAt);

  if (lost.length) {
    // The claim lapsed between our check and the write; the others are completed.
    throw new NotClaimOwnerError(
      lost.map((i) => ({ field: `${itemField(prefix, i)}.claimToken`, message: "the claim lapsed before it was completed" })),
    );
  }
  return done;
}
