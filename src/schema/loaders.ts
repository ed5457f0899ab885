import DataLoader from "dataloader";
import type { Queue, Scope } from "../generated/prisma/client.js";
import type { Deps } from "../domain/deps.js";
import { type QueueDepth, depthOfEvents } from "../domain/scopes/depth.js";

/** Per-request batching of the lookups that nested fields make (no N+1); one tenant's rows only. */
export function createLoaders(deps: Pick<Deps, "db" | "clock" | "stagedEvents">, tenantId: string) {
  const db = deps.db;
  return {
    depthOfEvents: new DataLoader<string, QueueDepth>((ids) => depthOfEvents(deps, ids)),
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

export type Loaders = ReturnType<typeof createLoaders>;
