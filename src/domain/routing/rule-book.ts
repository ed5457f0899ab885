import type { Db } from "../../db/client.js";
import type { RoutingRule } from "../../generated/prisma/client.js";
import { parseAction, type Action } from "./action.js";
import { parseCondition, type Condition } from "./condition.js";

/** A rule as routing uses it: condition and action already parsed. */
export type LoadedRule = RoutingRule & { parsed: { condition: Condition; action: Action } };

/** How long a process trusts its copy of a scope's rules; a change made elsewhere shows within it. */
const TTL_MS = 1000;

/** Cached rules per scope, in the order they are tried; saving a rule here drops the copy at once. */
export class RuleBook {
  private readonly cache = new Map<string, { until: number; rules: Promise<LoadedRule[]> }>();

  constructor(private readonly db: Db) {}

  async of(scopeId: string, now = Date.now()): Promise<LoadedRule[]> {
    const hit = this.cache.get(scopeId);
    if (hit && hit.until > now) return hit.rules;
    const rules = this.db.routingRule
      .findMany({ where: { scopeId, enabled: true }, orderBy: [{ position: "asc" }, { id: "asc" }] })
      .then((rows) => rows.map(load));
    if (this.cache.size > 50_000) this.cache.clear();
    this.cache.set(scopeId, { until: now + TTL_MS, rules });
    rules.catch(() => this.cache.delete(scopeId));
    return rules;
  }

  forget(scopeId: string): void {
    this.cache.delete(scopeId);
  }
}

function load(rule: RoutingRule): LoadedRule {
  // saved rules passed the same checks, so these parse
  const condition = parseCondition(rule.condition, "condition").condition!;
  const action = parseAction(rule.action, "action").action!;
  return { ...rule, parsed: { condition, action } };
}
