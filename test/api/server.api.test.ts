import { request } from "node:http";
import { createConnection } from "mariadb";
import WebSocket from "ws";
import { describe, expect, test } from "../support/test.js";
import { dropDatabase, deleteKeys, startTestServer, uniq } from "../support/server.js";
import { startServiceProcess } from "../support/process.js";
import { parseDatabaseUrl } from "../../src/db/connection.js";

describe("health", () => {
  test("answers /healthz and /readyz, and tags every response with a request id", async ({ server: s }) => {
    const base = s.url.replace("/graphql", "");
    const live = await fetch(`${base}/healthz`);
    expect(live.status).toBe(200);
    expect(await live.json()).toEqual({ status: "ok" });
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: "ready", mariadb: "ok", redis: "ok" });
    expect(ready.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    const tagged = await fetch(s.url, { method: "POST", headers: { "content-type": "application/json", "x-request-id": "req-123" }, body: '{"query":"{__typename}"}' });
    expect(tagged.headers.get("x-request-id")).toBe("req-123");
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });

  test("reports not ready when Redis cannot be reached", async () => {
    const broken = await startTestServer({ REDIS_URL: "redis://127.0.0.1:1" });
    try {
      const ready = await fetch(broken.url.replace("/graphql", "/readyz"));
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({ status: "not ready", mariadb: "ok", redis: expect.stringMatching(/^down/) });
    } finally {
      await broken.stop();
    }
  });
});

describe("npm start's process", () => {
  test("creates a missing database, migrates it, serves, and shuts down gracefully on SIGTERM", async ({ server: s }) => {
    const url = new URL(s.config.database.url);
    url.pathname = `/sq_test_proc_${uniq()}`;
    const prefix = `sqp${uniq(4)}`;
    const key = `proc-bootstrap-${uniq(12)}`;
    const svc = await startServiceProcess({
      DATABASE_URL: url.toString(),
      REDIS_KEY_PREFIX: prefix,
      SCAIQUEUE_BOOTSTRAP_API_KEY: key,
      SHUTDOWN_GRACE_S: "10",
    });
    try {
      const { server, database } = parseDatabaseUrl(url.toString());
      const conn = await createConnection({ ...server, database });
      const migrations = await conn.query("SELECT COUNT(*) AS n FROM _prisma_migrations WHERE finished_at IS NOT NULL");
      await conn.end();
      expect(Number(migrations[0].n)).toBeGreaterThan(0);
      expect(svc.output()).toContain("bootstrap API key ensured");

      // A socket the server must close, and a request still arriving when the signal comes.
      const socket = new WebSocket(`ws://127.0.0.1:${svc.port}/graphql`, "graphql-transport-ws");
      await new Promise((r) => socket.once("open", r));
      const socketClosed = new Promise<number>((r) => socket.once("close", (code) => r(code)));
      const body = JSON.stringify({ query: `mutation { createScope(input: { slug: "late", displayName: "Late" }) { slug } }` });
      const inFlight = new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(
          { host: "127.0.0.1", port: svc.port, path: "/graphql", method: "POST",
            headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body), authorization: `Bearer ${key}` } },
          (res) => {
            let text = "";
            res.on("data", (d) => (text += d));
            res.on("end", () => resolve({ status: res.statusCode!, body: text }));
          },
        );
        req.on("error", reject);
        req.write(body.slice(0, 10)); // the handler is running, waiting for the rest
        setTimeout(() => {
          svc.child.kill("SIGTERM");
          setTimeout(() => req.end(body.slice(10)), 300);
        }, 300);
      });
      const answer = await inFlight;
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.body)).toEqual({ data: { createScope: { slug: "late" } } });
      expect(await socketClosed).toBe(1001);
      expect(await svc.exited).toBe(0);
      expect(svc.output()).toContain("shutting down");
    } finally {
      if (svc.child.exitCode === null) svc.child.kill("SIGKILL");
      await dropDatabase(url.toString());
      await deleteKeys(s.config.redis.url, `${prefix}:*`);
    }
  });
});
