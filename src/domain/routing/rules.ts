import { z } from "zod";
import type { Db } from "../../db/client.js";
import type { RoutingRule, RoutingTrigger } from "../../generated/prisma/client.js";
import { isUuid, uuidv7 } from "../../ids.js";
import { ValidationError, type ErrorDetail } from "../../errors.js";
import type { Actor } from "../actor.js";
import type { Deps } from "../deps.js";
import { requireScope } from "../scopes/scopes.js";
import { intIn, parseInput, text } from "../validation.js";
import { parseAction } from "./action.js";
import { parseCondition } from "./condition.js";

export const MAX_RULES_PER_SCOPE = 200;
const MAX_CONDITION_BYTES = 16 * 1024;

const RuleInput = z.object({
  scopeId: z.string(),
  name: text(200),
  position: intIn(0, 1_000_000).nullish(),
  enabled: z.boolean().nullish(),
  trigger: z.enum(["MESSAGE_PUBLISHED", "MESSAGE_COMPLETED", "MESSAGE_FAILED", "MESSAGE_DEAD_LETTERED"]).nullish(),
  sourceQueueId: z.string().nullish(),
  condition: z.custom<unknown>((v) => v !== undefined, "is required"),
  action: z.custom<unknown>((v) => v !== undefined, "is required"),
});

/**
 * Checks a rule completely before it is saved: its shape, the condition and action
 * (each bad part named by its path under input.condition / input.action), and that its
 * queues are ordinary queues of the same scope.
 */
async function checkRule(db: Db, actor: Actor, input: unknown) {
  const data = parseInput(RuleInput, input, "input");
  const scope = await requireScope(db, actor, data.scopeId);
  const problems: ErrorDetail[] = [];
  if (Buffer.byteLength(JSON.stringify(data.condition) ?? "") > MAX_CONDITION_BYTES) {
    problems.push({ field: "input.condition", message: `at most ${MAX_CONDITION_BYTES} bytes` });
  } else problems.push(...parseCondition(data.condition, "input.condition").problems);
  const { action, problems: actionProblems } = parseAction(data.action, "input.action");
  problems.push(...actionProblems);
  const queueOfScope = async (id: string, field: string) => {
    const q = isUuid(id) ? await db.queue.findFirst({ where: { id, tenantId: actor.tenantId } }) : null;
    if (!q || q.scopeId !== scope.id) problems.push({ field, message: "no queue with this id in the rule's scope" });
    else if (q.system) problems.push({ field, message: `${q.slug} is a system queue: rules neither read nor write system queues` });
  };
  if (data.sourceQueueId) await queueOfScope(data.sourceQueueId, "input.sourceQueueId");
  if (action?.targetQueueId) await queueOfScope(action.targetQueueId, "input.action.targetQueueId");
  if (problems.length) throw new ValidationError(problems);
  return { data, scope };
}

/** The columns a checked input sets, on create and on update alike. */
const ruleFields = (data: z.infer<typeof RuleInput>) => ({
  name: data.name,
  enabled: data.enabled ?? true,
  trigger: (data.trigger ?? "MESSAGE_PUBLISHED") as RoutingTrigger,
  sourceQueueId: data.sourceQueueId ?? null,
  condition: data.condition as object,
  action: data.action as object,
});

export async function createRule(deps: Pick<Deps, "db" | "rules">, actor: Actor, input: unknown): Promise<RoutingRule> {
  const { data, scope } = await checkRule(deps.db, actor, input);
  const existing = await deps.db.routingRule.findMany({ where: { scopeId: scope.id }, select: { position: true } });
  if (existing.length >= MAX_RULES_PER_SCOPE) {
    throw new ValidationError([{ field: "input.scopeId", message: `a scope has at most ${MAX_RULES_PER_SCOPE} routing rules` }]);
  }
  const rule = await deps.db.routingRule.create({
    data: {
      id: uuidv7(),
      tenantId: actor.tenantId,
      scopeId: scope.id,
      ...ruleFields(data),
      // without a position the rule goes last
      position: data.position ?? Math.max(-1, ...existing.map((r) => r.position)) + 1,
    },
  });
  deps.rules.forget(scope.id);
  return rule;
}

export async function updateRule(deps: Pick<Deps, "db" | "rules">, actor: Actor, id: string, input: unknown): Promise<RoutingRule> {
  const current = await findRule(deps.db, actor, id);
  if (!current) throw new ValidationError([{ field: "id", message: "no routing rule with this id" }]);
  const { data, scope } = await checkRule(deps.db, actor, input);
  if (scope.id !== current.scopeId) throw new ValidationError([{ field: "input.scopeId", message: "a rule cannot move to another scope" }]);
  const rule = await deps.db.routingRule.update({
    where: { id: current.id },
    data: { ...ruleFields(data), position: data.position ?? current.position },
  });
  deps.rules.forget(scope.id);
  return rule;
}

export async function deleteRule(deps: Pick<Deps, "db" | "rules">, actor: Actor, id: string): Promise<RoutingRule | null> {
  const rule = await findRule(deps.db, actor, id);
  if (!rule) return null;
  await deps.db.routingRule.delete({ where: { id: rule.id } });
  deps.rules.forget(rule.scopeId);
  return rule;
}

export async function listRules({ db }: Pick<Deps, "db">, actor: Actor, scopeId: string): Promise<RoutingRule[]> {
  const scope = await requireScope(db, actor, scopeId);
  return db.routingRule.findMany({ where: { scopeId: scope.id }, orderBy: [{ position: "asc" }, { id: "asc" }] });
}

function findRule(db: Db, actor: Actor, id: string): Promise<RoutingRule | null> {
  return isUuid(id) ? db.routingRule.findFirst({ where: { id, tenantId: actor.tenantId } }) : Promise.resolve(null);
}
