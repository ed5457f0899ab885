import type { Config } from "../config.js";
import type { Deps } from "../domain/deps.js";
import type { Logger } from "../logger.js";
import type { Agent } from "./agent.js";
import { messageArchiver } from "./archiver.js";
import { deadLetterMonitor } from "./dead-letter-monitor.js";
import { expiryEnforcer } from "./expiry-enforcer.js";
import { delayedPromoter, priorityAging } from "./queue-sweeps.js";
import { visibilityEnforcer } from "./visibility-enforcer.js";
import { reconcilerAgent } from "./reconciler.js";
import { completionRelay } from "./completion-relay.js";
import { gdprEraser } from "./gdpr-eraser.js";

/** The system agents every `npm start` process runs (unless SCAIQUEUE_AGENTS=off). */
export function createAgents(deps: Deps, config: Pick<Config, "agents">, log: Logger): Agent[] {
  return [
    reconcilerAgent(deps, config.agents.reconcileEveryMs, (repairs) => {
      for (const r of repairs) log.warn({ ...r, agent: "reconciler" }, "redis repaired from mariadb");
    }),
    visibilityEnforcer(deps),
    completionRelay(deps),
    expiryEnforcer(deps),
    delayedPromoter(deps),
    priorityAging(deps, config.agents.agingStepMs),
    deadLetterMonitor(deps, (counts) => {
      for (const [scopeId, n] of counts) log.warn({ scopeId, deadLettered: n, agent: "dead_letter_monitor" }, "messages dead-lettered");
    }),
    messageArchiver(deps, { afterMs: config.agents.archiveAfterMs, dropBodies: config.agents.archiveDropBodies }),
    gdprEraser(deps),
  ];
}
