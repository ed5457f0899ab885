import DataLoader from "dataloader";
import type { ApiKey, Message, Queue, Scope } from "./generated/prisma/client.js";
import type { Actor } from "./domain/actor.js";
import type { Deps } from "./domain/deps.js";
import type { ApiKeyLifecycle } from "./domain/api-key-lifecycle.js";
import { claim, isFreshClaim } from "./domain/claim.js";
import { complete } from "./domain/complete.js";
import { getMessage, listMessages, depthOfQueue, depthOfEvents, queueDepth, type MessageFilter, type QueueDepth } from "./domain/messages.js";
import { servedFromMariaDb } from "./domain/event-log.js";
import { publish } from "./domain/publish.js";
import { createQueue, getQueue, changeQueueState } from "./domain/queues.js";
import { createScope, getScope, listScopes, changeScopeState } from "./domain/scopes.js";
import type { LifecycleAction } from "./domain/lifecycle.js";
import { extend, fail, release } from "./domain/fail-release-extend.js";
import { completionsOf, depthChangesOf, eventsOf, type EventFilter } from "./domain/waiters.js";
import { auditRows, listAudit, type AuditSubject } from "./domain/audit.js";
import { trace } from "./domain/event-log.js";
import { listPatterns, previewPattern, registerPattern } from "./domain/hitl.js";
import { bindQueueSchema, listSchemas, registerSchema } from "./domain/message-schemas.js";
import { publishHitl, submitReview } from "./domain/reviews.js";
import { createRule, deleteRule, listRules, updateRule } from "./domain/routing/rules.js";
import { getErasureJob, listErasureJobs, openHolds, startErasure } from "./domain/gdpr.js";

/**
 * The domain as the GraphQL layer sees it: one method per operation, with the database
 * and Redis held here rather than in the GraphQL context.
 */
export class Services {
  constructor(
    private readonly deps: Deps,
    private readonly keys: ApiKeyLifecycle,
  ) {}

  scopes = (a: Actor) => listScopes(this.deps.db, a);
  scope = (a: Actor, by: { id?: string | null; slug?: string | null }) => getScope(this.deps.db, a, by);
  createScope = (a: Actor, input: unknown) => createScope(this.deps, a, input);
  changeScopeState = (a: Actor, id: string, action: LifecycleAction) => changeScopeState(this.deps, a, id, action);

  queue = (a: Actor, id: string) => getQueue(this.deps.db, a, id);
  createQueue = (a: Actor, input: unknown) => createQueue(this.deps, a, input);
  changeQueueState = (a: Actor, id: string, action: LifecycleAction) => changeQueueState(this.deps, a, id, action);
  queueDepth = (a: Actor, queueId: string, consumerGroup?: string | null) => queueDepth(this.deps, a, queueId, consumerGroup);
  /** A queue's depth inside a listing: Redis-served queues one by one, the others batched. */
  depthOf = (q: Queue, loaders: Loaders) => (servedFromMariaDb(q) ? loaders.depthOfEvents.load(q.id) : depthOfQueue(this.deps, q));

  message = (a: Actor, id: string) => getMessage(this.deps.db, a, id);
  messages = (a: Actor, f: MessageFilter) => listMessages(this.deps, a, f);
  publish = (a: Actor, inputs: unknown[], prefix: "input" | "inputs") => publish(this.deps, a, inputs, prefix);
  claim = (a: Actor, input: unknown) => claim(this.deps, a, input);
  complete = (a: Actor, inputs: unknown[], prefix: "input" | "inputs") => complete(this.deps, a, inputs, prefix);
  fail = (a: Actor, input: unknown) => fail(this.deps, a, input);
  release = (a: Actor, input: unknown) => release(this.deps, a, input);
  extend = (a: Actor, input: unknown) => extend(this.deps, a, input);
  isFreshClaim = (m: Message) => isFreshClaim(m);
  /** A message's body as it is now (for events, which do not carry it); null once the row is gone. */
  bodyOf = async (id: string) => (await this.deps.statements.byId([id]))[0]?.body ?? null;

  completionsOf = (a: Actor, correlationId: string) => completionsOf(this.deps, a, correlationId);
  eventsOf = (a: Actor, f: EventFilter) => eventsOf(this.deps, a, f);
  depthChangesOf = (a: Actor, queueId: string) => depthChangesOf(this.deps, a, queueId);

