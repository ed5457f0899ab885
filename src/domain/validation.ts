import { z } from "zod";
import { ValidationError, type ErrorDetail } from "../errors.js";

/**
 * Input bounds shared by the domain. Every refusal becomes one VALIDATION_ERROR whose
 * details name each bad field, before anything is written.
 */
export const SLUG_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const NO_CONTROL_RE = /^[^\u0000-\u001f\u007f]*$/;
/**
 * A UTF-16 surrogate without its pair (JSON allows "\ud800") has no UTF-8 form: MariaDB
 * refuses it in a JSON column and the driver would turn it into U+FFFD in a text one.
 * Refused, so what is stored is what was sent.
 */
const LONE_SURROGATE_RE = /\p{Cs}/u;
export const wellFormed = (s: string): boolean => !LONE_SURROGATE_RE.test(s);
const NOT_WELL_FORMED = "must be valid Unicode (it holds a lone surrogate)";
const MAX_DAYS_S = 365 * 24 * 3600;

export const MAX_VISIBILITY_TIMEOUT_S = 12 * 3600;
export const MAX_BATCH = 500;

export const text = (max: number) =>
  z
    .string()
    .min(1, "must not be empty")
    .max(max, `at most ${max} characters`)
    .regex(NO_CONTROL_RE, "control characters are not allowed")
    .refine(wellFormed, NOT_WELL_FORMED);

export const slug = z
  .string()
  .refine((s) => !s.startsWith("_"), "slugs starting with _ are reserved for system queues")
  .refine((s) => SLUG_RE.test(s), "1-64 characters: lowercase letters, digits, - and _, starting with a letter or digit");

export const displayName = text(200).refine((s) => s.trim().length > 0, "must not be blank");

export const intIn = (min: number, max: number) =>
  z.number().int("must be a whole number").min(min, `at least ${min}`).max(max, `at most ${max}`);

export const visibilityTimeoutS = intIn(1, MAX_VISIBILITY_TIMEOUT_S);
export const ttlSeconds = intIn(1, MAX_DAYS_S);

export const labelKey = /^[A-Za-z0-9_.:/-]{1,64}$/;
export const labels = z
  .record(
    z.string(),
    z.union([z.string().max(256, "label values are at most 256 characters").refine(wellFormed, NOT_WELL_FORMED), z.number(), z.boolean()]),
  )
  .refine((l) => Object.keys(l).length <= 64, "at most 64 labels")
  .refine(
    (l) => Object.keys(l).every((k) => labelKey.test(k)),
    "label keys are 1-64 characters of letters, digits and _ . : / -",
  );

// MariaDB's DATETIME holds years 1000-9999; outside them a date would come back changed.
const MIN_DATE_MS = Date.UTC(1000, 0, 1);
const MAX_DATE_MS = Date.UTC(10000, 0, 1) - 1;
export const date = z
  .date()
  .refine((d) => !Number.isNaN(d.getTime()), "not a valid date")
  .refine((d) => d.getTime() >= MIN_DATE_MS && d.getTime() <= MAX_DATE_MS, "must be in the years 1000 to 9999");

/** MariaDB's JSON columns refuse nesting past 32 levels; we stop well before, with a clear error. */
export const MAX_JSON_DEPTH = 24;

function jsonDepth(v: unknown, limit: number, depth = 0): number {
  if (v === null || typeof v !== "object" || depth > limit) return depth;
  let max = depth + 1;
  for (const child of Array.isArray(v) ? v : Object.values(v)) {
    max = Math.max(max, jsonDepth(child, limit, depth + 1));
    if (max > limit) break;
  }
  return max;
}

/** Whether a string or key anywhere in `v` is not well-formed; `v` nests at most MAX_JSON_DEPTH levels. */
function holdsLoneSurrogate(v: unknown): boolean {
  if (typeof v === "string") return !wellFormed(v);
  if (v === null || typeof v !== "object") return false;
  if (Array.isArray(v)) return v.some(holdsLoneSurrogate);
  return Object.entries(v).some(([k, x]) => !wellFormed(k) || holdsLoneSurrogate(x));
}

/** A JSON value whose text is at most `maxBytes`, whose nesting is at most MAX_JSON_DEPTH, and that is valid Unicode. */
export const jsonOfAtMost = (maxBytes: number) =>
  z.custom<unknown>((v) => v !== undefined, "is required").superRefine((v, ctx) => {
    if (jsonDepth(v, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
      ctx.addIssue({ code: "custom", message: `is nested deeper than ${MAX_JSON_DEPTH} levels` });
      return;
    }
    if (holdsLoneSurrogate(v)) {
      ctx.addIssue({ code: "custom", message: NOT_WELL_FORMED });
      return;
    }
    const size = Buffer.byteLength(JSON.stringify(v) ?? "", "utf8");
    if (size > maxBytes) ctx.addIssue({ code: "custom", message: `is ${size} bytes, the limit is ${maxBytes}` });
  });

export const jsonObjectOfAtMost = (maxBytes: number) =>
  jsonOfAtMost(maxBytes).refine((v) => v !== null && typeof v === "object" && !Array.isArray(v), "must be an object");

/** Parses `value` or throws one ValidationError naming every bad field under `prefix`. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, prefix: string): z.infer<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  throw new ValidationError(detailsOf(r.error, prefix));
}

export function detailsOf(error: z.ZodError, prefix: string): ErrorDetail[] {
  return error.issues.map((i) => ({
    field: [prefix, ...i.path.map(String)].filter(Boolean).join("."),
    message: i.message,
  }));
}

export function checkBatchSize(n: number, field: string, max = MAX_BATCH): void {
  if (n < 1 || n > max) throw new ValidationError([{ field, message: `takes 1 to ${max} items, got ${n}` }]);
}

/** How a batch item is named in error details: "input" alone, or "inputs.3" in a batch. */
export type BatchPrefix = "input" | "inputs";
export const itemField = (prefix: BatchPrefix, i: number): string => (prefix === "input" ? "input" : `inputs.${i}`);

/** Parses every item of a (possibly one-item) batch, reporting all bad fields at once. */
export function parseBatch<S extends z.ZodType>(schema: S, inputs: unknown[], prefix: BatchPrefix): z.infer<S>[] {
  checkBatchSize(inputs.length, prefix);
  const details: ErrorDetail[] = [];
  const parsed = inputs.map((input, i) => {
    const r = schema.safeParse(input);
    if (!r.success) details.push(...detailsOf(r.error, itemField(prefix, i)));
    return r.data as z.infer<S>;
  });
  if (details.length) throw new ValidationError(details);
  return parsed;
}

/** Builds a schema once per configured limit (the limits come from config at run time). */
export function perLimit<S>(make: (limit: number) => S): (limit: number) => S {
  const built = new Map<number, S>();
  return (limit) => {
    let s = built.get(limit);
    if (!s) built.set(limit, (s = make(limit)));
    return s;
  };
}
