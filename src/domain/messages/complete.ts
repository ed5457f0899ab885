import { z } from "zod";
import type { Message } from "../../generated/prisma/client.js";
import { NotClaimOwnerError } from "../../errors.js";
import type { Actor } from "../actor.js";
import type { Deps } from "../deps.js";
import { itemField, jsonOfAtMost, parseBatch, perLimit, type BatchPrefix } from "../validation.js";
import { endClaims } from "./end-claims.js";
import { heldOf } from "./held.js";
import { byLane, type Held } from "./lanes/lane.js";

const completeSchema = perLimit((messageBytes: number) =>
  z.object({
    messageId: z.string(),
    claimToken: z.string().max(64, "at most 64 characters").nullish(),
    response: jsonOfAtMost(messageBytes).nullish(),
  }),
);

/**
 * complete and completeBatch. Each message must be CLAIMED and the token must be its
 * live claim's (without a token, the claim must have been taken by the same API key);
 * in a BROADCAST queue it is the caller's group's delivery that completes. The
 * conditional write in MariaDB is the arbiter against lapses; a claim that lapsed
 * between the check and the write is refused, the others are completed.
 */
export async function complete(deps: Deps, actor: Actor, inputs: unknown[], prefix: BatchPrefix): Promise<Message[]> {
  const parsed = parseBatch(completeSchema(deps.limits.messageBytes), inputs, prefix);
  const named = (await heldOf(deps, actor, parsed, prefix)).map((n, i) => ({ ...n, response: parsed[i]!.response ?? null }));
  const now = deps.clock();
  const done = new Map<string, Message>();
  // lane by lane at once: the COMPETING ones still share one grouped UPDATE
  await Promise.all(
    byLane(named).map(async (items) => {
      const responses = new Map(items.map((i) => [i.held.message.id, i.response]));
      const ending = { to: "COMPLETED", response: (h: Held) => responses.get(h.message.id) } as const;
      for (const h of await endClaims(deps, items[0]!.lane, items.map((i) => i.held), ending, "live", now)) done.set(h.message.id, h.message);
    }),
  );
  const lost = parsed.flatMap((p, i) => (done.has(p.messageId) ? [] : [i]));
  if (lost.length) {
    throw new NotClaimOwnerError(lost.map((i) => ({ field: `${itemField(prefix, i)}.claimToken`, message: "the claim lapsed before it was completed" })));
  }
  return parsed.map((p) => done.get(p.messageId)!);
}
