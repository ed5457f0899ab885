import type { Db } from "../db/client.js";
import type { HitlPattern } from "../generated/prisma/client.js";
import { uuidv7 } from "../ids.js";
import { ValidationError, type ErrorDetail } from "../errors.js";
import type { Actor } from "./actor.js";
import { canonicalJson } from "./canonical-json.js";
import { schemaName, schemaVersion } from "./message-schemas/schemas.js";
import { requireScope } from "./scopes/scopes.js";
import { jsonObjectOfAtMost } from "./validation.js";
import { isUniqueViolation } from "../db/client.js";
import { type Deps } from "./deps.js";

/**
 * Human review (contract §6): a message may carry a HITL spec, a form for a person —
 *   {sections: [{type: "context", title, content}, {type: "decision", field, options},
 *               {type: "input", field, kind, required}], timeoutS?}
 * submitReview completes the message with {decision, inputs}, so messageCompleted
 * waiters resume; past timeoutS the message expires like any other.
 */
export type HitlSpec = { sections: Section[]; timeoutS?: number; assignee?: string };
export type Section =
  | { type: "context"; title: string; content: string }
  | { type: "decision"; field: string; options: string[] }
  | { type: "input"; field: string; kind: InputKind; required: boolean; label?: string };

const INPUT_KINDS = ["text", "number", "boolean", "json"] as const;
type InputKind = (typeof INPUT_KINDS)[number];

export const MAX_HITL_SPEC_BYTES = 64 * 1024;
const MAX_SECTIONS = 50;
const MAX_TIMEOUT_S = 365 * 24 * 3600;
const FIELD_RE = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const PLACEHOLDER_RE = /\{\{\s*([A-Za-z_][A-Za-z0-9_]{0,63})\s*\}\}/g;

const str = (v: unknown, max: number): v is string => typeof v === "string" && v.length <= max;

/** Checks a spec; returns every problem, each named by its path under `at`. */
export function checkHitlSpec(raw: unknown, at: string): ErrorDetail[] {
  const problems: ErrorDetail[] = [];
  const bad = (field: string, message: string) => problems.push({ field: `${at}${field}`, message });
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return [{ field: at, message: "must be an object: {sections, timeoutS?}" }];
  const spec = raw as Record<string, unknown>;
  for (const k of Object.keys(spec)) if (!["sections", "timeoutS", "assignee"].includes(k)) bad(`.${k}`, "unknown key (sections, timeoutS, assignee)");
  if (spec.timeoutS !== undefined && !(Number.isInteger(spec.timeoutS) && (spec.timeoutS as number) >= 1 && (spec.timeoutS as number) <= MAX_TIMEOUT_S)) {
    bad(".timeoutS", `must be a whole number of seconds, 1 to ${MAX_TIMEOUT_S}`);
  }
  if (spec.assignee !== undefined && !str(spec.assignee, 200)) bad(".assignee", "must be a string of at most 200 characters");
  if (!Array.isArray(spec.sections) || spec.sections.length === 0 || spec.sections.length > MAX_SECTIONS) {
    bad(".sections", `must be a list of 1 to ${MAX_SECTIONS} sections`);
    return problems;
  }
  const fields = new Set<string>();
  let decisions = 0;
  spec.sections.forEach((s: unknown, i: number) => {
    const p = `.sections[${i}]`;
    if (s === null || typeof s !== "object" || Array.isArray(s)) return bad(p, "must be an object with a type");
    const o = s as Record<string, unknown>;
    const allowed: Record<string, string[]> = {
      context: ["type", "title", "content"],
      decision: ["type", "field", "options"],
      input: ["type", "field", "kind", "required", "label"],
    };
    if (typeof o.type !== "string" || !allowed[o.type]) return bad(`${p}.type`, "must be context, decision or input");
    for (const k of Object.keys(o)) if (!allowed[o.type]!.includes(k)) bad(`${p}.${k}`, `unknown key for a ${o.type} section`);
    if (o.type === "context") {
      if (!str(o.title, 200)) bad(`${p}.title`, "must be a string of at most 200 characters");
      if (!str(o.content, 16_384)) bad(`${p}.content`, "must be a string of at most 16384 characters");
      return;
    }
    if (typeof o.field !== "string" || !FIELD_RE.test(o.field)) bad(`${p}.field`, "must be an identifier: letters, digits and _, at most 64");
    else if (fields.has(o.field)) bad(`${p}.field`, `"${o.field}" is used by another section`);
    else fields.add(o.field);
    if (o.type === "decision") {
      decisions++;
      const options = o.options;
      if (!Array.isArray(options) || options.length === 0 || options.length > 20 || !options.every((x) => typeof x === "string" && x.length >= 1 && x.length <= 64)) {
        bad(`${p}.options`, "must be a list of 1 to 20 option names of 1 to 64 characters");
      } else if (new Set(options).size !== options.length) bad(`${p}.options`, "options must be different");
    } else {
      if (!(INPUT_KINDS as readonly string[]).includes(o.kind as string)) bad(`${p}.kind`, `must be one of ${INPUT_KINDS.join(" ")}`);
      if (o.required !== undefined && typeof o.required !== "boolean") bad(`${p}.required`, "must be true or false");
      if (o.label !== undefined && !str(o.label, 200)) bad(`${p}.label`, "must be a string of at most 200 characters");
    }
  });
  if (decisions !== 1) bad(".sections", `needs exactly one decision section, has ${decisions}`);
  return problems;
}

