import type { Message, RoutingTrigger } from "../../generated/prisma/client.js";
import { uuidv7 } from "../../ids.js";
import { DomainError } from "../../errors.js";
import type { Deps } from "../deps.js";
import { integrityRecord } from "../intake/records.js";
import { newMessage } from "../../db/message-rows.js";
import type { QueueInfo } from "../../db/queue-directory.js";
import { escalatedTier, mergePatch, type Action } from "./action.js";
import { matches } from "./condition.js";
import { jsonOfAtMost, labels, perLimit } from "../validation.js";

/** The circuit breaker: a chain is routed at most this many hops (contract §6). */
export const MAX_HOPS = 16;

/** What the first matching rule does to one message. */
export type Step =
  | { kind: "none" }
  /** TRANSFORM, or ESCALATE without a target: the message itself changes */
  | { kind: "change"; message: Message }
  /** ARCHIVE: the message ends ARCHIVED */
  | { kind: "archive"; message: Message }
  /** ROUTE / COPY / ESCALATE with a target: a child in the target queue; ROUTE and ESCALATE also archive the source */
  | { kind: "hop"; child: Message; source: Message | null }
  /** the hop the rule asked for was not taken; the message stays where it is */
  | { kind: "refused"; record: Message };

/**
 * Tries the scope's rules on one message, in position order, and returns what the
 * first one whose trigger, source queue and condition match asks for. Messages of
 * system queues are never routed.
 */
export async function step(deps: Deps, m: Message, trigger: RoutingTrigger, now: number): Promise<Step> {
  const q = await deps.queues.get(m.tenantId, m.queueId);
  if (q.system) return { kind: "none" };
  const rule = (await deps.rules.of(m.scopeId)).find(
    (r) =>
      r.trigger === trigger &&
      (r.sourceQueueId === null || r.sourceQueueId === m.queueId) &&
      matches(r.parsed.condition, {
        labels: (m.labels ?? {}) as Record<string, unknown>,
        body: m.body,
        messageType: m.messageType,
        priorityTier: m.priorityTier,
        priorityScore: m.priorityScore,
        queueSlug: q.slug,
      }),
  );
  if (!rule) return { kind: "none" };
  const a = rule.parsed.action;
  const at = new Date(now);
  if (a.type === "ARCHIVE") return { kind: "archive", message: ended(m, at) };
  const refuse = async (reason: string): Promise<Step> => ({
    kind: "refused",
    record: await integrityRecord(
      deps,
      { tenantId: m.tenantId, scopeId: m.scopeId, correlationId: m.correlationId, causationId: m.id },
      "routing_refused",
      { messageId: m.id, queueId: m.queueId, ruleId: rule.id, rule: rule.name, targetQueueId: a.targetQueueId, hops: m.routeHops, reason },
      at,
    ),
  });
  if (a.type === "TRANSFORM" || (a.type === "ESCALATE" && !a.targetQueueId)) {
    const c = changed(m, a);
    const over = overPublishLimits(deps, c);
    return over ? refuse(`the ${a.type} would leave a message that publish would refuse: ${over}`) : { kind: "change", message: c };
  }
  // a rule never moves a message into the queue it is already in
  if (a.targetQueueId === m.queueId) return { kind: "none" };
  if (m.routeHops >= MAX_HOPS) return refuse(`circuit breaker: the chain was already routed ${m.routeHops} hops (at most ${MAX_HOPS})`);
  const target = await deps.queues.get(m.tenantId, a.targetQueueId!);
  if (target.state !== "ACTIVE" || target.scopeState !== "ACTIVE") return refuse(`the target queue ${target.slug} is ${target.scopeState !== "ACTIVE" ? `in a ${target.scopeState} scope` : target.state}`);
  const child = childOf(m, target, a, at);
  const over = overPublishLimits(deps, child);
  if (over) return refuse(`the routed message would be one that publish refuses: ${over}`);
  if (target.schemaId) {
    const problems = await deps.schemas.check(target.schemaId, child.body, "body");
    if (problems.length) return refuse(`the body does not match the schema of ${target.slug}: ${problems.map((p) => `${p.field} ${p.message}`).join("; ")}`);
  }
  return { kind: "hop", child, source: a.type === "COPY" ? null : ended(m, at) };
}

/**
 * What routing makes obeys the limits publish puts on what it takes (a patch may grow
 * a body past MAX_MESSAGE_BYTES, setLabels may pass 64 labels): a message over them
 * made later writes fail for everyone sharing their statement. Null when it fits.
 */
