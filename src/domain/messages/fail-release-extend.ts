import { z } from "zod";
import type { Message } from "../../generated/prisma/client.js";
import { NotClaimOwnerError } from "../../errors.js";
import type { Actor } from "../actor.js";
import type { Deps } from "../deps.js";
import { heldClaims, inBroadcastQueues, loadNamed } from "./held.js";
import { deadLetterDelivery, extendDelivery, loadHeldDeliveries, requeueDelivery } from "./lanes/group.js";
import { deadLetterClaims } from "./dead-letter.js";
import { EventType } from "../../events/message-event.js";
import { requeueClaims } from "./requeue.js";
import { backoffMs } from "./retry-policy.js";
import { intIn, MAX_VISIBILITY_TIMEOUT_S, parseInput } from "../validation.js";
import { bestEffort } from "../../redis/fallback.js";
import { MESSAGE_BY_ID } from "../../db/message-rows.js";
import { claimCondition } from "../../db/message-statements.js";

const claimRef = { messageId: z.string(), claimToken: z.string().max(64, "at most 64 characters").nullish() };
const FailInput = z.object({
  ...claimRef,
  reason: z.string().min(1, "must not be empty").max(4000, "at most 4000 characters"),
  retryable: z.boolean().nullish(),
});
const ReleaseInput = z.object({ ...claimRef, delayS: intIn(0, MAX_VISIBILITY_TIMEOUT_S).nullish() });
const ExtendInput = z.object({ ...claimRef, extendByS: intIn(1, MAX_VISIBILITY_TIMEOUT_S) });

/**
 * fail: with retries left (attempts < maxRetries) and retryable, the message is pending
 * again after an exponential backoff; otherwise it is dead-lettered with the reason.
 */
export async function fail(deps: Deps, actor: Actor, input: unknown): Promise<Message> {
  const p = parseInput(FailInput, input, "input");
  const now = deps.clock();
  const { claim, group } = await held(deps, actor, p);
  if (group) {
    const q = await deps.queues.get(actor.tenantId, group.message.queueId);
    const m =
      (p.retryable ?? true) && group.delivery.attempts < q.maxRetries
        ? await requeueDelivery(deps, group, {
            now,
            when: "live",
            visibleAt: now + backoffMs(group.delivery.attempts, deps.retry, deps.random),
            attemptsDelta: 0,
            failureReason: p.reason,
            event: EventType.failed,
          })
        : await deadLetterDelivery(deps, group, { now, when: "live", reason: p.reason });
    if (!m) throw new NotClaimOwnerError();
    return m;
  }
  const q = await deps.queues.get(actor.tenantId, claim!.row.queueId);
  const [m] =
    (p.retryable ?? true) && claim!.row.attempts < q.maxRetries
      ? await requeueClaims(deps, [claim!], {
          now,
          when: "live",
          visibleAt: (c) => now + backoffMs(c.row.attempts, deps.retry, deps.random),
          attemptsDelta: 0,
          failureReason: p.reason,
          event: EventType.failed,
        })
      : await deadLetterClaims(deps, [claim!], { now, when: "live", reason: () => p.reason });
  if (!m) throw new NotClaimOwnerError();
  return m;
}

/** release: hands the message back, pending after delayS, without counting the try. */
export async function release(deps: Deps, actor: Actor, input: unknown): Promise<Message> {
  const p = parseInput(ReleaseInput, input, "input");
  const now = deps.clock();
  const { claim, group } = await held(deps, actor, p);
  if (group) {
    const m = await requeueDelivery(deps, group, {
      now,
      when: "live",
      visibleAt: now + (p.delayS ?? 0) * 1000,
      attemptsDelta: -1,
      event: EventType.released,
    });
    if (!m) throw new NotClaimOwnerError();
    return m;
  }
  const [m] = await requeueClaims(deps, [claim!], {
    now,
    when: "live",
    visibleAt: () => now + (p.delayS ?? 0) * 1000,
    attemptsDelta: -1,
    event: EventType.released,
  });
  if (!m) throw new NotClaimOwnerError();
  return m;
}

/** extend: the live claim now lapses extendByS seconds from now. */
export async function extend(deps: Deps, actor: Actor, input: unknown): Promise<Message> {
  const p = parseInput(ExtendInput, input, "input");
  const now = deps.clock();
  const expiresAt = new Date(now + p.extendByS * 1000);
  const { claim, group } = await held(deps, actor, p);
  if (group) return extendDelivery(deps, group, now, expiresAt);
  const where = claimCondition([claim!], "live", new Date(now));
  const affected = await deps.db.$executeRawUnsafe(
    `UPDATE ${MESSAGE_BY_ID} SET claimExpiresAt = ? WHERE ${where.sql}`,
    expiresAt,
    ...where.params,
  );
  if (affected !== 1) throw new NotClaimOwnerError();
  const keys = deps.scripts.keys.queue(claim!.row.scopeId, claim!.row.queueId);
  await bestEffort(deps, () => deps.scripts.extend(keys, claim!.row.id, claim!.token, expiresAt.getTime()));
  return { ...claim!.row, claimExpiresAt: expiresAt };
}

/** The caller's claim on the message, or, in a BROADCAST queue, its group's delivery. */
async function held(deps: Deps, actor: Actor, p: { messageId: string; claimToken?: string | null }) {
  const rows = await loadNamed(deps, actor, [p], "input");
  if ((await inBroadcastQueues(deps, rows)).size) {
    return { claim: null, group: (await loadHeldDeliveries(deps, actor, [p], rows))[0]! };
  }
  return { claim: heldClaims(deps.clock(), actor, [p], rows)[0]!, group: null };
}
