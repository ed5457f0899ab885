import type { Client } from "graphql-ws";
import { describe, expect, test } from "../support/test.js";
import { runCli } from "../support/process.js";
import { code, ok, uniq, type TestServer } from "../support/server.js";
import { subscribe } from "../support/subscription.js";
import { createQueue, createScope, pick } from "../support/api.js";
import {
  API_KEYS as LIST, CLAIM, COMPLETE, COMPLETED, CREATE_API_KEY as CREATE, CREATE_SCOPE, PUBLISH, REVOKE_API_KEY as REVOKE, ROTATE_API_KEY as ROTATE, SCOPES as WHO, UPDATE_API_KEY as UPDATE,
} from "../support/ops.js";
import { createDb } from "../../src/db/client.js";
import { PERMISSIONS } from "../../src/domain/actor.js";

/*
 * Two servers, A (`server`) and B (`peer`), share one database and Redis prefix: two processes as far as
 * caches, sockets and pub/sub go. They share a stepped clock too, so a key's cached
 * lookup never lapses by itself here: what B learns of a change made through A, it
 * learns from the announcement (or, where a test says so, from the socket re-check).
 */

test.override({ stepped: true });

/** A key of tenant "default" made through the API on `server`; its id and secret. */
async function newKey(server: TestServer, input: Record<string, unknown> = {}): Promise<{ id: string; secret: string; key: any }> {
  const r = (await ok(server.gql(CREATE, { i: { permissions: [...PERMISSIONS], ...input } }))).createApiKey;
  return { id: r.apiKey.id, secret: r.secret, key: r.apiKey };
}

const works = async (server: TestServer, secret: string) => (await server.gql(WHO, {}, secret)).errors === undefined;

/** Polls `server` with `secret` until it is refused; false if it still works after `ms`. */
async function refusedWithin(server: TestServer, secret: string, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = await server.gql(WHO, {}, secret);
    if (code(r) === "AUTH_TOKEN_INVALID") return true;
    if (Date.now() > deadline) return false;
    await new Promise((res) => setTimeout(res, 20));
  }
}

const closeOf = (client: Client) =>
  new Promise<{ code: number; reason: string }>((resolve) =>
    client.on("closed", (e) => {
      const ev = e as { code: number; reason: string };
      resolve({ code: ev.code, reason: String(ev.reason) });
    }),
  );

/** A live messageCompleted subscription on `server` with `secret`, and the close its socket will see. */
async function liveSubscription(server: TestServer, secret: string) {
  const client = server.wsClient(secret);
  const closed = closeOf(client);
  const sub = subscribe(client, COMPLETED, { c: `corr-${uniq()}` });
  expect(await sub.quiet(300)).toBe(true); // connected and subscribed, nothing refused
  return { client, closed, sub };
}

