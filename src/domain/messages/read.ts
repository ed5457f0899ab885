import { marks } from "../../db/sql.js";
import type { Message, MessageState } from "../../generated/prisma/client.js";
import { isUuid } from "../../ids.js";
import { QueueNotFoundError, ScopeNotFoundError, ValidationError } from "../../errors.js";
import type { Actor } from "../actor.js";
import type { Deps } from "../deps.js";
import type { Depth } from "../../redis/scripts.js";
import { withRedis } from "../../redis/fallback.js";
import type { QueueInfo } from "../../db/queue-directory.js";

import { EVENT_CONTENT_TYPE } from "../../db/staged-events.js";

export const MAX_PAGE = 500;

export async function getMessage({ db }: Pick<Deps, "db">, actor: Actor, id: string): Promise<Message | null> {
  if (!isUuid(id)) return null;
  return db.message.findFirst({ where: { id, tenantId: actor.tenantId } });
}

/** A message's body as it is now (events do not carry it); null once the row is gone. */
export const bodyOf = async (deps: Pick<Deps, "statements">, id: string): Promise<unknown> => (await deps.statements.byId([id]))[0]?.body ?? null;

export type MessageFilter = {
  queueId?: string | null;
  scopeId?: string | null;
  correlationId?: string | null;
  state?: MessageState | null;
  first?: number | null;
  after?: string | null;
};

export type MessagePage = { edges: { cursor: string; node: Message }[]; hasNextPage: boolean; endCursor: string | null };

const encodeCursor = (id: string) => Buffer.from(id).toString("base64url");
function decodeCursor(cursor: string): string {
  const id = Buffer.from(cursor, "base64url").toString();
  if (!isUuid(id)) throw new ValidationError([{ field: "after", message: "not a cursor of this list" }]);
  return id;
}

/**
 * Messages in publish order (ids are UUIDv7), a page at a time. Each filter combination
 * has an index that starts with it (see prisma/schema.prisma).
 */
export async function listMessages(deps: Pick<Deps, "sql" | "queues" | "stagedEvents">, actor: Actor, f: MessageFilter): Promise<MessagePage> {
  const first = f.first ?? 50;
  if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE) {
    throw new ValidationError([{ field: "first", message: `must be 1 to ${MAX_PAGE}` }]);
  }
  if (f.queueId != null && !isUuid(f.queueId)) throw new QueueNotFoundError();
  if (f.scopeId != null && !isUuid(f.scopeId)) throw new ScopeNotFoundError();
  if (f.queueId != null) {
    // an `_events` queue's listing includes its staged events (the other listings leave `_events` out)
    const q = await deps.queues.get(actor.tenantId, f.queueId).catch((err: unknown) => {
      if (err instanceof QueueNotFoundError) return null; // lists nothing, as any unknown queue
      throw err;
    });
    if (q && q.servedFrom === "mariadb") await deps.stagedEvents.materialize([q.id]);
  }
  const conditions: [string, unknown][] = [["tenantId = ?", actor.tenantId]];
  if (f.queueId != null) conditions.push(["queueId = ?", f.queueId]);
  else conditions.push(["contentType <> ?", EVENT_CONTENT_TYPE]);
  if (f.scopeId != null) conditions.push(["scopeId = ?", f.scopeId]);
  if (f.correlationId != null) conditions.push(["correlationId = ?", f.correlationId]);
  if (f.state != null) conditions.push(["state = ?", f.state]);
  if (f.after != null) conditions.push(["id > ?", decodeCursor(f.after)]);
  // On the mariadb driver: a page of large bodies through Prisma's adapter cost several
  // times the CPU, and a view key may ask for many pages at once (the cost limit allows it)
  const rows = await deps.sql.rows<Message>(
    `SELECT * FROM messages WHERE ${conditions.map(([c]) => c).join(" AND ")} ORDER BY id LIMIT ?`,
    [...conditions.map(([, v]) => v), first + 1],
  );
  const page = rows.slice(0, first);
  return {
    edges: page.map((node) => ({ cursor: encodeCursor(node.id), node })),
    hasNextPage: rows.length > first,
    endCursor: page.length ? encodeCursor(page[page.length - 1]!.id) : null,
  };
}

export type QueueDepth = { pending: number; claimed: number; delayed: number };

