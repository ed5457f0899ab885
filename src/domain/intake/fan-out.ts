import type { Tx } from "../../db/client.js";
import { marks } from "../../db/sql.js";
import type { Delivery, Message } from "../../generated/prisma/client.js";
import { uuidv7 } from "../../ids.js";
import { ValidationError } from "../../errors.js";
import type { Deps } from "../deps.js";
import { orderScore } from "./ordering.js";
import type { Admitted } from "./enqueue.js";
import type { QueueInfo } from "../../db/queue-directory.js";
import { bestEffort } from "../../redis/fallback.js";
import { MESSAGE_BY_ID } from "../../db/message-rows.js";

/**
 * BROADCAST queues deliver each message to every consumer group that had joined when it
 * was published. A group joins with its first claim; from then on each message has a
 * delivery row per group (its own claim, attempts, retries, dead letter) and the group
 * has its own Redis structures (keys.queue(scope, queue, group)).
 */
const joined = new Map<string, string>();

/**
 * The group's id, creating the group on first use (safe when processes race). A queue
 * has at most MAX_CONSUMER_GROUPS_PER_QUEUE: each group costs every publish into the queue a delivery row,
 * and unbounded groups let one consumer key make every publish fail (140 groups put a
 * batch of 100 past MariaDB's 65,535 placeholders). The queue's row is locked while the
 * groups are counted, so racing joins cannot pass the bound together. Consume keys may
 * create groups, as the contract's claim does on a BROADCAST queue; the bound is what
 * keeps that from hurting anyone.
 */
export async function joinGroup(deps: Pick<Deps, "db" | "limits">, q: QueueInfo, name: string): Promise<string> {
  const key = `${q.id}/${name}`;
  const cached = joined.get(key);
  if (cached) return cached;
  const existing = await deps.db.consumerGroup.findUnique({ where: { queueId_name: { queueId: q.id, name } } });
  const id =
    existing?.id ??
    (await deps.db.$transaction(async (tx) => {
      await tx.$queryRaw`SELECT id FROM queues WHERE id = ${q.id} FOR UPDATE`;
      const groups = await tx.consumerGroup.findMany({ where: { queueId: q.id }, select: { id: true, name: true } });
      const mine = groups.find((g) => g.name === name);
      if (mine) return mine.id;
      if (groups.length >= deps.limits.consumerGroupsPerQueue) {
        throw new ValidationError([
          { field: "input.consumerGroup", message: `the queue has its most consumer groups (${deps.limits.consumerGroupsPerQueue}); use one of them` },
        ]);
      }
      const created = uuidv7();
      await tx.consumerGroup.create({ data: { id: created, queueId: q.id, tenantId: q.tenantId, name, createdAt: new Date() } });
      return created;
    }));
  if (joined.size > 100_000) joined.clear();
  joined.set(key, id);
  return id;
}

/** Delivery rows per INSERT: five placeholders each, well under MariaDB's 65,535 per statement. */
const DELIVERIES_PER_STATEMENT = 5_000;

/**
 * Inside the publish transaction: one PENDING delivery per group of each message's
 * queue. A message no group is there to receive is COMPLETED at once (like a topic
 * without subscribers). Returns the deliveries to enqueue and the messages completed.
 */
export async function fanOut(tx: Tx, messages: Message[], at: Date): Promise<{ deliveries: Delivery[]; unheard: Message[] }> {
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
  for (let i = 0; i < deliveries.length; i += DELIVERIES_PER_STATEMENT) {
    const chunk = deliveries.slice(i, i + DELIVERIES_PER_STATEMENT);
    await tx.$executeRawUnsafe(
      `INSERT INTO deliveries (messageId, groupId, queueId, tenantId, visibleAt) VALUES ${chunk.map(() => "(?, ?, ?, ?, ?)").join(", ")}`,
      ...chunk.flatMap((d) => [d.messageId, d.groupId, d.queueId, d.tenantId, d.visibleAt]),
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

/** After commit: each delivery into its group's pending (or delayed) set; `admitted` settles the groups' admissions. */
export async function enqueueDeliveries(deps: Pick<Deps, "scripts" | "queues">, deliveries: Delivery[], messages: Map<string, Message>, admitted: Admitted[] = []): Promise<void> {
  const byGroup = new Map<string, { ds: Delivery[]; a?: Admitted }>();
  for (const a of admitted) byGroup.set(a.lane.group!.id, { ds: [], a });
  for (const d of deliveries) {
    const g = byGroup.get(d.groupId) ?? { ds: [] };
    g.ds.push(d);
    byGroup.set(d.groupId, g);
  }
  await Promise.all(
    [...byGroup].map(async ([groupId, { ds, a }]) => {
      const q = a?.lane.queue ?? (await deps.queues.get(ds[0]!.tenantId, ds[0]!.queueId));
      await bestEffort(deps, () =>
        deps.scripts.enqueue(
          deps.scripts.keys.queue(q.scopeId, q.id, groupId),
          ds.map((d) => ({ id: d.messageId, score: orderScore(q.ordering, messages.get(d.messageId)!), visibleAt: d.visibleAt?.getTime() ?? 0 })),
          a ? { reservation: a.reservation, dropped: a.dropped } : null,
        ),
      );
    }),
  );
}
