import { z } from "zod";
import type { Message } from "../generated/prisma/client.js";
import { InvalidStateError, MessageNotFoundError, NotClaimOwnerError, ValidationError } from "../errors.js";
import type { Actor } from "./actor.js";
import type { Deps } from "./deps.js";
import { EventType, messageEvent } from "./message-events.js";
import { itemField, jsonOfAtMost, parseBatch, perLimit, type BatchPrefix } from "./validation.js";

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
  const ids = parsed.map((p) => p.messageId);
  if (new Set(ids).size !== ids.length) {
    throw new ValidationError([{ field: prefix, message: "names the same message twice" }]);
  }

  const rows = new Map(
    (await deps.db.message.findMany({ where: { id: { in: ids }, tenantId: actor.tenantId } })).map((m) => [m.id, m]),
  );
  const claims = parsed.map((p) => {
    const row = rows.get(p.messageId);
    if (!row) throw new MessageNotFoundError();
    if (row.state !== "CLAIMED") throw new InvalidStateError(`the message is ${row.state}, not CLAIMED`);
    const token = p.claimToken ?? (row.claimKeyId === actor.keyId ? row.claimToken : null);
    if (!token || token !== row.claimToken) throw new NotClaimOwnerError();
    if (!row.claimExpiresAt || row.claimExpiresAt.getTime() <= deps.clock()) throw new NotClaimOwnerError();
    return { row, token, response: p.response ?? null };
  });

  const now = deps.clock();
  const completedAt = new Date(now);
  // MariaDB decides: each row must still hold this very claim, unexpired. Redis is
  // settled afterwards, so a write that fails leaves the claim intact and completable.
  const affected = await deps.db.$executeRawUnsafe(
    `UPDATE messages SET state = 'COMPLETED', completedAt = ?, claimExpiresAt = NULL,
       response = CASE id ${claims.map(() => "WHEN ? THEN ?").join(" ")} END
     WHERE id IN (${claims.map(() => "?").join(", ")}) AND state = 'CLAIMED' AND claimExpiresAt > ?
       AND claimToken = CASE id ${claims.map(() => "WHEN ? THEN ?").join(" ")} END`,
    completedAt,
    ...claims.flatMap((c) => [c.row.id, c.response === null ? null : JSON.stringify(c.response)]),
    ...claims.map((c) => c.row.id),
    completedAt,
    ...claims.flatMap((c) => [c.row.id, c.token]),
  );
  let settled = claims;
  if (affected !== claims.length) {
    // Some claim lapsed (or was taken again) since the read above: find out which.
    const rows = await deps.db.message.findMany({ where: { id: { in: ids } }, select: { id: true, state: true, completedAt: true } });
    const ours = new Set(rows.filter((r) => r.state === "COMPLETED" && r.completedAt?.getTime() === completedAt.getTime()).map((r) => r.id));
    settled = claims.filter((c) => ours.has(c.row.id));
  }
  const lost = claims.flatMap((c, i) => (settled.includes(c) ? [] : [i]));

  const byQueue = new Map<string, typeof claims>();
  for (const c of settled) byQueue.set(c.row.queueId, [...(byQueue.get(c.row.queueId) ?? []), c]);
  await Promise.all(
    [...byQueue.values()].map((cs) =>
      deps.scripts.settle(
        deps.scripts.keys.queue(cs[0]!.row.scopeId, cs[0]!.row.queueId),
        now,
        cs.map((c) => ({ id: c.row.id, token: c.token })),
      ),
    ),
  );

  const done: Message[] = settled.map((c) => ({
    ...c.row,
    state: "COMPLETED",
    completedAt,
    claimExpiresAt: null,
    response: c.response as Message["response"],
  }));
  await deps.bus.publish(actor.tenantId, done.map((m) => messageEvent(EventType.completed, m, completedAt)));

  if (lost.length) {
    // The claim lapsed between our check and the write; the others are completed.
    throw new NotClaimOwnerError(
      lost.map((i) => ({ field: `${itemField(prefix, i)}.claimToken`, message: "the claim lapsed before it was completed" })),
    );
  }
  return done;
}
