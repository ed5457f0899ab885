import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { loadConfig } from "../../src/config.js";
import { code, ok, startTestServer, type TestServer } from "../support/server.js";
import { SCOPES, TYPENAME } from "../support/ops.js";

const APP = "https://app.example.com";
const EVIL = "https://evil.example";
const TYPENAME_BODY = JSON.stringify({ query: TYPENAME });

/** What a browser sends before a cross-origin POST with a key and a JSON body. */
const preflight = (s: TestServer, origin: string) =>
  fetch(s.url, {
    method: "OPTIONS",
    headers: {
      origin,
      "access-control-request-method": "POST",
      "access-control-request-headers": "authorization, content-type",
    },
  });

/** Opens a raw socket the way a browser page of `origin` would; resolves to "open" or the refusal's HTTP status. */
function openSocket(s: TestServer, origin?: string): Promise<"open" | number> {
  const socket = new WebSocket(s.wsUrl, "graphql-transport-ws", origin ? { origin } : {});
  return new Promise((resolve) => {
    socket.once("open", () => {
      socket.close();
      resolve("open");
    });
    socket.once("unexpected-response", (req, res) => {
      res.resume();
      req.destroy();
      resolve(res.statusCode ?? 0);
    });
    socket.on("error", () => {}); // the refused handshake, reported above
  });
}

describe("CORS", () => {
  let listed: TestServer;
  let anyOrigin: TestServer;
  let sameOrigin: TestServer;
  beforeAll(async () => {
    [listed, anyOrigin, sameOrigin] = await Promise.all([
      startTestServer({ CORS_ORIGINS: `${APP}, http://localhost:3000` }),
      startTestServer({ CORS_ORIGINS: "*" }),
      startTestServer(),
    ]);
  });
  afterAll(() => Promise.all([listed?.stop(), anyOrigin?.stop(), sameOrigin?.stop()]));

  it("answers a listed origin's preflight, without credentials", async () => {
    const res = await preflight(listed, APP);
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe(APP);
    expect(res.headers.get("access-control-allow-headers")).toMatch(/authorization/);
    expect(res.headers.get("access-control-allow-methods")).toMatch(/POST/);
    expect(res.headers.get("access-control-allow-credentials")).toBeNull();
    expect(res.headers.get("access-control-max-age")).toBe("600");
    expect(res.headers.get("vary")).toMatch(/Origin/);

    const post = await fetch(listed.url, {
      method: "POST",
      headers: { origin: APP, "content-type": "application/json", authorization: `Bearer ${listed.adminKey}` },
      body: TYPENAME_BODY,
    });
    expect(post.status).toBe(200);
    expect(post.headers.get("access-control-allow-origin")).toBe(APP);
    expect(post.headers.get("access-control-expose-headers")).toMatch(/x-request-id/);
  });

  it("gives an origin that is not listed no CORS headers, so its page cannot read answers", async () => {
    const res = await preflight(listed, EVIL);
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
    const post = await fetch(listed.url, {
      method: "POST",
      headers: { origin: EVIL, "content-type": "application/json" },
      body: TYPENAME_BODY,
    });
    expect(post.headers.get("access-control-allow-origin")).toBeNull();
  });

  it('allows every origin with "*", still without credentials', async () => {
    const res = await preflight(anyOrigin, EVIL);
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe(EVIL);
    expect(res.headers.get("access-control-allow-credentials")).toBeNull();
  });

  it("by default answers no cross-origin preflight at all", async () => {
    expect((await preflight(sameOrigin, APP)).headers.get("access-control-allow-origin")).toBeNull();
    expect((await preflight(sameOrigin, "http://localhost:3000")).headers.get("access-control-allow-origin")).toBeNull();
  });

  it("refuses a WebSocket handshake from an origin that is not allowed; same origin and programs get through", async () => {
    expect(await openSocket(listed, EVIL)).toBe(403);
    expect(await openSocket(sameOrigin, APP)).toBe(403);
    expect(await openSocket(listed, APP)).toBe("open");
    expect(await openSocket(anyOrigin, EVIL)).toBe("open");
    expect(await openSocket(sameOrigin, new URL(sameOrigin.url).origin)).toBe("open");
    expect(await openSocket(sameOrigin)).toBe("open");
  });

  it("rejects CORS_ORIGINS entries that are not origins, at start-up", () => {
    expect(() => loadConfig({ CORS_ORIGINS: "https://app.example.com/path" })).toThrow(/CORS_ORIGINS/);
    expect(() => loadConfig({ CORS_ORIGINS: "app.example.com" })).toThrow(/CORS_ORIGINS/);
    expect(loadConfig({ CORS_ORIGINS: "https://APP.example.com:443, http://localhost:3000" }).browser.corsOrigins).toEqual([
      "https://app.example.com",
      "http://localhost:3000",
    ]);
  });
});