describe("listing and creating", () => {
  test("createApiKey shows the secret once; apiKeys lists the tenant's keys, never a secret or its hash", async ({ server: a }) => {
    const made = await newKey(a, { name: "worker", permissions: ["scaiqueue:view", "scaiqueue:publish"], rateLimit: { perSecond: 5 } });
    expect(made.secret).toMatch(/^sqk_\S{40}$/);
    expect(made.key).toMatchObject({
      name: "worker",
      permissions: ["scaiqueue:view", "scaiqueue:publish"],
      rateLimit: { perSecond: 5, burst: 5, isDefault: false },
      rotatedAt: null,
      revokedAt: null,
    });
    expect(await works(a, made.secret)).toBe(true);
    expect(code(await a.gql(CREATE_SCOPE, { i: { slug: `no-${uniq()}`, displayName: "No" } }, made.secret))).toBe(
      "AUTHZ_PERMISSION_DENIED",
    );

    const listed: any[] = (await ok(a.gql(LIST))).apiKeys;
    expect(listed.find((k) => k.id === made.id)).toEqual(made.key);
    const bootstrap = listed[0];
    expect(bootstrap).toMatchObject({ name: null, permissions: [...PERMISSIONS], rateLimit: { isDefault: true }, revokedAt: null });
    expect(JSON.stringify(listed)).not.toContain(made.secret);
    expect(code(await a.gql(`{ apiKeys { secretHash } }`))).toBe("VALIDATION_ERROR");
  });

  test("listing needs manage; a key grants only permissions it holds", async ({ server: a }) => {
    const viewer = await newKey(a, { permissions: ["scaiqueue:view"] });
    expect(code(await a.gql(LIST, {}, viewer.secret))).toBe("AUTHZ_PERMISSION_DENIED");
    const manager = await newKey(a, { permissions: ["scaiqueue:manage"] });
    const before = (await ok(a.gql(LIST))).apiKeys.length;
    const escalation = await a.gql(CREATE, { i: { permissions: ["scaiqueue:manage", "scaiqueue:publish"] } }, manager.secret);
    expect(code(escalation)).toBe("AUTHZ_PERMISSION_DENIED");
    expect((await ok(a.gql(CREATE, { i: { permissions: ["scaiqueue:manage"] } }, manager.secret))).createApiKey.apiKey.permissions).toEqual([
      "scaiqueue:manage",
    ]);
    expect((await ok(a.gql(LIST))).apiKeys.length).toBe(before + 1);
  });

  test("refuses bad input with VALIDATION_ERROR naming the field, and creates nothing", async ({ server: a }) => {
    const before = (await ok(a.gql(LIST))).apiKeys.length;
    const cases: [Record<string, unknown>, string][] = [
      [{ permissions: [] }, "input.permissions"],
      [{ permissions: ["scaiqueue:admin"] }, "input.permissions.0"],
      [{ permissions: ["scaiqueue:view"], name: " " }, "input.name"],
      [{ permissions: ["scaiqueue:view"], rateLimit: { perSecond: -1 } }, "input.rateLimit.perSecond"],
      [{ permissions: ["scaiqueue:view"], rateLimit: { perSecond: 1, burst: 0 } }, "input.rateLimit.burst"],
    ];
    for (const [input, field] of cases) {
      const r = await a.gql(CREATE, { i: input });
      expect(code(r), field).toBe("VALIDATION_ERROR");
      expect(r.errors![0]!.extensions!.details!.map((d) => d.field), field).toContain(field);
    }
    expect((await ok(a.gql(LIST))).apiKeys.length).toBe(before);
  });

  test("another tenant neither sees nor touches our keys: they answer as unknown ids", async ({ server: a }) => {
    const ours = await newKey(a, { permissions: ["scaiqueue:view"] });
    const theirs = await a.newKey(`other-${uniq()}`);
    const seen: any[] = (await ok(a.gql(LIST, {}, theirs))).apiKeys;
    expect(seen.map((k) => k.id)).not.toContain(ours.id);
    expect(seen).toHaveLength(1); // their own
    for (const [query, vars] of [
      [REVOKE, { id: ours.id }],
      [ROTATE, { id: ours.id, g: 0 }],
      [UPDATE, { id: ours.id, i: { name: "mine now" } }],
      [REVOKE, { id: "not-a-uuid" }],
    ] as const) {
      const r = await a.gql(query, vars, theirs);
      expect(code(r)).toBe("VALIDATION_ERROR");
      expect(r.errors![0]!.extensions!.details).toEqual([{ field: "id", message: "no such API key" }]);
    }
    expect(await works(a, ours.secret)).toBe(true);
    expect((await ok(a.gql(LIST))).apiKeys.find((k: any) => k.id === ours.id)).toEqual(ours.key);
  });

  test("updateApiKey changes the name and the rate limit; null goes back to the default", async ({ server: a }) => {
    const k = await newKey(a, { name: "before" });
    const changed = (await ok(a.gql(UPDATE, { id: k.id, i: { name: "after", rateLimit: { perSecond: 0.5, burst: 3 } } }))).updateApiKey;
    expect(changed).toMatchObject({ name: "after", rateLimit: { perSecond: 0.5, burst: 3, isDefault: false } });
    const nameOnly = (await ok(a.gql(UPDATE, { id: k.id, i: { name: "again" } }))).updateApiKey;
    expect(nameOnly.rateLimit).toEqual(changed.rateLimit); // omitted: unchanged
    const back = (await ok(a.gql(UPDATE, { id: k.id, i: { name: null, rateLimit: null } }))).updateApiKey;
    expect(back).toMatchObject({ name: null, rateLimit: { perSecond: a.config.rateLimits.key.perSecond, burst: a.config.rateLimits.key.burst, isDefault: true } });
  });
});

