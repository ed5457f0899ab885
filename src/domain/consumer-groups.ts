import type { Db } from "../db/client.js";
import { marks } from "../db/sql.js";
import type { Delivery, Message } from "../generated/prisma/client.js";
import { uuidv7 } from "../ids.js";
import type { Deps } from "./deps.js";
import { orderScore } from "./ordering.js";
import type { QueueInfo } from "./queue-directory.js";
import { bestEffort } from "./redis-fallback.js";
import { MESSAGE_BY_ID } from "./message-rows.js";

/**
 * BROADCAST queues deliver each message to every consumer group that had joined when it
 * was published. A group joins with its first claim; from then on each message has a
 * delivery row per group (its own claim, attempts, retries, dead letter) and the group
 * has its own Redis structures (keys.queue(scope, queue, group)).
 */
const joined = new Map<string, string>();

/** The group's id, creating the group on first use (safe when processes race). */
export async function joinGroup(deps: Pick<Deps, "db">, q: QueueInfo, name: string): Promise<string> {
  const key = `${q.id}/${name}`;
  const cached = joined.get(key);
  if (cached) return cached;
  await deps.db.$executeRaw`INSERT INTO consumer_groups (id, queueId, tenantId, name, createdAt)
    VALUES (${uuidv7()}, ${q.id}, ${q.tenantId}, ${name}, ${new Date()}) ON DUPLICATE KEY UPDATE id = id`;
  const group = await deps.db.consumerGroup.findUniqueOrThrow({ where: { queueId_name: { queueId: q.id, name } } });
  joined.set(key, group.id);
  return group.id;
}

/**
 * Inside the publish transaction: one PENDING delivery per group of each message's
 * queue. A message no group is there to receive is COMPLETED at once (like a topic
 * without subscribers). Returns the deliveries to enqueue and the messages completed.
 */
export async function fanOut(tx: Db, messages: Message[], at: Date): Promise<{ deliveries: Delivery[]; unheard: Message[] }> {
  if (!messages.length) return { deliveries: [], unheard: [] };
  const groups = await tx.consumerGroup.findMany({ where: { queueId: { in: [...new Set(messages.map((m) => m.queueId))] } } });
  const deliveries: Delivery[] = messages.flatMap((m) =>
    groups
      .filter((g) => g.queueId === m.queueId)
      .map((g) => ({
        messageId: m.id,
        groupId: g.id,
        queueId: m.queueId,
        tenantId: m.tenantId,
        state: "PENDING" as const,
        attempts: 0,
        claimToken: null,
        claimedBy: null,
        claimKeyId: null,
        claimExpiresAt: null,
        claimedAt: null,
        visibleAt: m.visibleAt,
        completedAt: null,
        finishedAt: null,
        failureReason: null,
        response: null,
      })),
  );
  if (deliveries.length) {
    await tx.$executeRawUnsafe(
      `INSERT INTO deliveries (messageId, groupId, queueId, tenantId, visibleAt) VALUES ${deliveries.map(() => "(?, ?, ?, ?, ?)").join(", ")}`,
      ...deliveries.flatMap((d) => [d.messageId, d.groupId, d.queueId, d.tenantId, d.visibleAt]),
    );
  }
  const heard = new Set(deliveries.map((d) => d.messageId));
  const unheard = messages.filter((m) => !heard.has(m.id)).map((m): Message => ({ ...m, state: "COMPLETED", completedAt: at, finishedAt: at }));
  if (unheard.length) {
    await tx.$executeRawUnsafe(
      `UPDATE ${MESSAGE_BY_ID} SET state = 'COMPLETED', completedAt = ?, finishedAt = ? WHERE id IN (${marks(unheard)})`,
      at,
      at,
      ...unheard.map((m) => m.id),
    );
  }
  return { deliveries, unheard };
}

/** After commit: each delivery into its group's pending (or delayed) set. */
export async function enqueueDeliveries(deps: Pick<Deps, "scripts" | "queues">, deliveries: Delivery[], messages: Map<string, Message>): Promise<void> {
  const byGroup = new Map<string, Delivery[]>();
  for (const d of deliveries) byGroup.set(d.groupId, [...(byGroup.get(d.groupId) ?? []), d]);
  await Promise.all(
    [...byGroup.values()].map(async (ds) => {
      const q = await deps.queues.get(ds[0]!.tenantId, ds[0]!.queueId);
      await bestEffort(deps, () =>
        deps.scripts.enqueue(
          deps.scripts.keys.queue(q.scopeId, q.id, ds[0]!.groupId),
          ds.map((d) => {
            const m = messages.get(d.messageId)!;
            return { id: d.messageId, score: orderScore(q.ordering, m), visibleAt: d.visibleAt?.getTime() ?? 0 };
          }),
        ),
      );
    }),
  );
}

/** The message as one group sees it: the delivery's state, attempts, claim and outcome. */
export function asSeenBy(m: Message, d: Delivery): Message {
  return {
    ...m,
    state: d.state,
    attempts: d.attempts,
    claimToken: d.claimToken,
    claimedBy: d.claimedBy,
    claimKeyId: d.claimKeyId,
    claimExpiresAt: d.claimExpiresAt,
    claimedAt: d.claimedAt,
    visibleAt: d.visibleAt,
    completedAt: d.completedAt,
    finishedAt: d.finishedAt,
    failureReason: d.failureReason,
    response: d.response,
  };
}
