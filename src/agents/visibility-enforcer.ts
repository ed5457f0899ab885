import type { Deps } from "../domain/deps.js";
import { lapseClaims } from "../domain/messages/lapse.js";
import { SWEEP_BATCH, type Agent } from "./agent.js";

/** Every second, lapsed claims come back (domain/messages/lapse.ts), in COMPETING queues and consumer groups alike. */
export function visibilityEnforcer(deps: Deps): Agent {
  return {
    name: "visibility_timeout_enforcer",
    intervalMs: 1000,
    runOnce: ({ now }) => lapseClaims(deps, now, SWEEP_BATCH),
  };
}