describe("CSRF prevention", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s?.stop());

  /** A request a cross-site form, link or <img> could make: no preflight, no custom header. */
  const simple = (init: RequestInit & { query?: string }) =>
    fetch(init.query === undefined ? s.url : `${s.url}?query=${encodeURIComponent(init.query)}`, init);

  it.each([
    ["a text/plain POST", { method: "POST", headers: { "content-type": "text/plain" }, body: TYPENAME_BODY }],
    [
      "a form POST",
      { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "query=%7B__typename%7D" },
    ],
    ["a multipart form POST", { method: "POST", body: new FormData() }],
    ["a GET", { method: "GET", query: TYPENAME }],
  ])("refuses %s without a preflight-only header: 403 VALIDATION_ERROR", async (_label, init) => {
    const res = await simple(init as RequestInit);
    expect(res.status).toBe(403);
    expect(code({ status: res.status, ...(await res.json()) })).toBe("VALIDATION_ERROR");
  });

  it("refuses a simple-request mutation before it runs", async () => {
    const before = await ok(s.gql(SCOPES));
    const form = `query=${encodeURIComponent('mutation { createScope(input: {slug: "csrf", displayName: "CSRF"}) { id } }')}`;
    const res = await simple({ method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: form });
    expect(res.status).toBe(403);
    expect(await ok(s.gql(SCOPES))).toEqual(before);
  });

  it("serves JSON posts, and GETs that carry the key or a CSRF header", async () => {
    const json = await fetch(s.url, { method: "POST", headers: { "content-type": "application/json" }, body: TYPENAME_BODY });
    expect(await json.json()).toEqual({ data: { __typename: "Query" } });
    const headers: Record<string, string>[] = [{ authorization: `Bearer ${s.adminKey}` }, { "x-graphql-yoga-csrf": "1" }, { "apollo-require-preflight": "true" }];
    for (const header of headers) {
      const res = await simple({ method: "GET", query: TYPENAME, headers: header });
      expect(res.status, JSON.stringify(header)).toBe(200);
      expect(await res.json()).toEqual({ data: { __typename: "Query" } });
    }
  });

  it("lets GraphiQL's subscriptions through: a GET for text/event-stream with its CSRF header", async () => {
    const query = `subscription { queueDepth(queueId: "00000000-0000-7000-8000-000000000000") { pending } }`;
    const res = await simple({
      method: "GET",
      query,
      headers: { accept: "text/event-stream", "x-graphql-yoga-csrf": "graphiql", authorization: `Bearer ${s.adminKey}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/text\/event-stream/);
    expect(await res.text()).toContain("SCAIQUEUE_QUEUE_NOT_FOUND"); // the stream ends after the error
  });
});

describe("GraphiQL", () => {
  const page = (s: TestServer) => fetch(s.url, { headers: { accept: "text/html" } });

  it("is served at /graphql by default, and sends the CSRF header with every request", async () => {
    const s = await startTestServer();
    try {
      const res = await page(s);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/text\/html/);
      const html = await res.text();
      expect(html).toContain("ScaiQueue GraphQL");
      expect(html).toContain("x-graphql-yoga-csrf");
    } finally {
      await s.stop();
    }
  });

  it("is absent with GRAPHIQL=off; the API still answers", async () => {
    const s = await startTestServer({ GRAPHIQL: "off" });
    try {
      const res = await page(s);
      expect(res.headers.get("content-type") ?? "").not.toMatch(/text\/html/);
      expect(await res.text()).not.toContain("<html");
      expect((await ok(s.gql(TYPENAME))).__typename).toBe("Query");
    } finally {
      await s.stop();
    }
  });

  it("is off by default when NODE_ENV=production, unless GRAPHIQL=on", () => {
    expect(loadConfig({ NODE_ENV: "production" }).browser.graphiql).toBe(false);
    expect(loadConfig({ NODE_ENV: "production", GRAPHIQL: "on" }).browser.graphiql).toBe(true);
    expect(loadConfig({}).browser.graphiql).toBe(true);
  });
});
