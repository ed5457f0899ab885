import type { Message } from "../../generated/prisma/client.js";
import { InvalidStateError, MessageNotFoundError, NotClaimOwnerError, ValidationError } from "../../errors.js";
import type { Actor } from "../actor.js";
import type { Deps } from "../deps.js";
import type { QueueInfo } from "../../db/queue-directory.js";
import type { BatchPrefix } from "../validation.js";
import { heldInGroups } from "./lanes/group.js";
import type { Held, Lane } from "./lanes/lane.js";
import { queueLane } from "./lanes/queue.js";

type Named = { messageId: string; claimToken?: string | null };

/**
 * The claims a complete, fail, release or extend names, each with its lane, in the
 * order named: the message's own claim in a COMPETING queue, its group's delivery in a
 * BROADCAST one. Each must be a live claim of the caller's (the given token, or without
 * one a claim taken by the same API key); any failure refuses the whole call, before
 * anything is written.
 */
export async function heldOf(deps: Deps, actor: Actor, items: Named[], prefix: BatchPrefix): Promise<{ lane: Lane; held: Held }[]> {
  const ids = items.map((i) => i.messageId);
  if (new Set(ids).size !== ids.length) {
    throw new ValidationError([{ field: prefix, message: "names the same message twice" }]);
  }
  const rows = new Map((await deps.statements.byId(ids)).filter((m) => m.tenantId === actor.tenantId).map((m) => [m.id, m]));
  const now = deps.clock();
  const queues = new Map<string, QueueInfo>();
  const inGroups: Named[] = [];
  for (const item of items) {
    const row = rows.get(item.messageId);
    if (!row) continue;
    const q = queues.get(row.queueId) ?? (await deps.queues.get(row.tenantId, row.queueId));
    queues.set(q.id, q);
    if (q.consumerMode === "BROADCAST") inGroups.push(item);
  }
  const inLanes = inGroups.length ? await heldInGroups(deps, actor, inGroups, rows, now) : [];
  const groups = new Map(inLanes.map((g, i) => [inGroups[i]!.messageId, g]));
  const out: { lane: Lane; held: Held }[] = [];
  for (const item of items) {
    const g = groups.get(item.messageId);
    if (g) {
      out.push(g);
      continue;
    }
    const held = ownClaim(now, actor, item, rows.get(item.messageId));
    out.push({ lane: queueLane(deps, queues.get(held.message.queueId)!), held });
  }
  return out;
}

/** The one claim a fail, release or extend names. */
export async function heldOne(deps: Deps, actor: Actor, item: Named): Promise<{ lane: Lane; held: Held }> {
  return (await heldOf(deps, actor, [item], "input"))[0]!;
}

/** A COMPETING message's claim, checked: CLAIMED, the caller's, live, and the message not past its ttl or deadline. */
function ownClaim(now: number, actor: Actor, item: Named, row: Message | undefined): Held {
  if (!row) throw new MessageNotFoundError();
  if (row.state !== "CLAIMED") throw new InvalidStateError(`the message is ${row.state}, not CLAIMED`);
  const token = item.claimToken ?? (row.claimKeyId === actor.keyId ? row.claimToken : null);
  if (!token || token !== row.claimToken) throw new NotClaimOwnerError();
  if (!row.claimExpiresAt || row.claimExpiresAt.getTime() <= now) throw new NotClaimOwnerError();
  if (row.expiresAt && row.expiresAt.getTime() <= now) {
    throw new InvalidStateError(`the message expired at ${row.expiresAt.toISOString()}`);
  }
  return { message: row, token };
}
