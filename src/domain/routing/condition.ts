import { isDeepStrictEqual } from "node:util";
import { RE2JS } from "re2js";
import type { ErrorDetail } from "../../errors.js";

/**
 * The condition language of routing rules (contract §6):
 *   {"field": "labels.customer_tier", "op": "eq", "value": "premium"}
 *   {"all": [...]}, {"any": [...]}, {"not": {...}}
 * Conditions are checked once, when a rule is saved (parseCondition), into a tree that
 * evaluating never has to re-check.
 */
export type Condition =
  | { all: Condition[] }
  | { any: Condition[] }
  | { not: Condition }
  | { field: FieldRef; op: Op; value: unknown; pattern?: RE2JS };

export const OPS = ["eq", "ne", "in", "nin", "gt", "gte", "lt", "lte", "exists", "matches"] as const;
type Op = (typeof OPS)[number];

/** Where a field's value comes from: a root and a path below it. */
type FieldRef = { root: "labels" | "body" | "messageType" | "priorityTier" | "priorityScore" | "queue.slug"; path: (string | number)[] };

/** What a condition is evaluated against. */
export type Subject = {
  labels: Record<string, unknown>;
  body: unknown;
  messageType: string | null;
  priorityTier: string;
  priorityScore: number;
  queueSlug: string;
};

const MAX_NODES = 100;
const MAX_DEPTH = 10;
const MAX_PATTERN = 200;
const MAX_PATH = 16;
/** Tiers compare by rank: "gt NORMAL" means HIGH or CRITICAL. */
const TIER_RANK: Record<string, number> = { BACKGROUND: 0, LOW: 1, NORMAL: 2, HIGH: 3, CRITICAL: 4 };

/** Parses a condition, or returns every problem with the path (under `at`) of the bad part. */
export function parseCondition(raw: unknown, at: string): { condition?: Condition; problems: ErrorDetail[] } {
  const problems: ErrorDetail[] = [];
  let nodes = 0;
  const bad = (field: string, message: string) => problems.push({ field, message });

  function walk(v: unknown, path: string, depth: number): Condition | undefined {
    if (++nodes > MAX_NODES) {
      if (nodes === MAX_NODES + 1) bad(path, `a condition has at most ${MAX_NODES} parts`);
      return undefined;
    }
    if (depth > MAX_DEPTH) {
      bad(path, `conditions nest at most ${MAX_DEPTH} levels`);
      return undefined;
    }
    if (v === null || typeof v !== "object" || Array.isArray(v)) {
      bad(path, 'must be an object: {"field", "op", "value"}, {"all": [...]}, {"any": [...]} or {"not": {...}}');
      return undefined;
    }
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    for (const combinator of ["all", "any"] as const) {
      if (combinator in o) {
        if (keys.length !== 1) bad(path, `"${combinator}" stands alone in its object`);
        const list = o[combinator];
        if (!Array.isArray(list)) {
          bad(`${path}.${combinator}`, "must be a list of conditions");
          return undefined;
        }
        const parts = list.map((c, i) => walk(c, `${path}.${combinator}[${i}]`, depth + 1));
        return combinator === "all" ? { all: parts as Condition[] } : { any: parts as Condition[] };
      }
    }
    if ("not" in o) {
      if (keys.length !== 1) bad(path, '"not" stands alone in its object');
      const inner = walk(o.not, `${path}.not`, depth + 1);
      return inner && { not: inner };
    }
    return leaf(o, path);
  }

  function leaf(o: Record<string, unknown>, path: string): Condition | undefined {
    const unknown = Object.keys(o).filter((k) => !["field", "op", "value"].includes(k));
    if (unknown.length) bad(path, `unknown key${unknown.length > 1 ? "s" : ""} ${unknown.map((k) => `"${k}"`).join(", ")}`);
    const field = parseField(o.field);
    if (typeof field === "string") bad(`${path}.field`, field);
    if (typeof o.op !== "string" || !(OPS as readonly string[]).includes(o.op)) {
      bad(`${path}.op`, `must be one of ${OPS.join(" ")}`);
      return undefined;
    }
    const op = o.op as Op;
    const value = o.value;
    let pattern: RE2JS | undefined;
    switch (op) {
      case "in":
      case "nin":
        if (!Array.isArray(value) || value.length === 0 || value.length > 100) bad(`${path}.value`, `"${op}" takes a list of 1 to 100 values`);
        break;
      case "gt":
      case "gte":
      case "lt":
      case "lte":
        if (typeof value !== "number" && typeof value !== "string") bad(`${path}.value`, `"${op}" compares with a number or a string`);
        else if (typeof field === "object" && field.root === "priorityTier" && !(String(value) in TIER_RANK)) {
          bad(`${path}.value`, `a priority tier: ${Object.keys(TIER_RANK).reverse().join(" ")}`);
        }
        break;
      case "exists":
        if (value !== undefined && typeof value !== "boolean") bad(`${path}.value`, '"exists" takes true, false or no value');
        break;
      case "matches":
        pattern = safePattern(value, `${path}.value`, bad);
        break;
      default:
        if (value === undefined) bad(`${path}.value`, `"${op}" needs a value`);
    }
    if (typeof field !== "object") return undefined;
    return { field, op, value: op === "exists" ? (value ?? true) : value, ...(pattern ? { pattern } : {}) };
  }

  const condition = walk(raw, at, 0);
  return problems.length ? { problems } : { condition, problems };
}

