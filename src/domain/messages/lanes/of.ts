import type { QueueInfo } from "../../../db/queue-directory.js";
import type { Deps } from "../../deps.js";
import { groupLanes } from "./group.js";
import type { Lane } from "./lane.js";
import { queueLane } from "./queue.js";

/** Every lane of a queue: itself when COMPETING, each of its consumer groups when BROADCAST. */
export async function lanesOf(deps: Deps, q: QueueInfo): Promise<Lane[]> {
  return q.consumerMode === "BROADCAST" ? groupLanes(deps, q) : [queueLane(deps, q)];
}
