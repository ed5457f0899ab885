import type { Depth } from "../../redis/scripts.js";
import { withRedis } from "../../redis/fallback.js";
import type { QueueInfo } from "../../db/queue-directory.js";
import { marks } from "../../db/sql.js";
import type { Actor } from "../actor.js";
import type { Deps } from "../deps.js";

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
