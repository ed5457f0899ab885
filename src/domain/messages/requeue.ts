import type { EventTypeName } from "../../events/message-event.js";
import type { Deps } from "../deps.js";
import { endClaims } from "./end-claims.js";
import type { Held, Lane, When } from "./lanes/lane.js";

export type RequeueOptions = {
  now: number;
  when: When;
  /** when each message may be claimed again (ms) */
  visibleAt: (h: Held) => number;
  /** release gives the try back (−1); fail and a lapse keep it counted (0) */
  attemptsDelta: 0 | -1;
  failureReason?: string;
  event: EventTypeName;
};

/** Ends claims and makes the messages pending in their lane again (a failure with retries left, a release, a lapse). */
export function requeue(deps: Deps, lane: Lane, held: Held[], o: RequeueOptions): Promise<Held[]> {
  return endClaims(
    deps,
    lane,
    held,
    { to: "PENDING", visibleAt: o.visibleAt, attemptsDelta: o.attemptsDelta, failureReason: o.failureReason ?? null, event: o.event },
    o.when,
    o.now,
  );
}
