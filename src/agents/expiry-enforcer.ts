import type { Deps } from "../domain/deps.js";
import { expireDue } from "../domain/messages/expire.js";
import { SWEEP_BATCH, type Agent } from "./agent.js";

/** Every second, messages past their ttl or deadline expire (domain/messages/expire.ts). */
export function expiryEnforcer(deps: Deps): Agent {
  return {
    name: "expiry_enforcer",
    intervalMs: 1000,
    runOnce: ({ now }) => expireDue(deps, now, SWEEP_BATCH),
  };
}
