import type { Db } from "./client.js";
import type { Queue } from "../generated/prisma/client.js";
import { isUuid } from "../ids.js";
import { QueueNotFoundError } from "../errors.js";

/** The queues the service keeps in every scope and writes itself; publishers may not. */
export const DEAD_LETTER_QUEUE = "_dead_letter";
export const EVENTS_QUEUE = "_events";
export const AUDIT_QUEUE = "_audit";
export const INTEGRITY_QUEUE = "_integrity";
export const CORRECTIONS_QUEUE = "_corrections";
export const SYSTEM_QUEUES = [DEAD_LETTER_QUEUE, EVENTS_QUEUE, AUDIT_QUEUE, INTEGRITY_QUEUE, CORRECTIONS_QUEUE] as const;

/**
 * Where a queue's pending messages are served from. A scope's `_events` queue is served
 * from MariaDB alone: it receives every message event of the scope, several per message,
 * and keeping those pending in Redis would multiply Redis memory for a feed most
 * deployments read rarely. Claims use SELECT … SKIP LOCKED, depth uses counts, and the
 * reconciler leaves it out.
 */
export type ServedFrom = "redis" | "mariadb";
export const servedFrom = (q: Pick<Queue, "system" | "slug">): ServedFrom => (q.system && q.slug === EVENTS_QUEUE ? "mariadb" : "redis");

export type QueueInfo = Queue & { scopeState: Queue["state"]; servedFrom: ServedFrom };

/**
 * How long a process trusts its copy of a queue's settings and state. Publish and claim
 * read them on every call; a pause made on another process is seen within this time.
 */
const TTL_MS = 1000;

/** Cached, tenant-checked lookups of the queues the hot path touches. */
export class QueueDirectory {
  private readonly cache = new Map<string, { until: number; info: Promise<QueueInfo | null> }>();
  private readonly systemIds = new Map<string, string>();

  constructor(private readonly db: Db) {}

  async get(tenantId: string, queueId: string, now = Date.now()): Promise<QueueInfo> {
    const info = isUuid(queueId) ? await this.lookup(queueId, now) : null;
    if (!info || info.tenantId !== tenantId) throw new QueueNotFoundError();
    return info;
  }

  /** A system queue of a scope (e.g. _dead_letter); they are never renamed, so cached for good. */
  async systemQueue(scopeId: string, slug: string): Promise<QueueInfo> {
    const key = `${scopeId}/${slug}`;
    let id = this.systemIds.get(key);
    if (!id) {
      const q = await this.db.queue.findUnique({ where: { scopeId_slug: { scopeId, slug } }, select: { id: true } });
      if (!q) throw new Error(`scope ${scopeId} has no system queue ${slug}`);
      this.systemIds.set(key, (id = q.id));
    }
    return (await this.lookup(id, Date.now()))!;
  }

  /** Drops cached copies after a change made by this process. */
  forget(queueId: string): void {
    this.cache.delete(queueId);
  }

  forgetScope(scopeId: string): void {
    for (const [id, entry] of this.cache) {
      void entry.info.then((q) => q?.scopeId === scopeId && this.cache.delete(id));
    }
  }

  private lookup(queueId: string, now: number): Promise<QueueInfo | null> {
    const hit = this.cache.get(queueId);
    if (hit && hit.until > now) return hit.info;
    const info = this.db.queue
      .findUnique({ where: { id: queueId }, include: { scope: { select: { state: true } } } })
      .then((q) => (q ? { ...q, scopeState: q.scope.state, servedFrom: servedFrom(q) } : null));
    if (this.cache.size > 50_000) this.cache.clear();
    this.cache.set(queueId, { until: now + TTL_MS, info });
    info.catch(() => this.cache.delete(queueId));
    return info;
  }
}
