import { z } from "zod";
import type { MessageSchema, Queue } from "../../generated/prisma/client.js";
import { uuidv7 } from "../../ids.js";
import { QueueNotFoundError, ValidationError } from "../../errors.js";
import type { Actor } from "../actor.js";
import { canonicalJson } from "../canonical-json.js";
import type { Deps } from "../deps.js";
import { getQueue } from "../scopes/queues.js";
import { requireScope } from "../scopes/scopes.js";
import { jsonObjectOfAtMost, parseInput } from "../validation.js";
import { isUniqueViolation } from "../../db/client.js";

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$/;
const VERSION_RE = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$/;
const MAX_SCHEMA_BYTES = 64 * 1024;
export const schemaName = z.string().regex(NAME_RE, "1-128 characters: letters, digits and _ . : / -, starting with a letter or digit");
export const schemaVersion = z.string().regex(VERSION_RE, "1-64 characters: letters, digits and _ . + -, starting with a letter or digit");

const Register = z.object({
  scopeId: z.string(),
  name: schemaName,
  version: schemaVersion,
  schema: jsonObjectOfAtMost(MAX_SCHEMA_BYTES),
});

export async function registerSchema(deps: Pick<Deps, "db" | "schemas">, actor: Actor, input: unknown): Promise<MessageSchema> {
  const data = parseInput(Register, input, "");
  const scope = await requireScope(deps.db, actor, data.scopeId);
  deps.schemas.compile(data.schema as object);
  const where = { scopeId_name_version: { scopeId: scope.id, name: data.name, version: data.version } };
  try {
    return await deps.db.messageSchema.create({
      data: { id: uuidv7(), tenantId: actor.tenantId, scopeId: scope.id, name: data.name, version: data.version, schema: data.schema as object },
    });
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
    // registering the same version again with the same schema is a no-op; versions never change
    const existing = await deps.db.messageSchema.findUniqueOrThrow({ where });
    if (canonicalJson(existing.schema) === canonicalJson(data.schema)) return existing;
    throw new ValidationError([
      { field: "version", message: `${data.name} ${data.version} is registered with another schema; register a new version` },
    ]);
  }
}

export async function listSchemas({ db }: Pick<Deps, "db">, actor: Actor, scopeId: string): Promise<MessageSchema[]> {
  const scope = await requireScope(db, actor, scopeId);
  return db.messageSchema.findMany({ where: { scopeId: scope.id }, orderBy: [{ name: "asc" }, { id: "asc" }] });
}

/**
 * Binds a registered schema version to a queue: publishes from then on are checked
 * against it. Messages already queued are not touched.
 */
export async function bindQueueSchema(
  deps: Pick<Deps, "db" | "queues">,
  actor: Actor,
  args: { queueId: string; name: string; version: string },
): Promise<Queue> {
  const queue = await getQueue(deps, actor, args.queueId);
  if (!queue) throw new QueueNotFoundError();
  if (queue.system) throw new ValidationError([{ field: "queueId", message: `${queue.slug} is a system queue` }]);
  const schema = await deps.db.messageSchema.findUnique({
    where: { scopeId_name_version: { scopeId: queue.scopeId, name: args.name, version: args.version } },
  });
  if (!schema) {
    throw new ValidationError([{ field: "version", message: `no schema ${args.name.slice(0, 128)} version ${args.version.slice(0, 64)} in the queue's scope` }]);
  }
  const bound = await deps.db.queue.update({ where: { id: queue.id }, data: { schemaId: schema.id } });
  deps.queues.forget(queue.id);
  return bound;
}

/** A queue's bound schema (the queue was found for the tenant already). */
export const getSchema = (deps: Pick<Deps, "db">, id: string): Promise<MessageSchema | null> => deps.db.messageSchema.findUnique({ where: { id } });
