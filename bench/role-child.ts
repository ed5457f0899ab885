// Entry of a load process forked by roles.ts: runs one role and reports its result over IPC.
import { inspect } from "node:util";
import type { RoleContext, RoleFn, RoleSpec } from "./roles.js";

const seen = new Map<string, unknown>();
const waiting = new Map<string, ((d: unknown) => void)[]>();
const send = (msg: unknown) => new Promise<void>((resolve) => process.send!(msg, () => resolve()));

async function run(spec: RoleSpec): Promise<void> {
  const mod = (await import(spec.module === "ours" ? "./ours.js" : "./bullmq.js")) as { roles: Record<string, RoleFn> };
  const fn = mod.roles[spec.role];
  if (!fn) throw new Error(`no role ${spec.module}.${spec.role}`);
  const ctx: RoleContext = {
    name: spec.name,
    signal: (signal, data) => void send({ type: "signal", signal, data }),
    waitFor: <T>(signal: string) =>
      (seen.has(signal)
        ? Promise.resolve(seen.get(signal))
        : new Promise<unknown>((resolve) => waiting.set(signal, [...(waiting.get(signal) ?? []), resolve]))) as Promise<T>,
    progress: (line) => void send({ type: "progress", line }),
  };
  const result = await fn(ctx, spec.params);
  await send({ type: "result", result });
}

process.on("message", (msg: { type: string; spec?: RoleSpec; signal?: string; data?: unknown }) => {
  if (msg.type === "start") {
    run(msg.spec!).then(
      () => process.exit(0),
      async (err: unknown) => {
        // graphql-ws rejects with close events and error lists, not only Errors
        const message = err instanceof Error ? (err.stack ?? err.message) : inspect(err, { depth: 4 }).slice(0, 2000);
        await send({ type: "error", message });
        process.exit(1);
      },
    );
  } else if (msg.type === "signal") {
    seen.set(msg.signal!, msg.data);
    for (const w of waiting.get(msg.signal!) ?? []) w(msg.data);
    waiting.delete(msg.signal!);
  }
});
process.on("disconnect", () => process.exit(1)); // the orchestrator is gone
void send({ type: "hello" });
