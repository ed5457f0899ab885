import { z } from "zod";
import type { Message } from "../../generated/prisma/client.js";
import type { QueueInfo } from "../../db/queue-directory.js";
import { ValidationError } from "../../errors.js";
import { EventType } from "../../events/message-event.js";
import { newToken } from "../../ids.js";
import { withRedis } from "../../redis/fallback.js";
import type { Actor } from "../actor.js";
import type { Deps } from "../deps.js";
import { joinGroup } from "../intake/fan-out.js";
import { afterCommit } from "../outcomes/after-commit.js";
import { happenedTo } from "../outcomes/event-log.js";
import { intIn, parseInput, text, visibilityTimeoutS } from "../validation.js";
import { groupLane } from "./lanes/group.js";
import type { ClaimSpec, Lane } from "./lanes/lane.js";
import { queueLane } from "./lanes/queue.js";

export const MAX_CLAIM_BATCH = 100;

const ClaimInput = z.object({
  queueId: z.string(),
  batchSize: intIn(1, MAX_CLAIM_BATCH).nullish(),
  visibilityTimeoutS: visibilityTimeoutS.nullish(),
  consumerId: text(200).nullish(),
  consumerGroup: text(64).nullish(),
});

/** A message handed out by claim, with the token only its claimer is shown. */
export type Claimed = { message: Message; claimToken: string };

/** A paused or archived queue or scope hands out nothing; a draining one goes on until empty. */
const serving = (q: QueueInfo): boolean =>
  (q.state === "ACTIVE" || q.state === "DRAINING") && (q.scopeState === "ACTIVE" || q.scopeState === "DRAINING");

/**
 * Claims up to batchSize messages from the queue's lane (a BROADCAST queue's: the
 * consumer group's, which joins with its first claim): one Lua script pops them and
 * takes their locks atomically across processes, then one UPDATE records the claims in
 * MariaDB (shared with the claims of this moment, db/message-statements.ts). While Redis
 * is down, MariaDB alone does it.
 */
export async function claim(deps: Deps, actor: Actor, input: unknown): Promise<Claimed[]> {
  const data = parseInput(ClaimInput, input, "input");
  const q = await deps.queues.get(actor.tenantId, data.queueId);
  if (q.consumerMode === "BROADCAST" && !data.consumerGroup) {
    throw new ValidationError([{ field: "input.consumerGroup", message: "is required on BROADCAST queues" }]);
  }
  if (!serving(q)) return [];

  const now = deps.clock();
  const spec: ClaimSpec = {
    n: data.batchSize ?? 1,
    now,
    visibilityMs: (data.visibilityTimeoutS ?? q.visibilityTimeoutS) * 1000,
    claimedBy: data.consumerId ?? actor.keyId,
    keyId: actor.keyId,
  };
  const lane =
    q.consumerMode === "BROADCAST" ? groupLane(deps, q, { id: await joinGroup(deps, q, data.consumerGroup!), name: data.consumerGroup! }) : queueLane(deps, q);
  const claimed =
    q.servedFrom === "mariadb"
      ? await deps.stagedEvents.materialize([q.id]).then(() => lane.claimFromMariaDb(spec))
      : await withRedis(deps, () => claimThroughRedis(deps, lane, spec), () => lane.claimFromMariaDb(spec));
  await afterCommit(deps, happenedTo(claimed, EventType.claimed), new Date(now));
  return claimed.map((message) => ({ message, claimToken: message.claimToken! }));
}

/** Rounds of popping again when popped ids turned out unclaimable (expired, not swept yet). */
const MAX_ROUNDS = 5;

async function claimThroughRedis(deps: Deps, lane: Lane, c: ClaimSpec): Promise<Message[]> {
  const claimed: Message[] = [];
  for (let round = 0; round < MAX_ROUNDS && claimed.length < c.n; round++) {
    const wanted = c.n - claimed.length;
    const got = await deps.scripts.claim(lane.keys, { now: c.now, visibilityMs: c.visibilityMs, tokens: Array.from({ length: wanted }, newToken) });
    if (!got.length) break;
    const mine = await lane.recordClaims(got, c);
    claimed.push(...mine);
    const ok = new Set(mine.map((m) => m.id));
    // the record says these are not claimable (expired, or ended meanwhile): drop their locks
    const stale = got.filter((g) => !ok.has(g.id));
    if (!stale.length) break;
    await deps.scripts.settle(lane.keys, c.now, stale);
  }
  return claimed;
}