function overPublishLimits(deps: Pick<Deps, "limits">, m: Message): string | null {
  const problems = [
    ...(bodyOfAtMost(deps.limits.messageBytes).safeParse(m.body).error?.issues.map((i) => `body ${i.message}`) ?? []),
    ...(labels.safeParse(m.labels).error?.issues.map((i) => `labels: ${i.message}`) ?? []),
  ];
  return problems.length ? problems.join("; ") : null;
}

const bodyOfAtMost = perLimit(jsonOfAtMost);

/** A routed child: same content and correlation, caused by and parented to the source; a fresh life otherwise. */
function childOf(m: Message, target: QueueInfo, a: Action, at: Date): Message {
  const c = changed(m, a);
  return newMessage({
    id: uuidv7(at.getTime()),
    tenantId: m.tenantId,
    scopeId: m.scopeId,
    queueId: target.id,
    messageType: c.messageType,
    body: c.body,
    contentType: c.contentType,
    labels: c.labels,
    priorityTier: c.priorityTier,
    priorityScore: c.priorityScore,
    correlationId: c.correlationId,
    causationId: m.id,
    parentId: m.id,
    isCopy: true,
    deadline: c.deadline,
    ttlSeconds: c.ttlSeconds,
    delayUntil: c.delayUntil,
    expiresAt: c.expiresAt,
    hitlSpec: c.hitlSpec,
    routeHops: m.routeHops + 1,
    // a child waits out what is left of its source's delay, not a new one
    visibleAt: m.visibleAt && m.visibleAt > at ? m.visibleAt : null,
    createdAt: at,
  });
}

function changed(m: Message, a: Action): Message {
  return {
    ...m,
    labels: a.setLabels ? { ...((m.labels ?? {}) as object), ...a.setLabels } : m.labels,
    priorityTier: a.type === "ESCALATE" ? escalatedTier(m.priorityTier, a) : (a.setPriorityTier ?? m.priorityTier),
    body: a.patch ? (mergePatch(m.body, a.patch) as Message["body"]) : m.body,
  };
}

const ended = (m: Message, at: Date): Message => ({ ...m, state: "ARCHIVED", finishedAt: at, claimExpiresAt: null });

/** Everything routing did to a publish: rows to write in place of the given ones. */
export type RoutedPublish = {
  /** the given rows (as routing left them) followed by the children it made, in order */
  rows: Message[];
  /** child id → the given row whose chain made it (a child of a duplicate publish is dropped) */
  rootOf: Map<string, string>;
  /** sources that routing ended ARCHIVED */
  routed: Message[];
  integrity: Message[];
};

/**
 * MESSAGE_PUBLISHED routing, before anything is written: each new message goes
 * through the rules, and so does each child it gets, until no rule matches or the
 * breaker refuses a hop. The publish then writes the outcome in one transaction, so a
 * routed message is never in two places or in none.
 */
export async function routeOnPublish(deps: Deps, rows: Message[], now: number): Promise<RoutedPublish> {
  const out: RoutedPublish = { rows: [], rootOf: new Map(), routed: [], integrity: [] };
  const children: Message[] = [];
  for (const original of rows) {
    let current = original;
    let index = out.rows.push(original) - 1;
    for (;;) {
      const s = await step(deps, current, "MESSAGE_PUBLISHED", now);
      if (s.kind === "none") break;
      if (s.kind === "refused") {
        out.integrity.push(s.record);
        break;
      }
      const replace = (m: Message) => (index < 0 ? (children[-index - 1] = m) : (out.rows[index] = m));
      if (s.kind === "change") {
        replace(s.message);
        break;
      }
      if (s.kind === "archive") {
        replace(s.message);
        out.routed.push(s.message);
        break;
      }
      if (s.source) {
        replace(s.source);
        out.routed.push(s.source);
      }
      index = -children.push(s.child);
      out.rootOf.set(s.child.id, original.id);
      current = s.child;
    }
  }
  out.rows.push(...children);
  return out;
}

/** Keeps routing from failing an operation that has already committed: problems become _integrity records. */
export async function routingFailed(deps: Deps, m: Message, err: unknown, at: Date): Promise<Message | null> {
  if (!(err instanceof DomainError)) return null;
  return integrityRecord(
    deps,
    { tenantId: m.tenantId, scopeId: m.scopeId, correlationId: m.correlationId, causationId: m.id },
    "routing_refused",
    { messageId: m.id, queueId: m.queueId, reason: `${err.code}: ${err.message}` },
    at,
  );
}
