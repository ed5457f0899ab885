import { EventType } from "../../events/message-event.js";
import type { Deps } from "../deps.js";
import { deadLetter } from "./dead-letter.js";
import { lapsedInGroups } from "./lanes/group.js";
import { byLane, type Held } from "./lanes/lane.js";
import { lapsedInQueues } from "./lanes/queue.js";
import { requeue } from "./requeue.js";

/**
 * Lapsed claims come back, in both lanes: claims past their claimExpiresAt (read from
 * MariaDB, the record, so this also works after Redis lost its state) are pending again
 * at once with the try counted, or dead-lettered when attempts reached maxRetries, as a
 * failure would be. `take` bounds each lane kind's read. Resolves to how many ended.
 */
export async function lapseClaims(deps: Deps, now: number, take: number): Promise<number> {
  const lapsed = [...(await lapsedInQueues(deps, now, take)), ...(await lapsedInGroups(deps, now, take))];
  let n = 0;
  for (const items of byLane(lapsed)) {
    const lane = items[0]!.lane;
    const held = items.map((i) => i.held);
    const spent = (h: Held) => h.message.attempts >= lane.queue.maxRetries;
    const requeued = await requeue(deps, lane, held.filter((h) => !spent(h)), {
      now,
      when: "lapsed",
      visibleAt: () => now,
      attemptsDelta: 0,
      failureReason: "claim lapsed after its visibility timeout",
      event: EventType.failed,
    });
    const dead = await deadLetter(deps, lane, held.filter(spent), {
      now,
      when: "lapsed",
      reason: (h) => `claim lapsed after its visibility timeout (attempt ${h.message.attempts})`,
    });
    n += requeued.length + dead.length;
  }
  return n;
}