/** The review's expiry: timeoutS after publishing, if the spec has one. */
export const reviewTimeoutS = (spec: unknown): number | undefined => (spec as HitlSpec | null)?.timeoutS;

/** The longest parameter value: as long as a context section's content may be. */
export const MAX_HITL_PARAM_CHARS = 16_384;

/**
 * Fills {{param}} placeholders in the pattern's context sections. Every placeholder
 * needs a parameter (a string of at most MAX_HITL_PARAM_CHARS, a number or a boolean);
 * extra parameters are ignored. The filled spec must fit MAX_HITL_SPEC_BYTES like any
 * other, and filling stops as soon as it no longer would: filled first and measured
 * after, a pattern with thousands of placeholders would turn a 20 kB request into a
 * 196 MB answer.
 */
export function fillPattern(spec: HitlSpec, params: unknown): HitlSpec {
  if (params === null || typeof params !== "object" || Array.isArray(params)) {
    throw new ValidationError([{ field: "params", message: "must be an object of parameter values" }]);
  }
  const values = params as Record<string, unknown>;
  const problems: ErrorDetail[] = [];
  const refuse = (name: string, message: string) => {
    if (!problems.some((p) => p.field === `params.${name}`)) problems.push({ field: `params.${name}`, message });
  };
  // every character a placeholder adds beyond itself counts against what the spec may grow by
  let room = MAX_HITL_SPEC_BYTES - Buffer.byteLength(JSON.stringify(spec));
  const fill = (s: string) =>
    s.replace(PLACEHOLDER_RE, (whole, name: string) => {
      if (room < 0) return whole;
      const v = Object.hasOwn(values, name) ? values[name] : undefined;
      if (typeof v === "string" && v.length > MAX_HITL_PARAM_CHARS) refuse(name, `at most ${MAX_HITL_PARAM_CHARS} characters`);
      else if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") {
        const filled = JSON.stringify(String(v)).slice(1, -1); // as the spec's JSON will hold it
        room -= Buffer.byteLength(filled) - whole.length;
        if (room >= 0) return String(v);
      } else refuse(name, v === undefined ? "is used by the pattern and missing" : "must be a string, number or boolean");
      return whole;
    });
  const sections = spec.sections.map((s) => (s.type === "context" ? { ...s, title: fill(s.title), content: fill(s.content) } : s));
  if (room < 0) {
    problems.push({ field: "params", message: `the filled pattern would be larger than a hitlSpec may be (${MAX_HITL_SPEC_BYTES} bytes)` });
  }
  if (problems.length) throw new ValidationError(problems);
  return { ...spec, sections };
}

export async function registerPattern({ db }: Pick<Deps, "db">, actor: Actor, args: { scopeId: string; name: string; version: string; spec: unknown }): Promise<HitlPattern> {
  const problems: ErrorDetail[] = [];
  const name = schemaName.safeParse(args.name);
  if (!name.success) problems.push({ field: "name", message: name.error.issues[0]!.message });
  const version = schemaVersion.safeParse(args.version);
  if (!version.success) problems.push({ field: "version", message: version.error.issues[0]!.message });
  const size = jsonObjectOfAtMost(MAX_HITL_SPEC_BYTES).safeParse(args.spec);
  if (!size.success) problems.push({ field: "spec", message: size.error.issues[0]!.message });
  else problems.push(...checkHitlSpec(args.spec, "spec"));
  if (problems.length) throw new ValidationError(problems);
  const scope = await requireScope(db, actor, args.scopeId);
  try {
    return await db.hitlPattern.create({
      data: { id: uuidv7(), tenantId: actor.tenantId, scopeId: scope.id, name: args.name, version: args.version, spec: args.spec as object },
    });
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
    const existing = await db.hitlPattern.findUniqueOrThrow({
      where: { scopeId_name_version: { scopeId: scope.id, name: args.name, version: args.version } },
    });
    if (canonicalJson(existing.spec) === canonicalJson(args.spec)) return existing;
    throw new ValidationError([{ field: "version", message: `${args.name} ${args.version} is registered with another spec; register a new version` }]);
  }
}

export async function listPatterns({ db }: Pick<Deps, "db">, actor: Actor, scopeId: string): Promise<HitlPattern[]> {
  const scope = await requireScope(db, actor, scopeId);
  return db.hitlPattern.findMany({ where: { scopeId: scope.id }, orderBy: [{ name: "asc" }, { id: "asc" }] });
}

/** A pattern by name and version; without a version, the one registered last. */
export async function findPattern(db: Db, scopeId: string, name: string, version?: string | null): Promise<HitlPattern> {
  const pattern = await db.hitlPattern.findFirst({
    where: { scopeId, name, ...(version != null ? { version } : {}) },
    orderBy: { id: "desc" },
  });
  if (!pattern) {
    throw new ValidationError([
      { field: version != null ? "version" : "name", message: `no HITL pattern ${name.slice(0, 128)}${version != null ? ` version ${version.slice(0, 64)}` : ""} in this scope` },
    ]);
  }
  return pattern;
}

export async function previewPattern(
  { db }: Pick<Deps, "db">,
  actor: Actor,
  args: { scopeId: string; name: string; version?: string | null; params: unknown },
): Promise<HitlSpec> {
  const scope = await requireScope(db, actor, args.scopeId);
  const pattern = await findPattern(db, scope.id, args.name, args.version);
  return fillPattern(pattern.spec as HitlSpec, args.params);
}
