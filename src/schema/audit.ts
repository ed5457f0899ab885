import type { AuditEntry } from "../generated/prisma/client.js";
import { listAudit, MAX_AUDIT_PAGE } from "../domain/outcomes/audit.js";
import { trace } from "../domain/outcomes/event-log.js";
import { builder, listLength } from "./builder.js";
import { actorOf } from "./context.js";
import { MessageEventRef } from "./events.js";

// Contract §6: the audit trail and a chain's trace.

const AuditEntryRef = builder.objectRef<AuditEntry>("AuditEntry").implement({
  fields: (t) => ({
    id: t.exposeID("id"),
    at: t.field({ type: "DateTime", resolve: (e) => e.at }),
    action: t.exposeString("action", { description: "The mutation's name." }),
    actor: t.exposeString("actor", { description: "The API key id." }),
    scopeId: t.exposeID("scopeId", { nullable: true }),
    queueId: t.exposeID("queueId", { nullable: true }),
    messageId: t.exposeID("messageId", { nullable: true }),
    correlationId: t.exposeString("correlationId", { nullable: true }),
    details: t.field({ type: "JSON", nullable: true, resolve: (e) => e.details }),
  }),
});

builder.queryFields((t) => ({
  auditLog: t.field({
    type: [AuditEntryRef],
    authScopes: { canView: true },
    complexity: (args) => ({ field: 1, multiplier: listLength(args.first ?? 100, MAX_AUDIT_PAGE) }),
    description: "Newest first.",
    args: {
      scopeId: t.arg.id({ required: true }),
      correlationId: t.arg.string(),
      action: t.arg.string(),
      first: t.arg.int({ defaultValue: 100 }),
    },
    resolve: (_r, a, ctx) =>
      listAudit(ctx.deps, actorOf(ctx), { scopeId: String(a.scopeId), correlationId: a.correlationId, action: a.action, first: a.first }),
  }),
  trace: t.field({
    type: [MessageEventRef],
    authScopes: { canView: true },
    // a chain's length is not known before: as long as a routed chain may be, times a few events each
    complexity: { field: 1, multiplier: 50 },
    description: "The chain's events, in order.",
    args: { scopeId: t.arg.id({ required: true }), correlationId: t.arg.string({ required: true }) },
    resolve: (_r, a, ctx) => trace(ctx.deps, actorOf(ctx), String(a.scopeId), a.correlationId),
  }),
}));
