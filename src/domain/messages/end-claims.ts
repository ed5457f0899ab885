import { EventType } from "../../events/message-event.js";
import { bestEffort } from "../../redis/fallback.js";
import type { Deps } from "../deps.js";
import { enqueueMessages } from "../intake/enqueue.js";
import { orderScore } from "../intake/ordering.js";
import { afterCommit } from "../outcomes/after-commit.js";
import { happenedTo } from "../outcomes/event-log.js";
import type { Ending, Held, Lane, When } from "./lanes/lane.js";

/**
 * Every way claims end, in either lane: MariaDB first (the lane's conditional change,
 * the arbiter), then the lane's Redis structures, then the dead-letter copies made
 * claimable, then what follows the commit. Resolves to the claims that ended, as the
 * lane now shows them; a claim that lapsed or was taken again meanwhile is left out.
 */
export async function endClaims(deps: Deps, lane: Lane, held: Held[], e: Ending, when: When, now: number): Promise<Held[]> {
  if (!held.length) return [];
  const at = new Date(now);
  const { ended, happened, finished } = await lane.end(held, e, when, at);
  if (ended.length && lane.queue.servedFrom === "redis") await bestEffort(deps, () => inRedis(deps, lane, ended, e, now));
  const copies = e.to === "DEAD_LETTERED" ? ended.map((h) => e.copies.get(h.message.id)!) : [];
  if (copies.length) await enqueueMessages(deps, copies);
  await afterCommit(deps, [...happened, ...happenedTo(copies, EventType.published), ...finished], at);
  return ended;
}

/** The same ending in the lane's Redis structures: settled, claimable again, or gone. */
function inRedis(deps: Deps, lane: Lane, ended: Held[], e: Ending, now: number): Promise<unknown> {
  switch (e.to) {
    case "COMPLETED":
      return deps.scripts.settle(lane.keys, now, ended.map((h) => ({ id: h.message.id, token: h.token })));
    case "PENDING":
      return deps.scripts.requeue(
        lane.keys,
        now,
        ended.map((h) => ({ id: h.message.id, score: orderScore(lane.queue.ordering, h.message), visibleAt: h.message.visibleAt!.getTime() })),
      );
    case "DEAD_LETTERED":
      return deps.scripts.remove(lane.keys, ended.map((h) => h.message.id));
  }
}
