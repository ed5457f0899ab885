import type { AuditEntry } from "../../generated/prisma/client.js";
import { uuidv7 } from "../../ids.js";
import { ValidationError } from "../../errors.js";
import type { Actor } from "../actor.js";
import type { AuditRow } from "../../db/journal.js";
import { requireScope } from "../scopes/scopes.js";
import { type Deps } from "../deps.js";

/** What an entry is about, when the mutation's result does not say (e.g. a delete answering true). */
export type AuditSubject = { scopeId?: string | null; queueId?: string | null; messageId?: string | null; correlationId?: string | null; details?: unknown };

type Row = Record<string, unknown>;
const isRow = (v: unknown): v is Row => v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Date);
const str = (v: unknown): string | null => (typeof v === "string" ? v : null);

/**
 * The audit entries of one successful mutation. Message operations write one entry per
 * queue and correlation id they touched (so every chain finds its entries by
 * correlation id; a batch of one queue without correlation ids is one entry whose
 * details list the message ids), naming the message when it is the only one; other
 * mutations one naming the scope, queue or object they changed. Never bodies,
 * responses, secrets or claim tokens.
 */
export function auditRows(actor: Actor, action: string, result: unknown, subject: AuditSubject | undefined, requestId: string | null, at: Date): AuditRow[] {
  const entry = (about: AuditSubject): AuditRow => ({
    id: uuidv7(at.getTime()),
    tenantId: actor.tenantId,
    at,
    action,
    actor: actor.keyId,
    scopeId: about.scopeId ?? subject?.scopeId ?? null,
    queueId: about.queueId ?? subject?.queueId ?? null,
    messageId: about.messageId ?? subject?.messageId ?? null,
    correlationId: about.correlationId ?? subject?.correlationId ?? null,
    requestId,
    details: about.details ?? subject?.details ?? null,
  });
  const items = Array.isArray(result) ? result : [result];
  const about = items.flatMap((r): AuditSubject[] => {
    if (!isRow(r)) return [];
    if (isRow(r.message) && "duplicate" in r) return [{ ...ofMessage(r.message), details: { state: r.message.state, duplicate: r.duplicate } }];
    if ("bodyHash" in r) return [{ ...ofMessage(r), details: { state: r.state } }];
    if ("consumerMode" in r) return [{ scopeId: str(r.scopeId), queueId: str(r.id), details: { slug: r.slug, state: r.state } }];
    if ("scopeId" in r) return [{ scopeId: str(r.scopeId), details: { id: r.id, ...(r.name !== undefined ? { name: r.name } : {}), ...(r.version !== undefined ? { version: r.version } : {}) } }];
    if ("slug" in r) return [{ scopeId: str(r.id), details: { slug: r.slug, state: r.state } }];
    return [];
  });
  // a claim that found nothing, or a delete that found nothing, changed nothing: no entry
  if ((Array.isArray(result) && result.length === 0) || result === false) return [];
  return about.length ? grouped(about).map(entry) : [entry({})];
}

/** One entry per queue and correlation id; a group of several messages lists them. */
function grouped(about: AuditSubject[]): AuditSubject[] {
  const groups = new Map<string, AuditSubject[]>();
  for (const a of about) {
    if (!a.messageId) return about;
    const key = `${a.queueId}\n${a.correlationId ?? ""}`;
    const g = groups.get(key);
    if (g) g.push(a);
    else groups.set(key, [a]);
  }
  return [...groups.values()].map((g) =>
    g.length === 1 ? g[0]! : { ...g[0]!, messageId: null, details: { messages: g.map((a) => ({ id: a.messageId, ...(a.details as object) })) } },
  );
}

const ofMessage = (m: Row): AuditSubject => ({ scopeId: str(m.scopeId), queueId: str(m.queueId), messageId: str(m.id), correlationId: str(m.correlationId) });

export const MAX_AUDIT_PAGE = 1000;

/** auditLog: a scope's entries, newest first, optionally of one correlation chain or action. */
export async function listAudit(
  { db }: Pick<Deps, "db">,
  actor: Actor,
  f: { scopeId: string; correlationId?: string | null; action?: string | null; first?: number | null },
): Promise<AuditEntry[]> {
  const first = f.first ?? 100;
  if (!Number.isInteger(first) || first < 1 || first > MAX_AUDIT_PAGE) throw new ValidationError([{ field: "first", message: `must be 1 to ${MAX_AUDIT_PAGE}` }]);
  const scope = await requireScope(db, actor, f.scopeId);
  return db.auditEntry.findMany({
    where: {
      tenantId: actor.tenantId,
      scopeId: scope.id,
      ...(f.correlationId != null ? { correlationId: f.correlationId } : {}),
      ...(f.action != null ? { action: f.action } : {}),
    },
    orderBy: { id: "desc" },
    take: first,
  });
}

/** Records a successful mutation (the AuditPlugin calls it for every one); returns once it and all it caused is written. */
export function recordAudit(
  deps: Pick<Deps, "journal" | "clock">,
  actor: Actor,
  action: string,
  result: unknown,
  subject: AuditSubject | undefined,
  requestId: string,
): Promise<void> {
  return deps.journal.audit(auditRows(actor, action, result, subject, requestId, new Date(deps.clock())));
}
