import type { Message } from "../../generated/prisma/client.js";
import type { Deps } from "../deps.js";
import { orderScore } from "./ordering.js";
import { bestEffort } from "../../redis/fallback.js";

/**
 * Makes committed PENDING messages claimable: each goes into its queue's Redis pending
 * set with its order score, or into the delayed set until its visibleAt. While Redis is
 * down this is skipped: the rows are committed, and the reconciler enqueues them later.
 */
export async function enqueueMessages(
  deps: Pick<Deps, "scripts" | "queues">,
  messages: Message[],
  admissions: Map<string, Admitted> = new Map(),
): Promise<void> {
  const groups = new Map<string, { tenantId: string; ms: Message[] }>();
  for (const [queueId, a] of admissions) groups.set(queueId, { tenantId: a.tenantId, ms: [] });
  for (const m of messages) {
    const g = groups.get(m.queueId) ?? { tenantId: m.tenantId, ms: [] };
    g.ms.push(m);
    groups.set(m.queueId, g);
  }
  await Promise.all(
    [...groups].map(async ([queueId, { tenantId, ms }]) => {
      const q = await deps.queues.get(tenantId, queueId);
      const a = admissions.get(queueId);
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

/** A queue's admission (src/domain/admission.ts), settled when its messages are enqueued. */
export type Admitted = { tenantId: string; reservation: string; dropped: string[] };
