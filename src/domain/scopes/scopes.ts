import { z } from "zod";
import { isUniqueViolation, type Db } from "../../db/client.js";
import type { Scope } from "../../generated/prisma/client.js";
import { nextState, type LifecycleAction } from "./lifecycle.js";
import { uuidv7, isUuid } from "../../ids.js";
import { ScopeNotFoundError, SlugConflictError, ValidationError } from "../../errors.js";
import type { Actor } from "../actor.js";
import type { Deps } from "../deps.js";
import { displayName, parseInput, slug } from "../validation.js";
import { SYSTEM_QUEUES } from "../../db/queue-directory.js";

/** Created with every scope, in the same transaction (contract §5). */

const CreateScope = z.object({
  slug,
  displayName,
  description: z.string().max(2000, "at most 2000 characters").nullish(),
});

export async function createScope(deps: Pick<Deps, "db">, actor: Actor, input: unknown): Promise<Scope> {
  const data = parseInput(CreateScope, input, "input");
  const scopeId = uuidv7();
  try {
    const [scope] = await deps.db.$transaction([
      deps.db.scope.create({
        data: {
          id: scopeId,
          tenantId: actor.tenantId,
          slug: data.slug,
          displayName: data.displayName,
          description: data.description ?? null,
        },
      }),
      deps.db.queue.createMany({
        data: SYSTEM_QUEUES.map((s) => ({
          id: uuidv7(),
          scopeId,
          tenantId: actor.tenantId,
          slug: s,
          displayName: s,
          system: true,
        })),
      }),
    ]);
    return scope;
  } catch (err) {
    if (isUniqueViolation(err)) throw new SlugConflictError("scope", data.slug);
    throw err;
  }
}

export async function getScope({ db }: Pick<Deps, "db">, actor: Actor, by: { id?: string | null; slug?: string | null }): Promise<Scope | null> {
  if ((by.id == null) === (by.slug == null)) {
    throw new ValidationError([{ field: "id", message: "give exactly one of id and slug" }]);
  }
  if (by.id != null) {
    if (!isUuid(by.id)) return null;
    return db.scope.findFirst({ where: { id: by.id, tenantId: actor.tenantId } });
  }
  return db.scope.findUnique({ where: { tenantId_slug: { tenantId: actor.tenantId, slug: by.slug! } } });
}

export async function requireScope(db: Db, actor: Actor, id: string): Promise<Scope> {
  const scope = await getScope({ db }, actor, { id });
  if (!scope) throw new ScopeNotFoundError();
  return scope;
}

export function listScopes({ db }: Pick<Deps, "db">, actor: Actor): Promise<Scope[]> {
  return db.scope.findMany({ where: { tenantId: actor.tenantId }, orderBy: { id: "asc" } });
}

export async function changeScopeState(
  deps: Pick<Deps, "db" | "queues">,
  actor: Actor,
  id: string,
  action: LifecycleAction,
): Promise<Scope> {
  const current = await requireScope(deps.db, actor, id);
  const scope = await deps.db.scope.update({ where: { id }, data: { state: nextState(current.state, action) } });
  deps.queues.forgetScope(id);
  return scope;
}
