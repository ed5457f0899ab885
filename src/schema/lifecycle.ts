import type { ObjectRef } from "@pothos/core";
import type { LifecycleAction } from "../domain/scopes/lifecycle.js";
import type { Context } from "./context.js";
import { builder } from "./builder.js";

const ACTIONS: { action: LifecycleAction; verb: string; description: string }[] = [
  { action: "pause", verb: "pause", description: "Publishes are refused and claims answer [] until resumed." },
  { action: "resume", verb: "resume", description: "Back to ACTIVE (an ARCHIVED one must be unarchived first)." },
  { action: "drain", verb: "drain", description: "No new publishes; claims go on until it is empty." },
  { action: "archive", verb: "archive", description: "Publishes are refused and nothing is handed out." },
  { action: "unarchive", verb: "unarchive", description: "From ARCHIVED back to PAUSED." },
];

type FieldBuilder = Parameters<Parameters<typeof builder.mutationFields>[0]>[0];
type BuilderTypes = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer Types> ? Types : never;

/** pauseX, resumeX, drainX, archiveX, unarchiveX: one manage-gated mutation per lifecycle action. */
export function lifecycleMutations<T>(
  t: FieldBuilder,
  typeName: "Scope" | "Queue",
  ref: ObjectRef<BuilderTypes, T>,
  change: (ctx: Context, id: string, action: LifecycleAction) => Promise<T>,
) {
  return Object.fromEntries(
    ACTIONS.map(({ action, verb, description }) => [
      `${verb}${typeName}`,
      t.field({
        type: ref,
        authScopes: { canManage: true },
        description,
        args: { id: t.arg.id({ required: true }) },
        resolve: (_r, a, ctx) => change(ctx, String(a.id), action) as never, // T is the ref's shape
      }),
    ]),
  );
}
