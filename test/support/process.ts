import { execFile, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import type { TestServer } from "./server.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** A free loopback port (the OS picks, we release it at once). */
export async function freePort(): Promise<number> {
  const srv = createServer().listen(0, "127.0.0.1");
  await once(srv, "listening");
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

export type ServiceProcess = {
  child: ChildProcess;
  port: number;
  /** its GraphQL endpoint over HTTP */
  url: string;
  output: () => string;
  exited: Promise<number | null>;
};

/**
 * Runs `src/main.ts` (what `npm start` runs after generating the client) as its own
 * process: node itself with tsx's loader, not the tsx wrapper, so that a SIGKILL hits
 * the server and not a parent that would leave it running. It binds a port of its own
 * choosing (PORT=0) and tells it over IPC (main.ts, supervisor.ts): a port picked free
 * here first can be taken by a process of another test file before the server binds it.
 */
export async function startServiceProcess(
  env: Record<string, string>,
  opts: { readyWithinMs?: number } = {},
): Promise<ServiceProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    cwd: ROOT,
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = once(child, "exit").then(([code]) => code as number | null);
  let port = 0;
  child.on("message", (m: { serving?: number }) => (port = m.serving ?? port));
  const deadline = Date.now() + (opts.readyWithinMs ?? 30_000);
  for (;;) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`service did not start:\n${out}`);
    }
    const ready = port > 0 && (await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false));
    if (ready) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.disconnect(); // the IPC channel would keep the test's process waiting on it
  return { child, port, url: `http://127.0.0.1:${port}/graphql`, output: () => out, exited };
}

/** Runs `npm run cli -- …args` against a test server's database and Redis; resolves with its exit code and output. */
export function runCli(s: Pick<TestServer, "config">, ...args: string[]): Promise<{ exit: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      "npm",
      ["run", "--silent", "cli", "--", ...args],
      {
        cwd: ROOT,
        env: { ...process.env, DATABASE_URL: s.config.database.url, REDIS_URL: s.config.redis.url, REDIS_KEY_PREFIX: s.config.redis.keyPrefix },
      },
      (err, stdout, stderr) => resolve({ exit: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}
