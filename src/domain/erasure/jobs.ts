import { z } from "zod";
import type { ErasureJob } from "../../generated/prisma/client.js";
import { isUuid, uuidv7 } from "../../ids.js";
import { ValidationError } from "../../errors.js";
import type { Actor } from "../actor.js";
import type { Deps } from "../deps.js";
import { requireScope } from "../scopes/scopes.js";
import { labelKey, parseInput, text, wellFormed } from "../validation.js";

/*
 * GDPR erasure jobs, as the API sees them: started here, run by the gdpr_eraser agent
 * (erasure/run.ts does the work). docs/design.md "GDPR erasure" has the design.
 */

/** The label that carries a message's source (the reference's `source_id`: the publishing actor's id). */
export const SOURCE_ID_LABEL = "source_id";

export type LabelValue = string | number | boolean;
/** What a job erases, as it was asked for and as the job row keeps it. */
export type Selector = { label: { key: string; value: LabelValue } } | { correlationId: string } | { sourceId: string };
/** The two ways a selector finds messages: a label (scanning the scope) or a correlation id (by index). */
export type Match = { kind: "label"; key: string; value: LabelValue } | { kind: "correlation"; correlationId: string };

export function matchOf(s: Selector): Match {
  if ("label" in s) return { kind: "label", key: s.label.key, value: s.label.value };
  if ("sourceId" in s) return { kind: "label", key: SOURCE_ID_LABEL, value: s.sourceId };
  return { kind: "correlation", correlationId: s.correlationId };
}

// The same bounds publish puts on labels, except that a selector value may not be empty:
// "erase everything whose label is blank" is more likely a mistake than a subject.
const labelValue = z
  .custom<LabelValue>((v) => ["string", "number", "boolean"].includes(typeof v), "must be a string, a number or a boolean")
  .superRefine((v, ctx) => {
    if (typeof v !== "string") return;
    if (!v.length) ctx.addIssue({ code: "custom", message: "must not be empty" });
    else if (v.length > 256) ctx.addIssue({ code: "custom", message: "at most 256 characters" });
    else if (!wellFormed(v)) ctx.addIssue({ code: "custom", message: "must be valid Unicode" });
  });

const ErasureInput = z
  .object({
    scopeId: z.string(),
    label: z
      .object({
        key: z.string().regex(labelKey, "1-64 characters of letters, digits and _ . : / -"),
        value: labelValue,
      })
      .nullish(),
    correlationId: text(128).nullish(),
    sourceId: text(256).nullish(),
  })
  .superRefine((i, ctx) => {
    const given = [i.label, i.correlationId, i.sourceId].filter((x) => x != null).length;
    if (given !== 1) ctx.addIssue({ code: "custom", path: [], message: "give exactly one selector: label, correlationId or sourceId" });
  });

/**
 * startErasure: records a PENDING job and answers it; the gdpr_eraser agent of whichever
 * process holds its lease runs it within a second (or, with every process's agents off,
 * once one is started). Nothing is written when the input is refused.
 */
export async function startErasure(deps: Pick<Deps, "db" | "clock">, actor: Actor, input: unknown): Promise<ErasureJob> {
  const data = parseInput(ErasureInput, input, "input");
  const scope = await requireScope(deps.db, actor, data.scopeId);
  const selector: Selector = data.label
    ? { label: { key: data.label.key, value: data.label.value } }
    : data.correlationId != null
      ? { correlationId: data.correlationId }
      : { sourceId: data.sourceId! };
  const at = new Date(deps.clock());
  return deps.db.erasureJob.create({
    data: { id: uuidv7(at.getTime()), tenantId: actor.tenantId, scopeId: scope.id, selector, requestedBy: actor.keyId, createdAt: at },
  });
}

export async function getErasureJob(deps: Pick<Deps, "db">, actor: Actor, id: string): Promise<ErasureJob | null> {
  if (!isUuid(id)) return null;
  return deps.db.erasureJob.findFirst({ where: { id, tenantId: actor.tenantId } });
}

export const MAX_JOBS_PAGE = 200;

/** A scope's jobs, newest first. */
export async function listErasureJobs(deps: Pick<Deps, "db">, actor: Actor, scopeId: string, first: number): Promise<ErasureJob[]> {
  if (!Number.isInteger(first) || first < 1 || first > MAX_JOBS_PAGE) {
    throw new ValidationError([{ field: "first", message: `must be 1 to ${MAX_JOBS_PAGE}` }]);
  }
  const scope = await requireScope(deps.db, actor, scopeId);
  return deps.db.erasureJob.findMany({ where: { tenantId: actor.tenantId, scopeId: scope.id }, orderBy: { id: "desc" }, take: first });
}

/** Claims held at erasure that have not ended yet: the job completes once there are none. */
export function openHolds(deps: Pick<Deps, "db">, jobId: string): Promise<number> {
  return deps.db.erasureHold.count({ where: { jobId } });
}