describe("revoke", () => {
  test("the key is refused with AUTH_TOKEN_INVALID at once on the process that revoked it and within a second on the other", async ({ server: a, peer: b }) => {
    const k = await newKey(a);
    // both processes have looked the key up (and cached it)
    expect([await works(a, k.secret), await works(b, k.secret)]).toEqual([true, true]);
    const revoked = (await ok(a.gql(REVOKE, { id: k.id }))).revokeApiKey;
    expect(code(await a.gql(WHO, {}, k.secret))).toBe("AUTH_TOKEN_INVALID");
    expect(await refusedWithin(b, k.secret, 1000)).toBe(true);
    expect(revoked.revokedAt).not.toBeNull();
    expect((await ok(b.gql(LIST, {}, a.adminKey))).apiKeys.find((x: any) => x.id === k.id)).toEqual(revoked);
    // a new socket with it is refused like an unknown secret
    const client = b.wsClient(k.secret);
    const closed = closeOf(client);
    const sub = subscribe(client, COMPLETED, { c: "x" });
    expect(await closed).toEqual({ code: 4403, reason: "AUTH_TOKEN_INVALID" });
    sub.close();
    await client.dispose();
    // revoking again answers it unchanged; rotating it is refused
    expect((await ok(b.gql(REVOKE, { id: k.id }, a.adminKey))).revokeApiKey).toEqual(revoked);
    expect(code(await a.gql(ROTATE, { id: k.id, g: 0 }))).toBe("SCAIQUEUE_INVALID_STATE");
  });

  test("closes the key's live graphql-ws subscriptions on both processes with 4403 AUTH_TOKEN_INVALID; other keys' go on", async ({ server: a, peer: b }) => {
    const k = await newKey(a);
    const onA = await liveSubscription(a, k.secret);
    const onB = await liveSubscription(b, k.secret);
    const scopeId = await createScope(a);
    const queueId = await createQueue(a, scopeId);
    const correlationId = `corr-${uniq()}`;
    const adminClient = b.wsClient(a.adminKey); // B's own adminKey is not a key: A's bootstrap key is the one
    const adminWaiter = subscribe(adminClient, COMPLETED, { c: correlationId });
    expect(await adminWaiter.quiet(300)).toBe(true);

    await ok(a.gql(REVOKE, { id: k.id }));
    expect(await onA.closed).toEqual({ code: 4403, reason: "AUTH_TOKEN_INVALID" });
    expect(await onB.closed).toEqual({ code: 4403, reason: "AUTH_TOKEN_INVALID" });
    await expect(onB.sub.next()).rejects.toMatchObject({ code: 4403 });

    const published = (await ok(a.gql(PUBLISH, { i: { queueId, body: { n: 1 }, correlationId } }))).publish.message;
    const [claimed] = (await ok(a.gql(CLAIM, { i: { queueId } }))).claim;
    await ok(a.gql(COMPLETE, { i: { messageId: published.id, claimToken: claimed.claimToken } }));
    expect(pick((await adminWaiter.next()).messageCompleted, "messageId")).toEqual({ messageId: published.id });
    for (const s of [onA, onB]) {
      s.sub.close();
      await s.client.dispose();
    }
    adminWaiter.close();
    await adminClient.dispose();
  });

  test("ends the key's subscriptions over HTTP (SSE) with one AUTH_TOKEN_INVALID error", async ({ server: a, peer: b }) => {
    const k = await newKey(a);
    const ac = new AbortController();
    const res = await fetch(b.url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream", authorization: `Bearer ${k.secret}` },
      body: JSON.stringify({ query: COMPLETED, variables: { c: `corr-${uniq()}` } }),
      signal: ac.signal,
    });
    expect(res.status).toBe(200);
    const stream = (async () => {
      let text = "";
      for await (const chunk of res.body!) text += Buffer.from(chunk).toString("utf8");
      return text;
    })();
    try {
      await new Promise((r) => setTimeout(r, 300)); // the subscription is live
      await ok(a.gql(REVOKE, { id: k.id }));
      const text = await Promise.race([stream, new Promise<string>((_, reject) => setTimeout(() => reject(new Error("stream still open")), 5000))]);
      const events = text.split("\n\n").filter((e) => e.startsWith("event:"));
      expect(events.map((e) => e.split("\n")[0])).toEqual(["event: next", "event: complete"]);
      const payload = JSON.parse(events[0]!.split("\n").find((l) => l.startsWith("data: "))!.slice(6));
      expect(payload.errors.map((e: any) => e.extensions.code)).toEqual(["AUTH_TOKEN_INVALID"]);
    } finally {
      ac.abort();
      await stream.catch(() => {});
    }
  });

  test("a revocation whose announcement was lost still ends the key's sockets within about a second, and its requests once the cached lookup lapses", async ({ server: a, peer: b, clock }) => {
    const k = await newKey(a);
    const onB = await liveSubscription(b, k.secret);
    expect(await works(b, k.secret)).toBe(true);
    // straight into MariaDB: nobody announces it
    const db = createDb({ database: { url: a.config.database.url, poolSize: 1 } });
    try {
      await db.apiKey.update({ where: { id: k.id }, data: { revokedAt: new Date() } });
    } finally {
      await db.$disconnect();
    }
    expect(await onB.closed).toEqual({ code: 4403, reason: "AUTH_TOKEN_INVALID" });
    clock.advance(1001); // the cached lookup is a second old
    expect(code(await b.gql(WHO, {}, k.secret))).toBe("AUTH_TOKEN_INVALID");
    onB.sub.close();
    await onB.client.dispose();
  });
});

