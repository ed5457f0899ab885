import { z } from "zod";
import type { Message } from "../../generated/prisma/client.js";
import { newToken } from "../../ids.js";
import { ValidationError } from "../../errors.js";
import type { Actor } from "../actor.js";
import type { Deps } from "../deps.js";
import { EventType } from "../../events/message-event.js";
import { afterCommit } from "../outcomes/after-commit.js";
import { happenedTo } from "../outcomes/event-log.js";
import { withRedis } from "../../redis/fallback.js";
import type { Db } from "../../db/client.js";
import { sqlOf } from "../../db/sql.js";
import { joinGroup } from "../intake/fan-out.js";
import { claimForGroup, claimForGroupFromMariaDb } from "./lanes/group.js";
import type { QueueInfo } from "../../db/queue-directory.js";
import { intIn, parseInput, text, visibilityTimeoutS } from "../validation.js";
import { recordClaims, type ClaimRecord } from "../../db/message-statements.js";


export const MAX_CLAIM_BATCH = 100;

const ClaimInput = z.object({
  queueId: z.string(),
  batchSize: intIn(1, MAX_CLAIM_BATCH).nullish(),
  visibilityTimeoutS: visibilityTimeoutS.nullish(),
  consumerId: text(200).nullish(),
  consumerGroup: text(64).nullish(),
});

/** A paused or archived queue or scope hands out nothing; a draining one goes on until empty. */
const serving = (q: QueueInfo): boolean =>
  (q.state === "ACTIVE" || q.state === "DRAINING") && (q.scopeState === "ACTIVE" || q.scopeState === "DRAINING");

/**
 * Claims up to batchSize messages: one Lua script pops them and takes their locks
 * atomically across processes, then one UPDATE records the claims in MariaDB (shared
 * with the claims of this moment, message-statements.ts). While
 * Redis is down, MariaDB alone does it (claimFromMariaDb).
 */
/** A message handed out by claim, with the token only its claimer is shown. */
export type Claimed = { message: Message; claimToken: string };

export async function claim(deps: Deps, actor: Actor, input: unknown): Promise<Claimed[]> {
  const data = parseInput(ClaimInput, input, "input");
  const q = await deps.queues.get(actor.tenantId, data.queueId);
  const broadcast = q.consumerMode === "BROADCAST";
  if (broadcast && !data.consumerGroup) {
    throw new ValidationError([{ field: "input.consumerGroup", message: "is required on BROADCAST queues" }]);
  }
  if (!serving(q)) return [];

  const now = deps.clock();
  const claim: Claim = {
    n: data.batchSize ?? 1,
    now,
    visibilityMs: (data.visibilityTimeoutS ?? q.visibilityTimeoutS) * 1000,
    claimedBy: data.consumerId ?? actor.keyId,
    keyId: actor.keyId,
  };
  const groupId = broadcast ? await joinGroup(deps, q, data.consumerGroup!) : null;
  const claimed = groupId
    ? await withRedis(deps, () => claimForGroup(deps, q, groupId, claim), () => claimForGroupFromMariaDb(deps, q, groupId, claim))
    : q.servedFrom === "mariadb"
      ? await deps.stagedEvents.materialize([q.id]).then(() => claimFromMariaDb(deps, q, claim))
      : await withRedis(deps, () => claimThroughRedis(deps, q, claim), () => claimFromMariaDb(deps, q, claim));
  await afterCommit(deps, happenedTo(claimed, EventType.claimed), new Date(now));
  return claimed.map((message) => ({ message, claimToken: message.claimToken! }));
}

type Claim = { n: number; now: number; visibilityMs: number; claimedBy: string; keyId: string };

/** Rounds of popping again when popped ids turned out unclaimable (expired, not swept yet). */
const MAX_ROUNDS = 5;

async function claimThroughRedis(deps: Deps, q: QueueInfo, c: Claim): Promise<Message[]> {
  const keys = deps.scripts.keys.queue(q.scopeId, q.id);
  const claimed: Message[] = [];
  for (let round = 0; round < MAX_ROUNDS && claimed.length < c.n; round++) {
    const wanted = c.n - claimed.length;
    const got = await deps.scripts.claim(keys, { now: c.now, visibilityMs: c.visibilityMs, tokens: Array.from({ length: wanted }, newToken) });
    if (!got.length) break;
    const mine = await deps.statements.claim(got.map((g) => claimRecord(g, c)));
    claimed.push(...mine);
    const ok = new Set(mine.map((m) => m.id));
    // the record says these are not claimable (expired, or ended meanwhile): drop their locks
    const stale = got.filter((g) => !ok.has(g.id));
    if (!stale.length) break;
    await deps.scripts.settle(keys, c.now, stale);
  }
  return claimed;
}

const SQL_ORDER: Record<QueueInfo["ordering"], string> = {
  FIFO: "id",
  PRIORITY: "FIELD(priorityTier, 'CRITICAL', 'HIGH', 'NORMAL', 'LOW', 'BACKGROUND'), priorityScore DESC, id",
  DEADLINE: "deadline IS NULL, deadline, id",
};

/**
 * The path while Redis is down: MariaDB alone picks and locks the rows
 * (FOR UPDATE SKIP LOCKED, so concurrent claimers take different ones) in the queue's
 * order. Slower than Redis, and it stays correct alongside processes that still reach
 * Redis, since both record a claim only on a row that is still PENDING.
 */
async function claimFromMariaDb(deps: Deps, q: QueueInfo, c: Claim): Promise<Message[]> {
  return deps.db.$transaction(async (txClient) => {
    const tx = sqlOf(txClient as unknown as Db);
    const at = new Date(c.now);
    const rows = await tx.rows<{ id: string }>(
      `SELECT id FROM messages WHERE queueId = ? AND state = 'PENDING' AND (visibleAt IS NULL OR visibleAt <= ?)
         AND (expiresAt IS NULL OR expiresAt > ?) ORDER BY ${SQL_ORDER[q.ordering]} LIMIT ? FOR UPDATE SKIP LOCKED`,
      [q.id, at, at, c.n],
    );
    if (!rows.length) return [];
    const claimed = await recordClaims(tx, rows.map((r) => claimRecord({ id: r.id, token: newToken() }, c)));
    return claimed.filter((m): m is Message => m !== null);
  });
}

function claimRecord(g: { id: string; token: string }, c: Claim): ClaimRecord {
  return { ...g, claimedBy: c.claimedBy, keyId: c.keyId, claimedAt: new Date(c.now), claimExpiresAt: new Date(c.now + c.visibilityMs) };
}
