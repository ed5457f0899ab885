import type { Message } from "../generated/prisma/client.js";
import type { Deps } from "./deps.js";
import { orderScore } from "./ordering.js";

/**
 * Makes committed PENDING messages claimable: each goes into its queue's Redis pending
 * set with its order score, or into the delayed set until its visibleAt.
 */
export async function enqueueMessages(deps: Pick<Deps, "scripts" | "queues">, messages: Message[]): Promise<void> {
  const groups = new Map<string, Message[]>();
  for (const m of messages) groups.set(m.queueId, [...(groups.get(m.queueId) ?? []), m]);
  await Promise.all(
    [...groups].map(async ([queueId, ms]) => {
      const q = await deps.queues.get(ms[0]!.tenantId, queueId);
      await deps.scripts.enqueue(
        deps.scripts.keys.queue(q.scopeId, q.id),
        ms.map((m) => ({ id: m.id, score: orderScore(q.ordering, m), visibleAt: m.visibleAt?.getTime() ?? 0 })),
      );
    }),
  );
}