/** Read from the queue's Redis sets in one atomic step, so the three numbers agree. */
export async function queueDepth(
  deps: Pick<Deps, "scripts" | "queues" | "db" | "clock" | "stagedEvents">,
  actor: Actor,
  queueId: string,
  consumerGroup?: string | null,
): Promise<QueueDepth> {
  const q = await deps.queues.get(actor.tenantId, queueId);
  return depthOfQueue(deps, q, consumerGroup);
}

/**
 * A COMPETING queue's depth; a BROADCAST queue's is that of one consumer group, or
 * without a group the sum over its groups (each message counted once per group).
 */
export async function depthOfQueue(
  deps: Pick<Deps, "scripts" | "db" | "clock" | "stagedEvents">,
  q: Pick<QueueInfo, "id" | "scopeId" | "consumerMode" | "servedFrom">,
  consumerGroup?: string | null,
): Promise<QueueDepth> {
  if (q.servedFrom === "mariadb") return depthOfEvents(deps, [q.id]).then((d) => d[0]!);
  if (q.consumerMode !== "BROADCAST") return depthOf(deps, q.scopeId, q.id);
  const groups = await deps.db.consumerGroup.findMany({ where: { queueId: q.id, ...(consumerGroup ? { name: consumerGroup } : {}) } });
  const each = await Promise.all(groups.map((g) => depthOf(deps, q.scopeId, q.id, g.id)));
  return each.reduce((a, d) => ({ pending: a.pending + d.pending, claimed: a.claimed + d.claimed, delayed: a.delayed + d.delayed }), {
    pending: 0,
    claimed: 0,
    delayed: 0,
  });
}

async function depthOf(deps: Pick<Deps, "scripts" | "db" | "clock">, scopeId: string, queueId: string, groupId?: string): Promise<QueueDepth> {
  return withRedis(
    deps,
    async () => {
      const d: Depth = await deps.scripts.depth(deps.scripts.keys.queue(scopeId, queueId, groupId));
      return { pending: d.ready + d.delayed, claimed: d.claimed, delayed: d.delayed };
    },
    // While Redis is down, MariaDB's counts (slower, and not one atomic snapshot).
    () => depthFromMariaDb(deps, queueId, groupId),
  );
}

async function depthFromMariaDb(deps: Pick<Deps, "db" | "clock">, queueId: string, groupId?: string): Promise<QueueDepth> {
  if (!groupId) return (await depthsFromMariaDb(deps, [queueId]))[0]!;
  const later = { gt: new Date(deps.clock()) };
  const [pending, claimed, delayed] = await Promise.all([
    deps.db.delivery.count({ where: { groupId, state: "PENDING" } }),
    deps.db.delivery.count({ where: { groupId, state: "CLAIMED" } }),
    deps.db.delivery.count({ where: { groupId, state: "PENDING", visibleAt: later } }),
  ]);
  return { pending, claimed, delayed };
}

/** `_events` queues' depths, their staged events counted in (moved into `messages` first). */
export async function depthOfEvents(deps: Pick<Deps, "db" | "clock" | "stagedEvents">, queueIds: readonly string[]): Promise<QueueDepth[]> {
  await deps.stagedEvents.materialize(queueIds);
  return depthsFromMariaDb(deps, queueIds);
}

/**
 * Queue depths counted in MariaDB, one grouped statement for any number of queues:
 * the `_events` queues always (listings batch them), other queues while Redis is down.
 */
async function depthsFromMariaDb(deps: Pick<Deps, "db" | "clock">, queueIds: readonly string[]): Promise<QueueDepth[]> {
  const rows = await deps.db.$queryRawUnsafe<{ queueId: string; pending: unknown; claimed: unknown; delayed: unknown }[]>(
    `SELECT queueId, SUM(state = 'PENDING') AS \`pending\`, SUM(state = 'CLAIMED') AS \`claimed\`,
       SUM(state = 'PENDING' AND visibleAt > ?) AS \`delayed\`
     FROM messages WHERE queueId IN (${marks(queueIds)}) AND state IN ('PENDING', 'CLAIMED') GROUP BY queueId`,
    new Date(deps.clock()),
    ...queueIds,
  );
  const by = new Map(rows.map((r) => [r.queueId, { pending: Number(r.pending), claimed: Number(r.claimed), delayed: Number(r.delayed ?? 0) }]));
  return queueIds.map((id) => by.get(id) ?? { pending: 0, claimed: 0, delayed: 0 });
}
