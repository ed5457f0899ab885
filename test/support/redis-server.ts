import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { Redis } from "ioredis";
import { freePort } from "./process.js";

/**
 * A Redis server of this test file's own, on a free loopback port, so a test can
 * FLUSHALL it or stop and start it without touching the Redis other files share.
 */
export type PrivateRedis = { url: string; port: number; stop(): Promise<void>; start(): Promise<void>; flushAll(): Promise<void> };

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  let child: ChildProcess | null = null;
  const start = async () => {
    child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
      stdio: "ignore",
    });
    for (let i = 0; i < 100; i++) {
      const r = new Redis({ port, host: "127.0.0.1", lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
      r.on("error", () => {});
      const ok = await r.connect().then(() => r.ping(), () => null);
      r.disconnect();
      if (ok === "PONG") return;
      await new Promise((res) => setTimeout(res, 50));
    }
    throw new Error(`redis-server on ${port} did not start`);
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    start,
    async stop() {
      if (!child || child.exitCode !== null) return;
      const exited = once(child, "exit");
      child.kill("SIGKILL");
      await exited;
    },
    async flushAll() {
      const r = new Redis({ port, host: "127.0.0.1" });
      await r.flushall();
      r.disconnect();
    },
  };
}
