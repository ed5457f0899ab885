import type { Deps } from "../domain/deps.js";
import { archiveFinished } from "../domain/messages/archive.js";
import { SWEEP_BATCH, type Agent } from "./agent.js";

/** Every ten seconds, finished messages past the retention are archived (domain/messages/archive.ts). */
export function messageArchiver(deps: Deps, opts: { afterMs: number; dropBodies: boolean }): Agent {
  return {
    name: "message_archiver",
    intervalMs: 10_000,
    runOnce: ({ now }) => archiveFinished(deps, now, { ...opts, take: SWEEP_BATCH }),
  };
}
