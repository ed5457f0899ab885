import type { Message } from "../../generated/prisma/client.js";
import type { Deps } from "../deps.js";
import type { Lane } from "../messages/lanes/lane.js";
import { orderScore } from "./ordering.js";
import { bestEffort } from "../../redis/fallback.js";

/** A lane's admission (intake/admission.ts), settled when its messages are enqueued: the reservation, and the ids its queue dropped. */
export type Admitted = { lane: Lane; reservation: string; dropped: string[] };

/**
 * Makes committed PENDING messages of COMPETING queues claimable: each goes into its
 * queue's Redis pending set with its order score, or into the delayed set until its
 * visibleAt; `admitted` settles the queues' admissions (intake/fan-out.ts does the same
 * for consumer groups). While Redis is down this is skipped: the rows are committed, and
 * the reconciler enqueues them later.
 */
export async function enqueueMessages(deps: Pick<Deps, "scripts" | "queues">, messages: Message[], admitted: Admitted[] = []): Promise<void> {
  const groups = new Map<string, { tenantId: string; ms: Message[]; a?: Admitted }>();
  for (const a of admitted) groups.set(a.lane.queue.id, { tenantId: a.lane.queue.tenantId, ms: [], a });
  for (const m of messages) {
    const g = groups.get(m.queueId) ?? { tenantId: m.tenantId, ms: [] };
    g.ms.push(m);
    groups.set(m.queueId, g);
  }
  await Promise.all(
    [...groups].map(async ([queueId, { tenantId, ms, a }]) => {
      const q = await deps.queues.get(tenantId, queueId);
      await bestEffort(deps, () =>
        deps.scripts.enqueue(
          deps.scripts.keys.queue(q.scopeId, q.id),
          ms.map((m) => ({ id: m.id, score: orderScore(q.ordering, m), visibleAt: m.visibleAt?.getTime() ?? 0 })),
          a ? { reservation: a.reservation, dropped: a.dropped } : null,
        ),
      );
    }),
  );
}
