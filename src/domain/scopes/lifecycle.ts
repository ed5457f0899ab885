import type { LifecycleState } from "../../generated/prisma/client.js";
import { InvalidStateError } from "../../errors.js";

export type LifecycleAction = "pause" | "resume" | "drain" | "archive" | "unarchive";

/**
 * The state a scope or queue moves to, or INVALID_STATE. An archived one must be
 * unarchived (it comes back PAUSED) before it can be resumed or drained; draining stops
 * publishes while claims go on, and stays DRAINING until resumed, paused or archived.
 */
export function nextState(current: LifecycleState, action: LifecycleAction): LifecycleState {
  if (action === "archive") return "ARCHIVED";
  if (action === "unarchive") {
    if (current !== "ARCHIVED") throw new InvalidStateError(`only an archived one can be unarchived; it is ${current}`);
    return "PAUSED";
  }
  if (current === "ARCHIVED") throw new InvalidStateError(`it is ARCHIVED; unarchive it first`);
  return ({ pause: "PAUSED", resume: "ACTIVE", drain: "DRAINING" } as const)[action];
}
