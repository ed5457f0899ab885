import { z } from "zod";
import type { Message } from "../../generated/prisma/client.js";
import { NotClaimOwnerError } from "../../errors.js";
import { EventType } from "../../events/message-event.js";
import { bestEffort } from "../../redis/fallback.js";
import type { Actor } from "../actor.js";
import type { Deps } from "../deps.js";
import { intIn, MAX_VISIBILITY_TIMEOUT_S, parseInput } from "../validation.js";
import { deadLetter } from "./dead-letter.js";
import { heldOne } from "./held.js";
import { requeue } from "./requeue.js";
import { backoffMs } from "./retry-policy.js";

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
 * again after an exponential backoff; otherwise it is dead-lettered with the reason. In
 * a BROADCAST queue this is the caller's group's delivery; the other groups go on.
 */
export async function fail(deps: Deps, actor: Actor, input: unknown): Promise<Message> {
  const p = parseInput(FailInput, input, "input");
  const { lane, held } = await heldOne(deps, actor, p);
  const now = deps.clock();
  const attempts = held.message.attempts;
  const [m] =
    (p.retryable ?? true) && attempts < lane.queue.maxRetries
      ? await requeue(deps, lane, [held], {
          now,
          when: "live",
          visibleAt: () => now + backoffMs(attempts, deps.retry, deps.random),
          attemptsDelta: 0,
          failureReason: p.reason,
          event: EventType.failed,
        })
      : await deadLetter(deps, lane, [held], { now, when: "live", reason: () => p.reason });
  if (!m) throw new NotClaimOwnerError();
  return m.message;
}

/** release: hands the message back, pending after delayS, without counting the try. */
export async function release(deps: Deps, actor: Actor, input: unknown): Promise<Message> {
  const p = parseInput(ReleaseInput, input, "input");
  const { lane, held } = await heldOne(deps, actor, p);
  const now = deps.clock();
  const [m] = await requeue(deps, lane, [held], { now, when: "live", visibleAt: () => now + (p.delayS ?? 0) * 1000, attemptsDelta: -1, event: EventType.released });
  if (!m) throw new NotClaimOwnerError();
  return m.message;
}

/** extend: the live claim now lapses extendByS seconds from now. */
export async function extend(deps: Deps, actor: Actor, input: unknown): Promise<Message> {
  const p = parseInput(ExtendInput, input, "input");
  const { lane, held } = await heldOne(deps, actor, p);
  const now = deps.clock();
  const expiresAt = new Date(now + p.extendByS * 1000);
  if (!(await lane.extend(held, expiresAt, now))) throw new NotClaimOwnerError();
  await bestEffort(deps, () => deps.scripts.extend(lane.keys, held.message.id, held.token, expiresAt.getTime()));
  return { ...held.message, claimExpiresAt: expiresAt };
}
