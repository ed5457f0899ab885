import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import { z } from "zod";
import type { Db } from "../db/client.js";
import type { MessageSchema, Queue } from "../generated/prisma/client.js";
import { uuidv7 } from "../ids.js";
import { QueueNotFoundError, ValidationError, type ErrorDetail } from "../errors.js";
import type { Actor } from "./actor.js";
import { canonicalJson } from "./canonical-json.js";
import type { Deps } from "./deps.js";
import { getQueue } from "./queues.js";
import { isUniqueViolation, requireScope } from "./scopes.js";
import { jsonObjectOfAtMost, parseInput } from "./validation.js";

// CommonJS default export seen through NodeNext
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$/;
const VERSION_RE = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$/;
const MAX_SCHEMA_BYTES = 64 * 1024;
/** Per message; a body that breaks more rules than this gets the first ones. */
const MAX_DETAILS = 20;

export const schemaName = z.string().regex(NAME_RE, "1-128 characters: letters, digits and _ . : / -, starting with a letter or digit");
export const schemaVersion = z.string().regex(VERSION_RE, "1-64 characters: letters, digits and _ . + -, starting with a letter or digit");

const Register = z.object({
  scopeId: z.string(),
  name: schemaName,
  version: schemaVersion,
  schema: jsonObjectOfAtMost(MAX_SCHEMA_BYTES),
});

/**
 * JSON Schemas are compiled by ajv once per registered version (versions never change,
 * so the compiled validator is kept for the life of the process). Draft 2020-12 when
 * the schema says so in $schema, draft-07 otherwise; strict mode, so a misspelt keyword
 * is refused at registration instead of silently ignored.
 */
export class SchemaBook {
  private readonly draft07 = addFormats(new Ajv({ allErrors: true, strict: true }));
  private readonly draft2020 = addFormats(new Ajv2020({ allErrors: true, strict: true }));
  private readonly compiled = new Map<string, Promise<ValidateFunction>>();

  constructor(private readonly db: Db) {}

  /** Compiles a schema, or says why it is not one. */
  compile(schema: object): ValidateFunction {
    const $schema = (schema as { $schema?: unknown }).$schema;
    const ajv = typeof $schema === "string" && $schema.includes("2020-12") ? this.draft2020 : this.draft07;
    // compile() would register a schema's $id for good; these are tenant documents, not ours
    const { $id: _ignored, ...anonymous } = schema as Record<string, unknown>;
    return ajv.compile(anonymous);
  }

  validatorOf(schemaId: string): Promise<ValidateFunction> {
    let v = this.compiled.get(schemaId);
    if (!v) {
      v = this.db.messageSchema.findUniqueOrThrow({ where: { id: schemaId } }).then((s) => this.compile(s.schema as object));
      if (this.compiled.size > 10_000) this.compiled.clear();
      this.compiled.set(schemaId, v);
      v.catch(() => this.compiled.delete(schemaId));
    }
    return v;
  }

  /** Every problem of a body against the schema, named by path under `field` ("input.body"). */
  async check(schemaId: string, body: unknown, field: string): Promise<ErrorDetail[]> {
    const validate = await this.validatorOf(schemaId);
    if (validate(body)) return [];
    return (validate.errors ?? []).slice(0, MAX_DETAILS).map((e) => ({ field: field + pathOf(e), message: e.message ?? "is invalid" }));
  }
}

/** ajv's "/items/0/qty" as "items[0].qty"; a missing property is named itself. */
function pathOf(e: ErrorObject): string {
  const steps = e.instancePath
    .split("/")
    .slice(1)
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
  if (e.keyword === "required") steps.push(String((e.params as { missingProperty: string }).missingProperty));
  return steps.map((s) => (/^\d+$/.test(s) ? `[${s}]` : `.${s}`)).join("");
}

export async function registerSchema(deps: Pick<Deps, "db" | "schemas">, actor: Actor, input: unknown): Promise<MessageSchema> {
  const data = parseInput(Register, input, "");
  const scope = await requireScope(deps.db, actor, data.scopeId);
  try {
    deps.schemas.compile(data.schema as object);
  } catch (err) {
    throw new ValidationError([{ field: "schema", message: `not a usable JSON Schema: ${(err as Error).message}` }]);
  }
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

export async function listSchemas(db: Db, actor: Actor, scopeId: string): Promise<MessageSchema[]> {
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
  const queue = await getQueue(deps.db, actor, args.queueId);
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