describe("rotate", () => {
  test("keeps the key's id, name and permissions; the new secret works and, with graceS 0, the old one stops at once everywhere", async ({ server: a, peer: b }) => {
    const k = await newKey(a, { name: "rotating", permissions: ["scaiqueue:view", "scaiqueue:consume"] });
    expect([await works(a, k.secret), await works(b, k.secret)]).toEqual([true, true]);
    const old = await liveSubscription(b, k.secret);

    const r = (await ok(a.gql(ROTATE, { id: k.id }))).rotateApiKey; // graceS defaults to 0
    expect(r.secret).not.toBe(k.secret);
    expect(r.apiKey).toMatchObject({ id: k.id, name: "rotating", permissions: k.key.permissions, previousSecretExpiresAt: null, revokedAt: null });
    expect(r.apiKey.rotatedAt).not.toBeNull();
    expect(code(await a.gql(WHO, {}, k.secret))).toBe("AUTH_TOKEN_INVALID");
    expect(await refusedWithin(b, k.secret, 1000)).toBe(true);
    expect([await works(a, r.secret), await works(b, r.secret)]).toEqual([true, true]);
    expect(await old.closed).toEqual({ code: 4403, reason: "AUTH_TOKEN_INVALID" });
    // a socket with the new secret is not touched by a later re-check
    const fresh = await liveSubscription(b, r.secret);
    expect(await fresh.sub.quiet(1500)).toBe(true);
    for (const s of [old, fresh]) {
      s.sub.close();
      await s.client.dispose();
    }
  });

  test("with graceS both secrets work until the grace ends; then the old one is refused and its sockets are closed", async ({ server: a, peer: b, clock }) => {
    const k = await newKey(a);
    const rotatedAt = clock.now();
    const r = (await ok(a.gql(ROTATE, { id: k.id, g: 60 }))).rotateApiKey;
    expect(new Date(r.apiKey.previousSecretExpiresAt).getTime()).toBe(rotatedAt + 60_000);
    for (const server of [a, b]) expect([await works(server, k.secret), await works(server, r.secret)]).toEqual([true, true]);
    const old = await liveSubscription(b, k.secret);
    expect(await old.sub.quiet(1500)).toBe(true); // re-checks during the grace leave it open

    clock.advance(60_001);
    for (const server of [a, b]) {
      expect(code(await server.gql(WHO, {}, k.secret))).toBe("AUTH_TOKEN_INVALID");
      expect(await works(server, r.secret)).toBe(true);
    }
    expect(await old.closed).toEqual({ code: 4403, reason: "AUTH_TOKEN_INVALID" });
    old.sub.close();
    await old.client.dispose();
  });

  test("a second rotation ends the first one's grace at once; graceS out of bounds is refused", async ({ server: a, peer: b }) => {
    const k = await newKey(a);
    const first = (await ok(a.gql(ROTATE, { id: k.id, g: 3600 }))).rotateApiKey;
    const second = (await ok(a.gql(ROTATE, { id: k.id, g: 3600 }))).rotateApiKey;
    expect(await refusedWithin(b, k.secret, 1000)).toBe(true);
    expect([await works(b, first.secret), await works(b, second.secret)]).toEqual([true, true]);
    for (const g of [-1, 7 * 24 * 3600 + 1]) {
      const refused = await a.gql(ROTATE, { id: k.id, g });
      expect(code(refused)).toBe("VALIDATION_ERROR");
      expect(refused.errors![0]!.extensions!.details![0]!.field).toBe("graceS");
    }
    expect(await works(b, second.secret)).toBe(true);
  });
});

