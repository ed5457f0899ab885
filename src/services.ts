import DataLoader from "dataloader";
import type { Message, Queue, Scope } from "./generated/prisma/client.js";
import type { Actor } from "./domain/actor.js";
import type { Deps } from "./domain/deps.js";
import { claim, isFreshClaim } from "./domain/claim.js";
import { complete } from "./domain/complete.js";
import { getMessage, listMessages, depthOfQueue, queueDepth, type MessageFilter } from "./domain/messages.js";
import { publish } from "./domain/publish.js";
import { createQueue, getQueue, changeQueueState } from "./domain/queues.js";
import { createScope, getScope, listScopes, changeScopeState } from "./domain/scopes.js";
import type { LifecycleAction } from "./domain/lifecycle.js";
import { extend, fail, release } from "./domain/fail-release-extend.js";
import { completionsOf, depthChangesOf, eventsOf, type EventFilter } from "./domain/waiters.js";

/**
 * The domain as the GraphQL layer sees it: one method per operation, with the database
 * and Redis held here rather than in the GraphQL context.
 */
export class Services {
  constructor(private readonly deps: Deps) {}

  scopes = (a: Actor) => listScopes(this.deps.db, a);
  scope = (a: Actor, by: { id?: string | null; slug?: string | null }) => getScope(this.deps.db, a, by);
  createScope = (a: Actor, input: unknown) => createScope(this.deps, a, input);
  changeScopeState = (a: Actor, id: string, action: LifecycleAction) => changeScopeState(this.deps, a, id, action);

  queue = (a: Actor, id: string) => getQueue(this.deps.db, a, id);
  createQueue = (a: Actor, input: unknown) => createQueue(this.deps, a, input);
  changeQueueState = (a: Actor, id: string, action: LifecycleAction) => changeQueueState(this.deps, a, id, action);
  queueDepth = (a: Actor, queueId: string, consumerGroup?: string | null) => queueDepth(this.deps, a, queueId, consumerGroup);
  depthOf = (q: Queue) => depthOfQueue(this.deps, q);

  message = (a: Actor, id: string) => getMessage(this.deps.db, a, id);
  messages = (a: Actor, f: MessageFilter) => listMessages(this.deps.db, a, f);
  publish = (a: Actor, inputs: unknown[], prefix: "input" | "inputs") => publish(this.deps, a, inputs, prefix);
  claim = (a: Actor, input: unknown) => claim(this.deps, a, input);
  complete = (a: Actor, inputs: unknown[], prefix: "input" | "inputs") => complete(this.deps, a, inputs, prefix);
  fail = (a: Actor, input: unknown) => fail(this.deps, a, input);
  release = (a: Actor, input: unknown) => release(this.deps, a, input);
  extend = (a: Actor, input: unknown) => extend(this.deps, a, input);
  isFreshClaim = (m: Message) => isFreshClaim(m);

  completionsOf = (a: Actor, correlationId: string) => completionsOf(this.deps, a, correlationId);
  eventsOf = (a: Actor, f: EventFilter) => eventsOf(this.deps, a, f);
  depthChangesOf = (a: Actor, queueId: string) => depthChangesOf(this.deps, a, queueId);

  /** Per-request batching of the lookups that nested fields make (no N+1). */
  loaders(tenantId: string) {
    const db = this.deps.db;
    return {
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
