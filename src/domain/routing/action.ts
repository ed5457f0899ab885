import type { ErrorDetail } from "../../errors.js";
import type { PriorityTier } from "../../generated/prisma/client.js";
import { labels as labelsSchema, MAX_JSON_DEPTH } from "../validation.js";

export const ACTION_TYPES = ["ROUTE", "COPY", "TRANSFORM", "ESCALATE", "ARCHIVE"] as const;
export type ActionType = (typeof ACTION_TYPES)[number];

/** What a rule does (contract §6). Changes apply to the child when one is made, else to the message. */
export type Action = {
  type: ActionType;
  targetQueueId?: string;
  setLabels?: Record<string, string | number | boolean>;
  setPriorityTier?: PriorityTier;
  /** merged into the body as a JSON merge patch (RFC 7386): null removes a key */
  patch?: Record<string, unknown>;
};

const TIERS: PriorityTier[] = ["CRITICAL", "HIGH", "NORMAL", "LOW", "BACKGROUND"];
const KEYS = ["type", "targetQueueId", "setLabels", "setPriorityTier", "patch"];
const MAX_PATCH_BYTES = 64 * 1024;

/** Checks the shape of an action; whether its target queue fits is checked by the caller. */
export function parseAction(raw: unknown, at: string): { action?: Action; problems: ErrorDetail[] } {
  const problems: ErrorDetail[] = [];
  const bad = (field: string, message: string) => problems.push({ field: `${at}${field}`, message });
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    bad("", "must be an object: {type, targetQueueId?, setLabels?, setPriorityTier?, patch?}");
    return { problems };
  }
  const o = raw as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !KEYS.includes(k));
  if (unknown.length) bad("", `unknown key${unknown.length > 1 ? "s" : ""} ${unknown.map((k) => `"${k}"`).join(", ")}`);
  if (typeof o.type !== "string" || !(ACTION_TYPES as readonly string[]).includes(o.type)) {
    bad(".type", `must be one of ${ACTION_TYPES.join(" ")}`);
    return { problems };
  }
  const action: Action = { type: o.type as ActionType };
  const needsTarget = action.type === "ROUTE" || action.type === "COPY";
  if (o.targetQueueId !== undefined && o.targetQueueId !== null) {
    if (typeof o.targetQueueId !== "string") bad(".targetQueueId", "must be a queue id");
    else if (action.type === "TRANSFORM" || action.type === "ARCHIVE") bad(".targetQueueId", `${action.type} takes no target queue`);
    else action.targetQueueId = o.targetQueueId;
  } else if (needsTarget) bad(".targetQueueId", `${action.type} needs a target queue`);

  if (action.type === "ARCHIVE") {
    for (const k of ["setLabels", "setPriorityTier", "patch"]) if (o[k] !== undefined) bad(`.${k}`, "ARCHIVE changes nothing but the state");
  }
  if (o.setLabels !== undefined) {
    const r = labelsSchema.safeParse(o.setLabels);
    if (r.success) action.setLabels = r.data;
    else bad(".setLabels", r.error.issues[0]!.message);
  }
  if (o.setPriorityTier !== undefined) {
    if (TIERS.includes(o.setPriorityTier as PriorityTier)) action.setPriorityTier = o.setPriorityTier as PriorityTier;
    else bad(".setPriorityTier", `must be one of ${TIERS.join(" ")}`);
  }
  if (o.patch !== undefined) {
    if (o.patch === null || typeof o.patch !== "object" || Array.isArray(o.patch)) bad(".patch", "must be an object (a JSON merge patch)");
    else if (Buffer.byteLength(JSON.stringify(o.patch)) > MAX_PATCH_BYTES) bad(".patch", `at most ${MAX_PATCH_BYTES} bytes`);
    else if (depth(o.patch) > MAX_JSON_DEPTH) bad(".patch", `is nested deeper than ${MAX_JSON_DEPTH} levels`);
    else action.patch = o.patch as Record<string, unknown>;
  }
  if (action.type === "TRANSFORM" && !action.setLabels && !action.setPriorityTier && !action.patch) {
    bad("", "TRANSFORM needs setLabels, setPriorityTier or patch");
  }
  return problems.length ? { problems } : { action, problems };
}

function depth(v: unknown): number {
  if (v === null || typeof v !== "object") return 0;
  return 1 + Math.max(0, ...Object.values(v).map(depth));
}

/** ESCALATE without setPriorityTier raises the tier one step (CRITICAL stays). */
export function escalatedTier(tier: PriorityTier, action: Action): PriorityTier {
  if (action.setPriorityTier) return action.setPriorityTier;
  return TIERS[Math.max(0, TIERS.indexOf(tier) - 1)]!;
}

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    target !== null && typeof target === "object" && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}
