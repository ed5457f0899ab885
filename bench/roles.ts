import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

/**
 * Load roles run in their own Node processes (never in the server's): the orchestrator
 * forks one per role, relays named signals between them (a barrier such as "waiters
 * subscribed"), and collects each role's result.
 */
export type RoleSpec = { name: string; module: "ours" | "bullmq"; role: string; params: Record<string, unknown> };

export type RoleContext = {
  name: string;
  /** Tells every role of this run (and the orchestrator) that `signal` happened. */
  signal(signal: string, data?: unknown): void;
  /** Resolves with the data of `signal` once any role has sent it (at once if it already has). */
  waitFor<T = unknown>(signal: string): Promise<T>;
  /** One progress line on stderr. */
  progress(line: string): void;
};

export type RoleFn = (ctx: RoleContext, params: any) => Promise<Record<string, unknown>>;

type FromChild =
  | { type: "hello" }
  | { type: "signal"; signal: string; data: unknown }
  | { type: "progress"; line: string }
  | { type: "result"; result: Record<string, unknown> }
  | { type: "error"; message: string };

const CHILD = fileURLToPath(new URL("./role-child.ts", import.meta.url));

export type RoleRun = {
  pids: Record<string, number>;
  /** Results by role name; rejects (after killing every role) when one fails or time runs out. */
  results: Promise<Record<string, Record<string, unknown>>>;
  /** Resolves when a role sends `signal`. */
  signalled(signal: string): Promise<unknown>;
};

/** Forks one process per role; their progress lines go to `log`. */
export function runRoles(specs: RoleSpec[], timeoutMs: number, log: (line: string) => void): RoleRun {
  const children = new Map<string, ChildProcess>();
  const seen = new Map<string, unknown>();
  const waiting = new Map<string, ((d: unknown) => void)[]>();
  const results: Record<string, Record<string, unknown>> = {};
  let fail: (err: Error) => void = () => {};
  let succeed: () => void = () => {};
  const done = new Promise<Record<string, Record<string, unknown>>>((resolve, reject) => {
    succeed = () => resolve(results);
    fail = reject;
  });
  let over = false;
  const killAll = () => {
    over = true;
    for (const c of children.values()) if (c.exitCode === null) c.kill("SIGKILL");
  };
  const timer = setTimeout(() => {
    killAll();
    fail(new Error(`roles ${specs.map((s) => s.name).join(", ")} still running after ${Math.round(timeoutMs / 1000)} s`));
  }, timeoutMs);

  for (const spec of specs) {
    const child = fork(CHILD, [], {
      execArgv: ["--import", "tsx"],
      stdio: ["ignore", 2, 2, "ipc"], // stdout is the table's; progress comes over IPC
      env: { ...process.env, NODE_OPTIONS: "" },
    });
    children.set(spec.name, child);
    child.on("message", (msg: FromChild) => {
      if (msg.type === "hello") child.send({ type: "start", spec });
      else if (msg.type === "progress") log(`  [${spec.name}] ${msg.line}`);
      else if (msg.type === "signal") {
        seen.set(msg.signal, msg.data);
        for (const w of waiting.get(msg.signal) ?? []) w(msg.data);
        waiting.delete(msg.signal);
        for (const c of children.values()) if (c.connected) c.send({ type: "signal", signal: msg.signal, data: msg.data });
      } else if (msg.type === "result") {
        results[spec.name] = msg.result;
        if (Object.keys(results).length === specs.length) {
          clearTimeout(timer);
          over = true;
          succeed();
        }
      } else if (msg.type === "error") {
        clearTimeout(timer);
        killAll();
        fail(new Error(`role ${spec.name} failed: ${msg.message}`));
      }
    });
    child.on("exit", (code, signal) => {
      if (over || results[spec.name]) return;
      clearTimeout(timer);
      killAll();
      fail(new Error(`role ${spec.name} exited (${code ?? signal}) before reporting`));
    });
  }
  return {
    pids: Object.fromEntries([...children].map(([n, c]) => [n, c.pid!])),
    results: done.finally(() => {
      clearTimeout(timer);
      for (const c of children.values()) if (c.exitCode === null && !over) c.kill("SIGKILL");
    }),
    signalled: (signal) =>
      seen.has(signal)
        ? Promise.resolve(seen.get(signal))
        : new Promise((resolve) => waiting.set(signal, [...(waiting.get(signal) ?? []), resolve])),
  };
}
