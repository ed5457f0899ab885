import type { Message } from "../../generated/prisma/client.js";
import { isUuid } from "../../ids.js";
import { MessageNotFoundError, QueueNotFoundError, ValidationError, type ErrorDetail } from "../../errors.js";
import type { Actor } from "../actor.js";
import { complete } from "./complete.js";
import type { Deps } from "../deps.js";
import { fillPattern, findPattern, type HitlSpec, type Section } from "../hitl.js";
import { publish } from "./publish.js";
import { getQueue } from "../scopes/queues.js";
import { type PublishResult } from "../intake/write.js";

const MAX_TEXT_INPUT = 10_000;

/** Publishes a review made from a pattern: hitlSpec = the filled pattern, body = {pattern, version, params}. */
export async function publishHitl(
  deps: Deps,
  actor: Actor,
  args: { queueId: string; pattern: string; version?: string | null; params: unknown; correlationId?: string | null; labels?: unknown },
): Promise<PublishResult> {
  const queue = await getQueue(deps, actor, args.queueId);
  if (!queue) throw new QueueNotFoundError();
  const pattern = await findPattern(deps.db, queue.scopeId, args.pattern, args.version);
  const hitlSpec = fillPattern(pattern.spec as HitlSpec, args.params);
  const input = {
    queueId: queue.id,
    messageType: "hitl_request",
    body: { pattern: pattern.name, version: pattern.version, params: args.params },
    hitlSpec,
    correlationId: args.correlationId,
    labels: args.labels,
  };
  return (await publish(deps, actor, [input], "input"))[0]!;
}

/**
 * A reviewer's answer: the decision must be one of the spec's options and every
 * required input present and of its kind; the message is then completed (as complete
 * would, so the claim rules are the same) with response = {decision, inputs}.
 */
export async function submitReview(
  deps: Deps,
  actor: Actor,
  args: { messageId: string; claimToken?: string | null; decision: string; inputs?: unknown },
): Promise<Message> {
  const message = isUuid(args.messageId) ? await deps.db.message.findFirst({ where: { id: args.messageId, tenantId: actor.tenantId } }) : null;
  if (!message) throw new MessageNotFoundError();
  if (!message.hitlSpec) throw new ValidationError([{ field: "messageId", message: "the message is not a review (it has no hitlSpec)" }]);
  const spec = message.hitlSpec as HitlSpec;
  const inputs = args.inputs ?? {};
  const problems: ErrorDetail[] = [];
  const decision = spec.sections.find((s) => s.type === "decision") as Extract<Section, { type: "decision" }>;
  if (!decision.options.includes(args.decision)) {
    problems.push({ field: "decision", message: `must be one of ${decision.options.join(", ")}` });
  }
  if (inputs === null || typeof inputs !== "object" || Array.isArray(inputs)) {
    problems.push({ field: "inputs", message: "must be an object of input values" });
  } else {
    const given = inputs as Record<string, unknown>;
    const fields = spec.sections.filter((s): s is Extract<Section, { type: "input" }> => s.type === "input");
    for (const f of fields) {
      const v = Object.hasOwn(given, f.field) ? given[f.field] : undefined;
      if (v === undefined || v === null || v === "") {
        if (f.required) problems.push({ field: `inputs.${f.field}`, message: "is required" });
        continue;
      }
      const kindOk =
        f.kind === "text" ? typeof v === "string" && v.length <= MAX_TEXT_INPUT : f.kind === "number" ? typeof v === "number" && Number.isFinite(v) : f.kind === "boolean" ? typeof v === "boolean" : true;
      if (!kindOk) problems.push({ field: `inputs.${f.field}`, message: f.kind === "text" ? `must be text of at most ${MAX_TEXT_INPUT} characters` : `must be a ${f.kind}` });
    }
    for (const k of Object.keys(given)) {
      if (!fields.some((f) => f.field === k)) problems.push({ field: `inputs.${k.slice(0, 64)}`, message: "is not an input of this review" });
    }
  }
  if (problems.length) throw new ValidationError(problems);
  const [done] = await complete(
    deps,
    actor,
    [{ messageId: message.id, claimToken: args.claimToken, response: { decision: args.decision, inputs } }],
    "input",
  );
  return done!;
}