/** "labels.<key>", "messageType", "priorityTier", "priorityScore", "body.<path>", "queue.slug". */
function parseField(f: unknown): FieldRef | string {
  const expected = 'labels.<key>, messageType, priorityTier, priorityScore, body.<json path> or queue.slug';
  if (typeof f !== "string" || !f) return `must be one of ${expected}`;
  if (f === "messageType" || f === "priorityTier" || f === "priorityScore" || f === "queue.slug") return { root: f, path: [] };
  // a label key may itself hold dots: everything after "labels." is the key
  if (f.startsWith("labels.") && f.length > "labels.".length) return { root: "labels", path: [f.slice("labels.".length)] };
  if (f === "body") return { root: "body", path: [] };
  if (f.startsWith("body.") || f.startsWith("body[")) {
    const path = parseJsonPath(f.slice("body".length));
    if (!path) return 'a body path is dot-separated keys and [index] steps, e.g. "body.items[0].sku"';
    if (path.length > MAX_PATH) return `a body path has at most ${MAX_PATH} steps`;
    return { root: "body", path };
  }
  return `unknown field "${f.slice(0, 100)}": use ${expected}`;
}

function parseJsonPath(rest: string): (string | number)[] | null {
  const path: (string | number)[] = [];
  const step = /^(?:\.([^.[\]]+)|\[(\d{1,6})\])/;
  while (rest.length) {
    const m = step.exec(rest);
    if (!m) return null;
    path.push(m[1] !== undefined ? m[1] : Number(m[2]));
    rest = rest.slice(m[0].length);
  }
  return path;
}

/**
 * A "matches" pattern is an RE2 regular expression, matched by re2js in time linear in
 * the subject: rules run inside publish, so a pattern that backtracks exponentially (or
 * polynomially, like `.*.*.*x`) would stall every tenant of the process. RE2 has no
 * backreferences or lookarounds; patterns using them are refused when the rule is saved.
 */
function safePattern(value: unknown, field: string, bad: (f: string, m: string) => void): RE2JS | undefined {
  if (typeof value !== "string" || !value || value.length > MAX_PATTERN) {
    bad(field, `"matches" takes a regular expression of 1 to ${MAX_PATTERN} characters`);
    return undefined;
  }
  try {
    return RE2JS.compile(value);
  } catch (err) {
    bad(field, `not a valid RE2 regular expression (no backreferences or lookarounds): ${(err as Error).message}`);
    return undefined;
  }
}

/** The longest text a "matches" pattern is run against. */
const MAX_SUBJECT = 10_000;

export function matches(c: Condition, s: Subject): boolean {
  if ("all" in c) return c.all.every((x) => matches(x, s));
  if ("any" in c) return c.any.some((x) => matches(x, s));
  if ("not" in c) return !matches(c.not, s);
  const v = valueOf(c.field, s);
  switch (c.op) {
    case "exists":
      return (v !== undefined && v !== null) === c.value;
    case "eq":
      return isDeepStrictEqual(v, c.value);
    case "ne":
      return !isDeepStrictEqual(v, c.value);
    case "in":
      return (c.value as unknown[]).some((x) => isDeepStrictEqual(v, x));
    case "nin":
      return !(c.value as unknown[]).some((x) => isDeepStrictEqual(v, x));
    case "matches":
      return typeof v === "string" && c.pattern!.matcher(v.slice(0, MAX_SUBJECT)).find();
    default:
      return compare(c.field.root === "priorityTier" ? TIER_RANK[String(v)] : v, c.field.root === "priorityTier" ? TIER_RANK[String(c.value)] : c.value, c.op);
  }
}

function compare(a: unknown, b: unknown, op: "gt" | "gte" | "lt" | "lte"): boolean {
  // only like with like: a number against a string never matches
  if (typeof a !== typeof b || (typeof a !== "number" && typeof a !== "string")) return false;
  const x = a as number | string;
  const y = b as number | string;
  return op === "gt" ? x > y : op === "gte" ? x >= y : op === "lt" ? x < y : x <= y;
}

function valueOf(f: FieldRef, s: Subject): unknown {
  switch (f.root) {
    case "labels":
      return Object.hasOwn(s.labels, f.path[0] as string) ? s.labels[f.path[0] as string] : undefined;
    case "messageType":
      return s.messageType;
    case "priorityTier":
      return s.priorityTier;
    case "priorityScore":
      return s.priorityScore;
    case "queue.slug":
      return s.queueSlug;
    case "body": {
      let v: unknown = s.body;
      for (const step of f.path) {
        if (v === null || typeof v !== "object") return undefined;
        if (typeof step === "number") {
          if (!Array.isArray(v)) return undefined;
          v = v[step];
        } else {
          if (Array.isArray(v) || !Object.hasOwn(v, step)) return undefined;
          v = (v as Record<string, unknown>)[step];
        }
      }
      return v;
    }
  }
}
