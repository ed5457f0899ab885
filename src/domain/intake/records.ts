import type { Message } from "../../generated/prisma/client.js";
import { uuidv7 } from "../../ids.js";
import type { Deps } from "../deps.js";
import { newMessage } from "../../db/message-rows.js";
import { INTEGRITY_QUEUE } from "../../db/queue-directory.js";


/**
 * A finding for people to read, as a message in the scope's `_integrity` queue (typed
 * scaiqueue.integrity.<kind>): Redis repairs by the reconciler, routing hops refused
 * by the circuit breaker. The caller inserts and enqueues it with its other writes.
 */
export async function integrityRecord(
  deps: Pick<Deps, "queues">,
  where: { tenantId: string; scopeId: string; correlationId?: string | null; causationId?: string | null },
  kind: string,
  body: Record<string, unknown>,
  at: Date,
): Promise<Message> {
  const integrity = await deps.queues.systemQueue(where.scopeId, INTEGRITY_QUEUE);
  const full = { kind, ...body, at: at.toISOString() };
  return newMessage({
    id: uuidv7(at.getTime()),
    tenantId: where.tenantId,
    scopeId: where.scopeId,
    queueId: integrity.id,
    messageType: `scaiqueue.integrity.${kind}`,
    body: full,
    correlationId: where.correlationId ?? null,
    causationId: where.causationId ?? null,
    createdAt: at,
  });
}

/** The copy of a dead-lettered message that goes into its scope's _dead_letter queue. */
export function deadLetterCopy(original: Message, deadLetterQueueId: string, reason: string, at: Date): Message {
  return newMessage({
    id: uuidv7(at.getTime()),
    tenantId: original.tenantId,
    scopeId: original.scopeId,
    queueId: deadLetterQueueId,
    body: original.body,
    bodyHash: original.bodyHash,
    contentType: original.contentType,
    labels: original.labels,
    messageType: original.messageType,
    priorityTier: original.priorityTier,
    priorityScore: original.priorityScore,
    correlationId: original.correlationId,
    causationId: original.id,
    parentId: original.id,
    isCopy: true,
    failureReason: reason,
    createdAt: at,
  });
}
