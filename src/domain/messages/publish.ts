import { z } from "zod";
import { marks } from "../../db/sql.js";
import type { Message } from "../../generated/prisma/client.js";
import { isUuid, uuidv7 } from "../../ids.js";
import { QueuePausedError, ScopePausedError, ValidationError, type ErrorDetail } from "../../errors.js";
import type { Actor } from "../actor.js";
import { bodyHash } from "../canonical-json.js";
import type { Deps } from "../deps.js";
import { newMessage } from "../../db/message-rows.js";
import { afterCommit } from "../outcomes/after-commit.js";
import { writeMessages, type PublishResult } from "../intake/write.js";
import { checkHitlSpec, MAX_HITL_SPEC_BYTES, reviewTimeoutS } from "../hitl.js";
import type { QueueInfo } from "../../db/queue-directory.js";
import {
  date,
  intIn,
  itemField,
  jsonObjectOfAtMost,
  jsonOfAtMost,
  labels,
  parseBatch,
  perLimit,
  text,
  ttlSeconds,
  type BatchPrefix,
} from "../validation.js";

const CONTENT_TYPE_RE = /^[\w.+-]+\/[\w.+-]+(\s*;[^\u0000-\u001f\u007f]*)?$/;

const publishSchema = perLimit((messageBytes: number) =>
  z.object({
    queueId: z.string(),
    body: jsonOfAtMost(messageBytes),
    messageType: text(128).nullish(),
    contentType: z
      .string()
      .max(128, "at most 128 characters")
      .regex(CONTENT_TYPE_RE, "must be a media type such as application/json")
      .refine((t) => !t.toLowerCase().startsWith("application/vnd.scaiqueue."), "application/vnd.scaiqueue.* types are reserved for the service")
      .nullish(),
    labels: labels.nullish(),
    priorityTier: z.enum(["CRITICAL", "HIGH", "NORMAL", "LOW", "BACKGROUND"]).nullish(),
    priorityScore: intIn(0, 1000).nullish(),
    correlationId: text(128).nullish(),
    causationId: text(128).nullish(),
    parentId: z.string().refine(isUuid, "must be a message id").nullish(),
    idempotencyKey: text(255).nullish(),
    deadline: date.nullish(),
    ttlSeconds: ttlSeconds.nullish(),
    delayUntil: date.nullish(),
    hitlSpec: jsonObjectOfAtMost(MAX_HITL_SPEC_BYTES).nullish(),
  }),
);

/**
 * publish and publishBatch. All inputs are checked before anything is written (bounds,
 * the HITL spec, the queue's message schema); the rows then go through routing and are
 * written by writeMessages (intake/write.ts); what follows the commit is afterCommit's.
 * `prefix` names the argument in error details ("input", or "inputs" for a batch).
 */
export async function publish(deps: Deps, actor: Actor, inputs: unknown[], prefix: BatchPrefix): Promise<PublishResult[]> {
  const parsed = parseBatch(publishSchema(deps.limits.messageBytes), inputs, prefix);

  const queues = new Map<string, QueueInfo>();
  for (const [i, p] of parsed.entries()) {
    if (!queues.has(p.queueId)) queues.set(p.queueId, await acceptingQueue(deps, actor, p.queueId, itemField(prefix, i)));
  }
  const problems: ErrorDetail[] = await unknownParents(deps, actor, parsed, prefix);
  const allowance = deps.schemas.allowance();
  for (const [i, p] of parsed.entries()) {
    const field = itemField(prefix, i);
    if (p.hitlSpec) problems.push(...checkHitlSpec(p.hitlSpec, `${field}.hitlSpec`));
    const schemaId = queues.get(p.queueId)!.schemaId;
    if (schemaId) problems.push(...(await deps.schemas.check(schemaId, p.body, `${field}.body`, allowance)));
  }
  if (problems.length) throw new ValidationError(problems);

  const now = deps.clock();
  const createdAt = new Date(now);
  const rows: Message[] = parsed.map((p) => {
    const q = queues.get(p.queueId)!;
    const review = reviewTimeoutS(p.hitlSpec);
    const expiries = [p.deadline?.getTime(), p.ttlSeconds ? now + p.ttlSeconds * 1000 : undefined, review ? now + review * 1000 : undefined].filter(
      (t): t is number => t !== undefined,
    );
    return newMessage({
      id: uuidv7(now),
      tenantId: actor.tenantId,
      scopeId: q.scopeId,
      queueId: q.id,
      messageType: p.messageType ?? null,
      body: p.body as Message["body"],
      // only a replay of a key is compared by body (migration 20261130020000_body_hash_with_key)
      bodyHash: p.idempotencyKey ? bodyHash(p.body) : null,
      contentType: p.contentType ?? "application/json",
      labels: (p.labels ?? {}) as Message["labels"],
      priorityTier: p.priorityTier ?? "NORMAL",
      priorityScore: p.priorityScore ?? 0,
      correlationId: p.correlationId ?? null,
      causationId: p.causationId ?? null,
      parentId: p.parentId ?? null,
      idempotencyKey: p.idempotencyKey ?? null,
      deadline: p.deadline ?? null,
      ttlSeconds: p.ttlSeconds ?? null,
      delayUntil: p.delayUntil ?? null,
      visibleAt: p.delayUntil && p.delayUntil.getTime() > now ? p.delayUntil : null,
      expiresAt: expiries.length ? new Date(Math.min(...expiries)) : null,
      hitlSpec: (p.hitlSpec ?? null) as Message["hitlSpec"],
      createdAt,
    });
  });
  const written = await writeMessages(deps, rows, { prefix });
  await afterCommit(deps, written.happened, createdAt, written.recorded);
  return written.results;
}

/** A parentId names a message of the publisher's own tenant; any other id is refused as unknown. */
async function unknownParents(deps: Deps, actor: Actor, parsed: { parentId?: string | null }[], prefix: BatchPrefix): Promise<ErrorDetail[]> {
  const wanted = [...new Set(parsed.map((p) => p.parentId).filter((id): id is string => id != null))];
  if (!wanted.length) return [];
  const found = new Set(
    (await deps.sql.rows<{ id: string }>(`SELECT id FROM messages WHERE tenantId = ? AND id IN (${marks(wanted)})`, [actor.tenantId, ...wanted])).map((r) => r.id),
  );
  return parsed.flatMap((p, i) =>
    p.parentId != null && !found.has(p.parentId) ? [{ field: `${itemField(prefix, i)}.parentId`, message: "no message with this id" }] : [],
  );
}

async function acceptingQueue(deps: Deps, actor: Actor, queueId: string, field: string): Promise<QueueInfo> {
  const q = await deps.queues.get(actor.tenantId, queueId);
  if (q.scopeState !== "ACTIVE") throw new ScopePausedError(q.scopeState);
  if (q.state !== "ACTIVE") throw new QueuePausedError(q.state);
  if (q.system) {
    throw new ValidationError([
      { field: `${field}.queueId`, message: `${q.slug} is a system queue; only the service writes to it` },
    ]);
  }
  return q;
}