  routingRules = (a: Actor, scopeId: string) => listRules(this.deps.db, a, scopeId);
  createRoutingRule = (a: Actor, input: unknown) => createRule(this.deps, a, input);
  updateRoutingRule = (a: Actor, id: string, input: unknown) => updateRule(this.deps, a, id, input);
  deleteRoutingRule = (a: Actor, id: string) => deleteRule(this.deps, a, id);

  messageSchemas = (a: Actor, scopeId: string) => listSchemas(this.deps.db, a, scopeId);
  registerMessageSchema = (a: Actor, input: { scopeId: string; name: string; version: string; schema: unknown }) => registerSchema(this.deps, a, input);
  bindQueueSchema = (a: Actor, args: { queueId: string; name: string; version: string }) => bindQueueSchema(this.deps, a, args);

  hitlPatterns = (a: Actor, scopeId: string) => listPatterns(this.deps.db, a, scopeId);
  registerHitlPattern = (a: Actor, args: { scopeId: string; name: string; version: string; spec: unknown }) => registerPattern(this.deps.db, a, args);
  previewHitlPattern = (a: Actor, args: Parameters<typeof previewPattern>[2]) => previewPattern(this.deps.db, a, args);
  publishHitl = (a: Actor, args: Parameters<typeof publishHitl>[2]) => publishHitl(this.deps, a, args);
  submitReview = (a: Actor, args: Parameters<typeof submitReview>[2]) => submitReview(this.deps, a, args);

  auditLog = (a: Actor, f: Parameters<typeof listAudit>[2]) => listAudit(this.deps.db, a, f);
  trace = (a: Actor, scopeId: string, correlationId: string) => trace(this.deps, a, scopeId, correlationId);
  /** Records a successful mutation (called for every one by the AuditPlugin); returns once it is written. */
  audit = (a: Actor, action: string, result: unknown, subject: AuditSubject | undefined, requestId: string) =>
    this.deps.journal.audit(auditRows(a, action, result, subject, requestId, new Date(this.deps.clock())));
  schemaOf = (schemaId: string) => this.deps.db.messageSchema.findUnique({ where: { id: schemaId } });

  startErasure = (a: Actor, input: unknown) => startErasure(this.deps, a, input);
  erasureJob = (a: Actor, id: string) => getErasureJob(this.deps, a, id);
  erasureJobs = (a: Actor, scopeId: string, first: number) => listErasureJobs(this.deps, a, scopeId, first);
  erasureHolds = (jobId: string) => openHolds(this.deps, jobId);

  apiKeys = (a: Actor) => this.keys.list(a.tenantId);
  createApiKey = (a: Actor, input: unknown) => this.keys.create(a.tenantId, a.permissions, input);
  updateApiKey = (a: Actor, id: string, input: unknown) => this.keys.update(a.tenantId, a.permissions, id, input);
  revokeApiKey = (a: Actor, id: string) => this.keys.revoke(a.tenantId, a.permissions, id);
  rotateApiKey = (a: Actor, id: string, graceS: unknown) => this.keys.rotate(a.tenantId, a.permissions, id, graceS);
  rateLimitOf = (key: ApiKey) => this.keys.rateLimitOf(key);

  /** Per-request batching of the lookups that nested fields make (no N+1). */
  loaders(tenantId: string) {
    const db = this.deps.db;
    return {
      depthOfEvents: new DataLoader<string, QueueDepth>((ids) => depthOfEvents(this.deps, ids)),
      scope: new DataLoader<string, Scope | null>(async (ids) => {
        const rows = await db.scope.findMany({ where: { id: { in: [...ids] }, tenantId } });
        const by = new Map(rows.map((r) => [r.id, r]));
        return ids.map((id) => by.get(id) ?? null);
      }),
      queue: new DataLoader<string, Queue | null>(async (ids) => {
        const rows = await db.queue.findMany({ where: { id: { in: [...ids] }, tenantId } });
        const by = new Map(rows.map((r) => [r.id, r]));
        return ids.map((id) => by.get(id) ?? null);
      }),
      queuesOfScope: new DataLoader<string, Queue[]>(async (scopeIds) => {
        const rows = await db.queue.findMany({ where: { scopeId: { in: [...scopeIds] }, tenantId }, orderBy: { id: "asc" } });
        return scopeIds.map((id) => rows.filter((r) => r.scopeId === id));
      }),
    };
  }
}

export type Loaders = ReturnType<Services["loaders"]>;