describe("apikey CLI", () => {
  const lastLine = (s: string) => s.trim().split("\n").at(-1)!;
  // each run starts tsx and connects afresh: about 2.5 s on an idle machine, far more on a busy one
  const CLI_TIMEOUT_MS = 240_000;

  test("creates, lists, updates, rotates and revokes a key; running servers follow each change", async ({ server: a, peer: b }) => {
    const tenant = `cli-${uniq()}`;
    const created = await runCli(a, "apikey", "create", "--tenant", tenant, "--permissions", "scaiqueue:view,scaiqueue:manage", "--name", "ops", "--rate-per-s", "2");
    expect(created.exit, created.stderr).toBe(0);
    const secret = lastLine(created.stdout);
    const [key] = (await ok(a.gql(LIST, {}, secret))).apiKeys;
    expect(key).toMatchObject({ name: "ops", permissions: ["scaiqueue:view", "scaiqueue:manage"], rateLimit: { perSecond: 2, burst: 2, isDefault: false } });

    const listed = await runCli(a, "apikey", "list", "--tenant", tenant);
    expect(listed.exit, listed.stderr).toBe(0);
    const lines = listed.stdout.trim().split("\n").map((l) => l.split("\t"));
    expect(lines[0]).toEqual(["id", "name", "permissions", "rateLimit", "createdAt", "rotatedAt", "revokedAt"]);
    expect(lines.slice(1)).toEqual([[key.id, "ops", "scaiqueue:view,scaiqueue:manage", "2/s burst 2", key.createdAt, "-", "-"]]);
    expect(listed.stdout).not.toContain(secret);

    const updated = await runCli(a, "apikey", "update", key.id, "--rate-per-s", "0.5", "--rate-burst", "4");
    expect(updated.exit, updated.stderr).toBe(0);
    expect(updated.stdout.split("\t")[3]).toBe("0.5/s burst 4");
    expect((await ok(b.gql(LIST, {}, secret))).apiKeys[0].rateLimit).toEqual({ perSecond: 0.5, burst: 4, isDefault: false });

    expect(await works(b, secret)).toBe(true);
    const rotated = await runCli(a, "apikey", "rotate", key.id, "--grace-s", "0");
    expect(rotated.exit, rotated.stderr).toBe(0);
    const newSecret = lastLine(rotated.stdout);
    expect(newSecret).toMatch(/^sqk_/);
    expect(await refusedWithin(b, secret, 1000)).toBe(true); // the CLI announced it over Redis
    expect(await works(b, newSecret)).toBe(true);

    const revoked = await runCli(a, "apikey", "revoke", key.id);
    expect(revoked.exit, revoked.stderr).toBe(0);
    expect(await refusedWithin(b, newSecret, 1000)).toBe(true);
    const [id, , , , , rotatedAt, revokedAt] = revoked.stdout.trim().split("\t");
    expect(id).toBe(key.id);
    expect([rotatedAt, revokedAt].map((d) => Number.isNaN(Date.parse(d!)))).toEqual([false, false]);
  }, CLI_TIMEOUT_MS);

  test("an unknown id or a bad command exits non-zero and prints no secret", async ({ server: a }) => {
    const unknown = await runCli(a, "apikey", "revoke", "01890000-0000-7000-8000-000000000000");
    expect(unknown.exit).toBe(1);
    expect(unknown.stderr).toContain("VALIDATION_ERROR");
    expect(unknown.stdout).toBe("");
    const usage = await runCli(a, "apikey", "rotate");
    expect(usage.exit).toBe(64);
    expect(usage.stdout).toBe("");
  }, CLI_TIMEOUT_MS);
});
