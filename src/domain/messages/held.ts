import type { Message } from "../../generated/prisma/client.js";
import { InvalidStateError, MessageNotFoundError, NotClaimOwnerError, ValidationError } from "../../errors.js";
import type { Actor } from "../actor.js";
import type { Deps } from "../deps.js";
import type { BatchPrefix } from "../validation.js";
import type { HeldClaim } from "../../db/message-statements.js";


/** The messages a complete/fail/release/extend names, read once (this tenant's only). */
export async function loadNamed(
  deps: Pick<Deps, "statements">,
  actor: Actor,
  items: { messageId: string }[],
  prefix: BatchPrefix,
): Promise<Map<string, Message>> {
  const ids = items.map((i) => i.messageId);
  if (new Set(ids).size !== ids.length) {
    throw new ValidationError([{ field: prefix, message: "names the same message twice" }]);
  }
  const rows = (await deps.statements.byId(ids)).filter((m) => m.tenantId === actor.tenantId);
  return new Map(rows.map((m) => [m.id, m]));
}

/** Which of the named messages are in BROADCAST queues (their claims are per-group deliveries). */
export async function inBroadcastQueues(deps: Pick<Deps, "queues">, rows: Map<string, Message>): Promise<Set<string>> {
  const out = new Set<string>();
  for (const m of rows.values()) if ((await deps.queues.get(m.tenantId, m.queueId)).consumerMode === "BROADCAST") out.add(m.id);
  return out;
}

/**
 * Checks each named message is CLAIMED by a live claim that is the caller's: the given
 * token, or, without one, a claim taken by the same API key. Any failure refuses the
 * whole call, before anything is written.
 */
export function heldClaims(
  now: number,
  actor: Actor,
  items: { messageId: string; claimToken?: string | null }[],
  rows: Map<string, Message>,
): HeldClaim[] {
  return items.map((item) => {
    const row = rows.get(item.messageId);
    if (!row) throw new MessageNotFoundError();
    if (row.state !== "CLAIMED") throw new InvalidStateError(`the message is ${row.state}, not CLAIMED`);
    const token = item.claimToken ?? (row.claimKeyId === actor.keyId ? row.claimToken : null);
    if (!token || token !== row.claimToken) throw new NotClaimOwnerError();
    if (!row.claimExpiresAt || row.claimExpiresAt.getTime() <= now) throw new NotClaimOwnerError();
    if (row.expiresAt && row.expiresAt.getTime() <= now) {
      throw new InvalidStateError(`the message expired at ${row.expiresAt.toISOString()}`);
    }
    return { row, token };
  });
}

/** Groups items by queue, for the per-queue Redis scripts. */
export function byQueue<T extends { row: Pick<Message, "queueId"> }>(items: T[]): T[][] {
  const groups = new Map<string, T[]>();
  for (const i of items) groups.set(i.row.queueId, [...(groups.get(i.row.queueId) ?? []), i]);
  return [...groups.values()];
}
