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
 * Redis settles the claims atomically against lapses; MariaDB records the outcome.
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
    return { row, token, response: p.response ?? null };
  });

  const now = deps.clock();
  const byQueue = new Map<string, typeof claims>();
  for (const c of claims) byQueue.set(c.row.queueId, [...(byQueue.get(c.row.queueId) ?? []), c]);
  const outcomes = new Map<string, string>();
  await Promise.all(
    [...byQueue.values()].map(async (cs) => {
      const keys = deps.scripts.keys.queue(cs[0]!.row.scopeId, cs[0]!.row.queueId);
      const res = await deps.scripts.settle(keys, now, cs.map((c) => ({ id: c.row.id, token: c.token })));
      cs.forEach((c, i) => outcomes.set(c.row.id, res[i]!));
    }),
  );
  const settled = claims.filter((c) => outcomes.get(c.row.id) === "settled");
  const lost = parsed.flatMap((p, i) => (outcomes.get(p.messageId) === "settled" ? [] : [i]));

  const completedAt = new Date(now);
  if (settled.length) {
    await deps.db.$executeRawUnsafe(
      `UPDATE messages SET state = 'COMPLETED', completedAt = ?, claimExpiresAt = NULL,
         response = CASE id ${settled.map(() => "WHEN ? THEN ?").join(" ")} END
       WHERE id IN (${settled.map(() => "?").join(", ")}) AND state = 'CLAIMED'`,
      completedAt,
      ...settled.flatMap((c) => [c.row.id, c.response === null ? null : JSON.stringify(c.response)]),
      ...settled.map((c) => c.row.id),
    );
  }
  const done: Message[] = settled.map((c) => ({
    ...c.row,
    state: "COMPLETED",
    completedAt,
    claimExpiresAt: null,
    response: c.response as Message["response"],
  }));
  await deps.bus.publish(actor.tenantId, done.map((m) => messageEvent(EventType.completed, m, completedAt)));

  if (lost.length) {
    // The claim lapsed between our check and the settle; the others are completed.
    throw new NotClaimOwnerError(
      lost.map((i) => ({ field: `${itemField(prefix, i)}.claimToken`, message: "the claim lapsed before it was completed" })),
    );
  }
  return done;
}
