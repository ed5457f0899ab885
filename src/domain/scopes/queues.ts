import { z } from "zod";
import type { Queue } from "../../generated/prisma/client.js";
import { nextState, type LifecycleAction } from "./lifecycle.js";
import { uuidv7, isUuid } from "../../ids.js";
import { QueueNotFoundError, SlugConflictError } from "../../errors.js";
import type { Actor } from "../actor.js";
import type { Deps } from "../deps.js";
import { requireScope } from "./scopes.js";
import { displayName, intIn, parseInput, slug, visibilityTimeoutS } from "../validation.js";
import { isUniqueViolation } from "../../db/client.js";

export const MAX_RETRIES = 100;
export const MAX_DEPTH = 100_000_000;

const CreateQueue = z.object({
  scopeId: z.string(),
  slug,
  displayName,
  ordering: z.enum(["FIFO", "PRIORITY", "DEADLINE"]).nullish(),
  consumerMode: z.enum(["COMPETING", "BROADCAST"]).nullish(),
  visibilityTimeoutS: visibilityTimeoutS.nullish(),
  maxRetries: intIn(0, MAX_RETRIES).nullish(),
  maxDepth: intIn(1, MAX_DEPTH).nullish(),
  overflowPolicy: z.enum(["REJECT", "DROP_OLDEST", "DEAD_LETTER"]).nullish(),
});

export async function createQueue(deps: Pick<Deps, "db">, actor: Actor, input: unknown): Promise<Queue> {
  const data = parseInput(CreateQueue, input, "input");
  const scope = await requireScope(deps.db, actor, data.scopeId);
  try {
    return await deps.db.queue.create({
      data: {
        id: uuidv7(),
        scopeId: scope.id,
        tenantId: actor.tenantId,
        slug: data.slug,
        displayName: data.displayName,
        ordering: data.ordering ?? "FIFO",
        consumerMode: data.consumerMode ?? "COMPETING",
        visibilityTimeoutS: data.visibilityTimeoutS ?? 30,
        maxRetries: data.maxRetries ?? 5,
        maxDepth: data.maxDepth ?? null,
        overflowPolicy: data.overflowPolicy ?? "REJECT",
      },
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw new SlugConflictError("queue", data.slug);
    throw err;
  }
}

export async function getQueue({ db }: Pick<Deps, "db">, actor: Actor, id: string): Promise<Queue | null> {
  if (!isUuid(id)) return null;
  return db.queue.findFirst({ where: { id, tenantId: actor.tenantId } });
}

export async function changeQueueState(
  deps: Pick<Deps, "db" | "queues">,
  actor: Actor,
  id: string,
  action: LifecycleAction,
): Promise<Queue> {
  const current = await getQueue(deps, actor, id);
  if (!current) throw new QueueNotFoundError();
  const queue = await deps.db.queue.update({ where: { id }, data: { state: nextState(current.state, action) } });
  deps.queues.forget(id);
  return queue;
}
