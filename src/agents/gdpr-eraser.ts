import type { Deps } from "../domain/deps.js";
import { ERASER_DEFAULTS, runErasures, type EraserOptions } from "../domain/erasure/run.js";
import type { Agent } from "./agent.js";

/**
 * Runs GDPR erasure jobs (src/domain/erasure/run.ts): new ones, and those a process left
 * RUNNING when it stopped, from where their job row says. Returns the messages erased.
 */
export function gdprEraser(deps: Deps, opts: EraserOptions = ERASER_DEFAULTS): Agent {
  return {
    name: "gdpr_eraser",
    intervalMs: 1000,
    runOnce: ({ now }) => runErasures(deps, now, opts),
  };
}
