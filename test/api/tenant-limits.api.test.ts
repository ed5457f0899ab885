import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { createConnection, type Connection } from "mariadb";
import WebSocket from "ws";
import { code, ok, startTestServer, suiteServer, uniq, type GqlResult, type TestServer } from "../support/server.js";
import { createQueue, createScope, messagesOf } from "../support/api.js";
import {
  BIND_SCHEMA as BIND, CLAIM, COMPLETE, COMPLETED, CREATE_RULE as RULE, DEPTH_CHANGES, MESSAGE, PREVIEW_PATTERN as PREVIEW, PUBLISH, PUBLISH_BATCH, PUBLISH_HITL,
  REGISTER_PATTERN as PATTERN, REGISTER_SCHEMA as REGISTER, REVOKE_API_KEY, ROTATE_API_KEY, SCOPES, TYPENAME, UPDATE_API_KEY,
} from "../support/ops.js";
import { subscribe } from "../support/subscription.js";
import { whileResponsive } from "../support/responsive.js";
import { startPrivateMariaDb, type PrivateMariaDb } from "../support/mariadb-server.js";
import { parseDatabaseUrl } from "../../src/db/connection.js";
import { hashSecret } from "../../src/domain/api-keys/keys.js";

/*
 * No tenant can hurt another (issue 14): each limit the service puts on what one tenant
 * may send or ask for, tried as a hostile tenant would, with the contract code it
 * answers and what it leaves untouched. docs/design.md "Limits" lists them all.
 */

let s: TestServer;
let db: Connection;
let base: string;

beforeAll(async () => {
  s = await startTestServer({
    MAX_REQUEST_BYTES: String(40 * 1024 * 1024), // room for a batch larger than MariaDB's packet
    MAX_SCHEMA_VALIDATION_MS: "300",
    MAX_CONSUMER_GROUPS_PER_QUEUE: "30",
  });
  base = s.url.replace("/graphql", "");
  const { server, database } = parseDatabaseUrl(s.config.database.url);
  db = await createConnection({ ...server, database, bigIntAsNumber: true });
});
afterAll(async () => {
  await db?.end();
  await s?.stop();
});

const codes = (r: GqlResult) => (r.errors ?? []).map((e) => e.extensions?.code);
const rows = async (sql: string, params: unknown[] = []) => (await db.query(sql, params)) as any[];
const countIn = async (queueId: string) => (await rows("SELECT COUNT(*) AS n FROM messages WHERE queueId = ?", [queueId]))[0].n as number;

/** `levels` nested `anyOf: [{$ref: next}, {$ref: next}]`: 2^levels subschemas at one value. */
function fanOut(levels: number) {
  const definitions: Record<string, unknown> = {};
  for (let i = 0; i < levels; i++) definitions[`d${i}`] = { anyOf: [{ $ref: `#/definitions/d${i + 1}` }, { $ref: `#/definitions/d${i + 1}` }] };
  definitions[`d${levels}`] = { type: "string" };
  return { $ref: "#/definitions/d0", definitions };
}

async function schemaQueue(scopeId: string, schema: object): Promise<{ queueId: string; registered: GqlResult }> {
  const queueId = await createQueue(s, scopeId);
  const name = `s-${uniq(3)}`;
  const registered = await s.gql(REGISTER, { s: scopeId, n: name, v: "1", schema });
  if (!registered.errors) await ok(s.gql(BIND, { q: queueId, n: name, v: "1" }));
  return { queueId, registered };
}

describe("1. JSON Schemas cannot stall or kill the process", () => {
  it("a schema that fans out at one value is refused when it is registered", async () => {
    const scopeId = await createScope(s);
    const r = await s.gql(REGISTER, { s: scopeId, n: "fan", v: "1", schema: fanOut(24) });
    expect(codes(r)).toEqual(["VALIDATION_ERROR"]);
    expect(r.errors![0]!.extensions!.details![0]!.message).toMatch(/fan out/);
    expect((await s.gql(REGISTER, { s: scopeId, n: "small-fan", v: "1", schema: fanOut(8) })).errors).toBeUndefined();
  });

  it("a backtracking `pattern` runs in linear time: the publish is refused at once and /healthz answers throughout", async () => {
    const scopeId = await createScope(s);
    const { queueId, registered } = await schemaQueue(scopeId, { type: "string", pattern: "^(a+)+$" });
    expect(registered.errors).toBeUndefined();
    const { result, slowestMs } = await whileResponsive(base, () => s.gql(PUBLISH, { i: { queueId, body: `${"a".repeat(5000)}!` } }));
    expect(codes(result)).toEqual(["VALIDATION_ERROR"]);
    expect(slowestMs).toBeLessThan(200);
    expect((await ok(s.gql(PUBLISH, { i: { queueId, body: "aaaa" } }))).publish.message.id).toBeTruthy();
    // a pattern RE2 cannot run in linear time (a lookahead) is refused when registered
    expect(codes(await s.gql(REGISTER, { s: scopeId, n: "look", v: "1", schema: { type: "string", pattern: "^(?=a)a$" } }))).toEqual(["VALIDATION_ERROR"]);
  });

  it("a body that fans out with its depth is checked off the event loop, refused after MAX_SCHEMA_VALIDATION_MS, and a small one passes", async () => {
    const scopeId = await createScope(s);
    const node = { $ref: "#/$defs/n", $defs: { n: { anyOf: [0, 1].map((b) => ({ type: "object", properties: { a: { $ref: "#/$defs/n" }, [`b${b}`]: { type: "string" } }, required: [`b${b}`] })) } } };
    const { queueId, registered } = await schemaQueue(scopeId, node);
    expect(registered.errors).toBeUndefined();
    let deep: unknown = 1;
    for (let i = 0; i < 22; i++) deep = { a: deep };
    const t = performance.now();
    const { result, slowestMs } = await whileResponsive(base, () => s.gql(PUBLISH, { i: { queueId, body: deep } }));
    expect(codes(result)).toEqual(["VALIDATION_ERROR"]);
    expect(result.errors![0]!.extensions!.details![0]!.message).toMatch(/MAX_SCHEMA_VALIDATION_MS/);
    expect(performance.now() - t).toBeLessThan(3000);
    expect(slowestMs).toBeLessThan(200);
    expect(await countIn(queueId)).toBe(0);
    expect((await ok(s.gql(PUBLISH, { i: { queueId, body: { b0: "x", a: { b1: "y" } } } }))).publish.message.id).toBeTruthy();
    // the bodies of one batch share the allowance: 20 slow ones do not take 20 of it
    const t20 = performance.now();
    const batch = await s.gql(PUBLISH_BATCH, { is: Array.from({ length: 20 }, () => ({ queueId, body: deep })) });
    expect(codes(batch)).toEqual(["VALIDATION_ERROR"]);
    expect(batch.errors![0]!.extensions!.details).toHaveLength(20);
    expect(performance.now() - t20).toBeLessThan(2000);
  });

  it("a routed child entering a queue with such a schema is refused as fast, and the refusal is recorded in _integrity", async () => {
    const scopeId = await createScope(s);
    const source = await createQueue(s, scopeId);
    const { queueId: target } = await schemaQueue(scopeId, { type: "object", properties: { s: { type: "string", pattern: "^(a|aa)+$" } } });
    await ok(s.gql(RULE, { i: { scopeId, name: "to schema", sourceQueueId: source, condition: { field: "messageType", op: "eq", value: "x" }, action: { type: "ROUTE", targetQueueId: target } } }));
    const { result, slowestMs } = await whileResponsive(base, () => s.gql(PUBLISH, { i: { queueId: source, messageType: "x", body: { s: `${"a".repeat(4000)}b` } } }));
    expect(result.errors).toBeUndefined();
    expect(slowestMs).toBeLessThan(200);
    const integrity = await rows(
      "SELECT m.body FROM messages m JOIN queues q ON q.id = m.queueId WHERE q.scopeId = ? AND q.slug = '_integrity'",
      [scopeId],
    );
    expect(integrity.map((r) => r.body.kind ?? r.body.type ?? JSON.stringify(r.body))).toEqual([expect.stringMatching(/routing_refused/)]);
    expect(await countIn(target)).toBe(0);
  });
});

describe("2. operations are bounded in cost and in the size of their answers", () => {
  it("30 aliases of scope → queues → scope … by a view-only key are refused before they run", async () => {
    const view = await s.newKey("default", ["scaiqueue:view"]);
    const scopeId = await createScope(s);
    // 11 levels deep with 30 aliases: within MAX_QUERY_DEPTH and MAX_QUERY_ALIASES
    let sel = "queues { depth { pending } }";
    for (let i = 0; i < 4; i++) sel = `queues { scope { ${sel} } }`;
    const query = `query($s: ID!) { ${Array.from({ length: 30 }, (_, i) => `a${i}: scope(id: $s) { ${sel} }`).join(" ")} }`;
    const t = performance.now();
    const { result, slowestMs } = await whileResponsive(base, () => s.gql(query, { s: scopeId }, view));
    expect(codes(result)).toEqual(["QUERY_TOO_COMPLEX"]);
    expect(result.data).toBeUndefined();
    expect(performance.now() - t).toBeLessThan(1000);
    expect(slowestMs).toBeLessThan(200);
  });

  it("30 aliased messages(first: 500) { body } are refused; one page of 500 is served", async () => {
    const queueId = await createQueue(s, await createScope(s));
    await ok(s.gql(PUBLISH_BATCH, { is: Array.from({ length: 20 }, (_, n) => ({ queueId, body: { n, pad: "x".repeat(1000) } })) }));
    const page = `messages(queueId: $q, first: 500) { edges { node { id body } } }`;
    const r = await s.gql(`query($q: ID!) { ${Array.from({ length: 30 }, (_, i) => `a${i}: ${page}`).join(" ")} }`, { q: queueId });
    expect(codes(r)).toEqual(["QUERY_TOO_COMPLEX"]);
    expect((await ok(s.gql(`query($q: ID!) { ${page} }`, { q: queueId }))).messages.edges).toHaveLength(20);
  });

  it("a page of `first` given in a variable costs as much as one written in the document", async () => {
    const queueId = await createQueue(s, await createScope(s));
    const q = `query($q: ID!, $n: Int!) { ${Array.from({ length: 30 }, (_, i) => `a${i}: messages(queueId: $q, first: $n) { edges { node { body } } }`).join(" ")} }`;
    expect(codes(await s.gql(q, { q: queueId, n: 500 }))).toEqual(["QUERY_TOO_COMPLEX"]);
    expect(codes(await s.gql(q, { q: queueId, n: 5 }))).toEqual([]);
  });
});

describe("3. HITL parameters are bounded while the pattern is filled", () => {
  it("preview and publishHitl refuse a fill larger than a hitlSpec may be, at once, with a small answer, and write nothing", async () => {
    const scopeId = await createScope(s);
    const queueId = await createQueue(s, scopeId);
    const spec = { sections: [{ type: "context", title: "t", content: "{{p}}".repeat(3000) }, { type: "decision", field: "d", options: ["ok", "no"] }] };
    await ok(s.gql(PATTERN, { s: scopeId, n: "many", v: "1", spec }));
    for (const [query, vars] of [
      [PREVIEW, { s: scopeId, n: "many", p: { p: "x".repeat(20_000) } }],
      [PUBLISH_HITL, { q: queueId, n: "many", p: { p: "x".repeat(100) } }],
      [PREVIEW, { s: scopeId, n: "many", p: { p: "y".repeat(150_000) } }],
    ] as const) {
      const t = performance.now();
      const res = await fetch(s.url, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${s.adminKey}` },
        body: JSON.stringify({ query, variables: vars }),
      });
      const text = await res.text();
      expect(res.status).toBe(200);
      expect(text.length).toBeLessThan(10_000);
      expect(JSON.parse(text).errors.map((e: any) => e.extensions.code)).toEqual(["VALIDATION_ERROR"]);
      expect(performance.now() - t).toBeLessThan(1000);
    }
    expect(await countIn(queueId)).toBe(0);
    // a fill that fits is served
    await ok(s.gql(PATTERN, { s: scopeId, n: "one", v: "1", spec: { ...spec, sections: [{ type: "context", title: "t", content: "Hello {{p}}" }, spec.sections[1]] } }));
    expect((await ok(s.gql(PREVIEW, { s: scopeId, n: "one", p: { p: "Ada" } }))).previewHitlPattern.sections[0].content).toBe("Hello Ada");
  });
});

describe("4. a batch is all or nothing, whatever its size", () => {
  it("when a later statement of a batch fails, nothing of it is committed", async () => {
    const scopeId = await createScope(s);
    const queueId = await createQueue(s, scopeId);
    // A fault MariaDB raises on the batch's second statement (the `_events` rows of its
    // messages follow the 500 messages), in this test's own database only.
    await db.query(
      `CREATE TRIGGER refuse_poisoned_events BEFORE INSERT ON messages FOR EACH ROW
       IF NEW.contentType = 'application/vnd.scaiqueue.event+json' AND NEW.correlationId = 'poisoned' THEN
         SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'poisoned';
       END IF`,
    );
    try {
      const inputs = Array.from({ length: 500 }, (_, n) => ({ queueId, body: { n }, ...(n === 499 ? { correlationId: "poisoned" } : {}) }));
      expect(codes(await s.gql(PUBLISH_BATCH, { is: inputs }))).toEqual(["INTERNAL_SERVER_ERROR"]);
      expect(await countIn(queueId)).toBe(0);
    } finally {
      await db.query("DROP TRIGGER refuse_poisoned_events");
    }
    expect(await ok(s.gql(PUBLISH_BATCH, { is: [{ queueId, body: 1 }] }))).toBeTruthy();
  });

  it("a batch larger than MariaDB's max_allowed_packet goes in several statements, and all of it lands", async () => {
    const [{ packet }] = await rows("SELECT @@max_allowed_packet AS packet");
    const queueId = await createQueue(s, await createScope(s));
    const body = "z".repeat(250_000);
    const n = Math.ceil((packet * 1.2) / body.length);
    expect(n).toBeLessThanOrEqual(500);
    const r = await ok(s.gql(PUBLISH_BATCH, { is: Array.from({ length: n }, () => ({ queueId, body })) }));
    expect(r.publishBatch).toHaveLength(n);
    expect(await countIn(queueId)).toBe(n);
  });
});

describe("5. a key never gets at a key holding a permission it lacks", () => {
  it("a manage-only key cannot rotate, update or revoke a key with more permissions; its own kind it can", async () => {
    const manage = await s.newKey("default", ["scaiqueue:manage"]);
    const strong = await s.newKey("default");
    const weak = await s.newKey("default", ["scaiqueue:manage"]);
    const idOf = async (secret: string) => (await rows("SELECT id FROM api_keys WHERE secretHash = ?", [hashSecret(secret)]))[0].id;
    const strongId = await idOf(strong);
    for (const [query, vars] of [
      [ROTATE_API_KEY, { id: strongId }],
      [UPDATE_API_KEY, { id: strongId, i: { name: "mine now" } }],
      [REVOKE_API_KEY, { id: strongId }],
    ] as const) {
      const r = await s.gql(query, vars, manage);
      expect(codes(r)).toEqual(["AUTHZ_PERMISSION_DENIED"]);
      expect(r.data).toBeNull();
    }
    expect((await s.gql(SCOPES, {}, strong)).errors).toBeUndefined(); // its secret still works
    expect((await rows("SELECT name, revokedAt FROM api_keys WHERE id = ?", [strongId]))[0]).toEqual({ name: null, revokedAt: null });
    expect((await ok(s.gql(ROTATE_API_KEY, { id: await idOf(weak) }, manage))).rotateApiKey.secret).toMatch(/^sqk_/);
  });
});

describe("6. BROADCAST consumer groups are bounded per queue", () => {
  it("past MAX_CONSUMER_GROUPS_PER_QUEUE a new group is refused; a batch into a queue with many groups is written whole", async () => {
    const queueId = await createQueue(s, await createScope(s), { consumerMode: "BROADCAST" });
    const consume = await s.newKey("default", ["scaiqueue:consume"]);
    for (let g = 0; g < 30; g++) await ok(s.gql(CLAIM, { i: { queueId, consumerGroup: `g${g}` } }, consume));
    const refused = await s.gql(CLAIM, { i: { queueId, consumerGroup: "one-too-many" } }, consume);
    expect(codes(refused)).toEqual(["VALIDATION_ERROR"]);
    expect(refused.errors![0]!.extensions!.details![0]!.field).toBe("input.consumerGroup");
    expect((await rows("SELECT COUNT(*) AS n FROM consumer_groups WHERE queueId = ?", [queueId]))[0].n).toBe(30);
    // 500 messages × 30 groups: 15,000 delivery rows, past MariaDB's 65,535 placeholders in one statement
    await ok(s.gql(PUBLISH_BATCH, { is: Array.from({ length: 500 }, (_, n) => ({ queueId, body: { n } })) }));
    expect((await rows("SELECT COUNT(*) AS n FROM deliveries WHERE queueId = ?", [queueId]))[0].n).toBe(15_000);
    expect((await ok(s.gql(CLAIM, { i: { queueId, consumerGroup: "g7", batchSize: 100 } }, consume))).claim).toHaveLength(100);
  });
});

describe("7. what routing makes obeys the publish limits", () => {
  it("a TRANSFORM whose patch grows a body past MAX_MESSAGE_BYTES, or a ROUTE past 64 labels, is refused into _integrity; later publishes are unhurt", async () => {
    const scopeId = await createScope(s);
    const source = await createQueue(s, scopeId);
    const target = await createQueue(s, scopeId);
    const big = "p".repeat(60_000);
    await ok(s.gql(RULE, { i: { scopeId, name: "grow", sourceQueueId: source, condition: { field: "messageType", op: "eq", value: "grow" }, action: { type: "TRANSFORM", patch: { big } } } }));
    await ok(s.gql(RULE, { i: { scopeId, name: "labels", sourceQueueId: source, condition: { field: "messageType", op: "eq", value: "labels" }, action: { type: "ROUTE", targetQueueId: target, setLabels: Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`new${i}`, i])) } } }));
    const limit = s.config.limits.messageBytes;
    const near = { pad: "q".repeat(limit - 30_000) };
    const grown = (await ok(s.gql(PUBLISH, { i: { queueId: source, messageType: "grow", body: near } }))).publish.message.id;
    const labels = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`l${i}`, i]));
    await ok(s.gql(PUBLISH, { i: { queueId: source, messageType: "labels", body: 1, labels } }));
    const [stored] = await rows("SELECT LENGTH(body) AS bytes FROM messages WHERE id = ?", [grown]);
    expect(stored.bytes).toBeLessThanOrEqual(limit);
    expect(await countIn(target)).toBe(0);
    const refusals = await rows(
      "SELECT m.body FROM messages m JOIN queues q ON q.id = m.queueId WHERE q.scopeId = ? AND q.slug = '_integrity'",
      [scopeId],
    );
    expect(refusals.map((r) => JSON.stringify(r.body))).toEqual([expect.stringMatching(/MAX_MESSAGE|bytes/), expect.stringMatching(/64 labels/)]);
    // the next batch into the queue is unhurt
    await ok(s.gql(PUBLISH_BATCH, { is: Array.from({ length: 50 }, (_, n) => ({ queueId: source, body: { n } })) }));
  });
});

describe("8. a waiter on an id with more than 10,000 completions gets them all", () => {
  it("messageCompleted pages its catch-up: 10,500 earlier completions arrive, then a live one, and the stream stays open", async () => {
    const queueId = await createQueue(s, await createScope(s));
    const correlationId = `many-${uniq()}`;
    for (let i = 0; i < 21; i++) await ok(s.gql(PUBLISH_BATCH, { is: Array.from({ length: 500 }, (_, n) => ({ queueId, body: { n }, correlationId })) }));
    // completed in bulk by SQL: what is checked is the catch-up, not 10,500 completes
    await db.query("UPDATE messages SET state = 'COMPLETED', completedAt = NOW(3), finishedAt = NOW(3), response = '{\"ok\":true}' WHERE queueId = ?", [queueId]);
    const ws = s.wsClient();
    const sub = subscribe(ws, COMPLETED, { c: correlationId });
    try {
      const seen = new Set<string>();
      for (let i = 0; i < 10_500; i++) seen.add((await sub.next(10_000)).messageCompleted.messageId);
      expect(seen.size).toBe(10_500);
      // in a queue of its own: the bulk-completed ones are still in the first queue's Redis set
      const other = await createQueue(s, await createScope(s));
      const live = (await ok(s.gql(PUBLISH, { i: { queueId: other, body: "live", correlationId } }))).publish.message.id;
      const [claimed] = (await ok(s.gql(CLAIM, { i: { queueId: other } }))).claim;
      expect(claimed.id).toBe(live);
      await ok(s.gql(COMPLETE, { i: { messageId: live, claimToken: claimed.claimToken } }));
      expect((await sub.next()).messageCompleted.messageId).toBe(live);
    } finally {
      sub.close();
      await ws.dispose();
    }
  }, 120_000);
});

describe("10. reads need view on every path", () => {
  it("a publish-only key cannot read through its publish's result; what it published it sees", async () => {
    const scopeId = await createScope(s);
    const queueId = await createQueue(s, scopeId);
    const publisher = await s.newKey("default", ["scaiqueue:publish"]);
    const deep = `mutation($i: PublishInput!) { publish(input: $i) { message { id queue { scope { queues { depth { pending } } } messageSchema { schema } } } } }`;
    const r = await s.gql(deep, { i: { queueId, body: 1 } }, publisher);
    expect(codes(r)).toEqual(["AUTHZ_PERMISSION_DENIED"]);
    expect(await countIn(queueId)).toBe(0); // refused before it ran
    expect((await ok(s.gql(PUBLISH, { i: { queueId, body: 1 } }, publisher))).publish.message.state).toBe("PENDING");
  });

  it("a consume-only key cannot read the queue of what it claims, and nothing is claimed by the refused claim", async () => {
    const queueId = await createQueue(s, await createScope(s));
    const consumer = await s.newKey("default", ["scaiqueue:consume"]);
    await ok(s.gql(PUBLISH, { i: { queueId, body: 1 } }));
    expect(codes(await s.gql(`mutation($i: ClaimInput!) { claim(input: $i) { id queue { scope { id } } } }`, { i: { queueId } }, consumer))).toEqual(["AUTHZ_PERMISSION_DENIED"]);
    expect((await rows("SELECT state FROM messages WHERE queueId = ?", [queueId])).map((m) => m.state)).toEqual(["PENDING"]);
  });

  it("an idempotent replay by a publish-only key does not show another consumer's response or claim", async () => {
    const queueId = await createQueue(s, await createScope(s));
    const publisher = await s.newKey("default", ["scaiqueue:publish"]);
    const REPLAY = `mutation($i: PublishInput!) { publish(input: $i) { duplicate message { id state response claimedBy claimedAt claimExpiresAt failureReason } } }`;
    const input = { queueId, body: { job: 1 }, idempotencyKey: `k-${uniq()}` };
    await ok(s.gql(REPLAY, { i: input }, publisher));
    const [claimed] = (await ok(s.gql(CLAIM, { i: { queueId, consumerId: "worker-secret" } }))).claim;
    await ok(s.gql(COMPLETE, { i: { messageId: claimed.id, claimToken: claimed.claimToken, response: { secret: "s3cr3t" } } }));
    const replay = (await ok(s.gql(REPLAY, { i: input }, publisher))).publish;
    expect(replay).toEqual({ duplicate: true, message: { id: claimed.id, state: "COMPLETED", response: null, claimedBy: null, claimedAt: null, claimExpiresAt: null, failureReason: null } });
    const seen = (await ok(s.gql(REPLAY, { i: input }))).publish.message; // a key with view sees them
    expect(seen).toMatchObject({ response: { secret: "s3cr3t" }, claimedBy: "worker-secret" });
  });
});

describe("11. the rate limit counts what a request does", () => {
  it("a batch is charged by its items, and a request runs at most MAX_MUTATIONS_PER_REQUEST mutation fields", async () => {
    const queueId = await createQueue(s, await createScope(s));
    const key = await s.newKey("default");
    const keyId = (await rows("SELECT id FROM api_keys WHERE secretHash = ?", [hashSecret(key)]))[0].id;
    await ok(s.gql(UPDATE_API_KEY, { id: keyId, i: { rateLimit: { perSecond: 0.5, burst: 100 } } }));
    await new Promise((r) => setTimeout(r, 1100)); // the key's cached limit lapses
    await ok(s.gql(PUBLISH_BATCH, { is: Array.from({ length: 100 }, (_, n) => ({ queueId, body: { n } })) }, key));
    const next = await s.gql(PUBLISH, { i: { queueId, body: "one more" } }, key);
    expect(codes(next)).toEqual(["RATE_LIMITED"]);
    expect(await countIn(queueId)).toBe(100);

    const aliased = `mutation($is: [PublishInput!]!) { ${Array.from({ length: 11 }, (_, i) => `a${i}: publishBatch(inputs: $is) { duplicate }`).join(" ")} }`;
    expect(codes(await s.gql(aliased, { is: [{ queueId, body: 1 }] }))).toEqual(["QUERY_TOO_COMPLEX"]);
    expect(await countIn(queueId)).toBe(100);
  });
});

describe("12. a parentId names a message of the publisher's own tenant", () => {
  it("another tenant's message id, or an unknown one, is refused; an own one is taken", async () => {
    const mine = await createQueue(s, await createScope(s));
    const otherKey = await s.newKey(`other-${uniq(3)}`);
    const theirs = await createQueue(s, await createScope(s, otherKey), {}, otherKey);
    const theirMessage = (await ok(s.gql(PUBLISH, { i: { queueId: theirs, body: 1 } }, otherKey))).publish.message.id;
    for (const parentId of [theirMessage, "0190a000-0000-7000-8000-000000000000"]) {
      const r = await s.gql(PUBLISH, { i: { queueId: mine, body: 1, parentId } });
      expect(codes(r)).toEqual(["VALIDATION_ERROR"]);
      expect(r.errors![0]!.extensions!.details).toEqual([{ field: "input.parentId", message: "no message with this id" }]);
    }
    const own = (await ok(s.gql(PUBLISH, { i: { queueId: mine, body: 1 } }))).publish.message.id;
    expect((await ok(s.gql(PUBLISH, { i: { queueId: mine, body: 2, parentId: own } }))).publish.message.id).toBeTruthy();
    expect(await countIn(mine)).toBe(2);
  });
});

describe("16. impossible dates are refused", () => {
  it.each(["2030-02-30T00:00:00Z", "2030-04-31T12:00:00Z", "2030-01-01T24:00:00Z", "2030-01-01T10:60:00Z", "2030-13-01T00:00:00Z"])("%s answers VALIDATION_ERROR", async (deadline) => {
    const queueId = await createQueue(s, await createScope(s));
    expect(codes(await s.gql(PUBLISH, { i: { queueId, body: 1, deadline } }))).toEqual(["VALIDATION_ERROR"]);
    expect(await countIn(queueId)).toBe(0);
  });

  it("real ones, leap days included, are taken as given", async () => {
    const queueId = await createQueue(s, await createScope(s));
    const deadline = "2032-02-29T23:59:59Z";
    const id = (await ok(s.gql(PUBLISH, { i: { queueId, body: 1, deadline } }))).publish.message.id;
    expect((await ok(s.gql(MESSAGE, { id }))).message.deadline).toBe("2032-02-29T23:59:59.000Z");
  });
});

describe("with small limits", () => {
  const small = suiteServer({
    MAX_RESPONSE_BYTES: "65536",
    WS_MAX_CONNECTIONS: "5",
    WS_MAX_PENDING_CONNECTIONS: "3",
    SSE_MAX_STREAMS_PER_KEY: "2",
    AUTH_FAILURES_PER_S: "1",
    AUTH_FAILURE_BURST: "5",
    DATABASE_STATEMENT_TIMEOUT_S: "1",
  });
  let t: TestServer;
  let tdb: Connection;
  beforeAll(async () => {
    t = small();
    const { server, database } = parseDatabaseUrl(t.config.database.url);
    tdb = await createConnection({ ...server, database });
  });
  afterAll(async () => {
    await tdb?.end();
  });

  it("2. an answer over MAX_RESPONSE_BYTES is refused instead of sent; a smaller one is served", async () => {
    const queueId = await createQueue(t, await createScope(t));
    await ok(t.gql(PUBLISH_BATCH, { is: Array.from({ length: 10 }, (_, n) => ({ queueId, body: { n, pad: "b".repeat(10_000) } })) }));
    const list = (first: number) => t.gql(`query($q: ID!, $n: Int!) { messages(queueId: $q, first: $n) { edges { node { body } } } }`, { q: queueId, n: first });
    const big = await list(10);
    expect(codes(big)).toEqual(["QUERY_TOO_COMPLEX"]);
    expect(big.data).toBeUndefined();
    expect((await ok(list(3))).messages.edges).toHaveLength(3);
  });

  it("9. sockets that never initialise do not keep real clients out", async () => {
    const idle: WebSocket[] = [];
    const closed: number[] = [];
    for (let i = 0; i < 10; i++) {
      const w = new WebSocket(t.wsUrl, "graphql-transport-ws");
      w.on("close", (c) => closed.push(c));
      w.on("error", () => {});
      idle.push(w);
      await new Promise((r) => w.once("open", r));
    }
    const ws = t.wsClient();
    const sub = subscribe(ws, DEPTH_CHANGES, { q: await createQueue(t, await createScope(t)) });
    try {
      expect((await sub.next()).queueDepth).toEqual({ pending: 0, claimed: 0, delayed: 0 });
      // the oldest idle sockets were pushed out (4408) to keep at most 3 waiting
      expect(closed.filter((c) => c === 4408).length).toBeGreaterThanOrEqual(7);
    } finally {
      sub.close();
      await ws.dispose();
      for (const w of idle) w.terminate();
    }
  });

  it("9. subscriptions over SSE are bounded per key (SSE_MAX_STREAMS_PER_KEY)", async () => {
    const key = await t.newKey("default");
    const open = () => {
      const ac = new AbortController();
      const res = fetch(t.url, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "text/event-stream", authorization: `Bearer ${key}` },
        body: JSON.stringify({ query: COMPLETED, variables: { c: `sse-${uniq()}` } }),
        signal: ac.signal,
      });
      const text = (async () => {
        let out = "";
        try {
          for await (const chunk of (await res).body!) out += Buffer.from(chunk).toString("utf8");
        } catch {
          // aborted
        }
        return out;
      })();
      return { ac, text };
    };
    const streams = [open(), open()];
    await new Promise((r) => setTimeout(r, 300)); // both are live
    const third = open();
    expect(await Promise.race([third.text, new Promise((r) => setTimeout(() => r("still open"), 3000))])).toContain("RATE_LIMITED");
    streams[0]!.ac.abort();
    await streams[0]!.text;
    await new Promise((r) => setTimeout(r, 300));
    const fourth = open();
    expect(await Promise.race([fourth.text, new Promise((r) => setTimeout(() => r("still open"), 500))])).toBe("still open");
    for (const x of [streams[1]!, fourth]) {
      x.ac.abort();
      await x.text;
    }
  });

  it("13. unknown secrets from one address are throttled past AUTH_FAILURE_BURST; a key it knows goes on working", async () => {
    expect((await t.gql(SCOPES)).errors).toBeUndefined(); // the admin key is known
    const answers: (string | undefined)[] = [];
    for (let i = 0; i < 12; i++) answers.push(code(await t.gql(SCOPES, {}, `sqk_${randomBytes(30).toString("base64url")}`)));
    expect(answers.slice(0, 5)).toEqual(Array(5).fill("AUTH_TOKEN_INVALID"));
    expect(answers.slice(6)).toEqual(Array(6).fill("RATE_LIMITED"));
    const limited = await t.gql(SCOPES, {}, `sqk_${randomBytes(30).toString("base64url")}`);
    expect(limited.errors![0]!.extensions).toMatchObject({ code: "RATE_LIMITED", retryAfter: expect.any(Number) });
    await new Promise((r) => setTimeout(r, 1100)); // past the known key's cache entry too
    expect((await t.gql(SCOPES)).errors).toBeUndefined();
  });

  it("14. a statement stuck on a lock answers SCAIQUEUE_OVERLOADED after DATABASE_STATEMENT_TIMEOUT_S, and the service recovers", async () => {
    const queueId = await createQueue(t, await createScope(t));
    await tdb.query("LOCK TABLES messages WRITE");
    let r: GqlResult;
    const started = performance.now();
    try {
      r = await t.gql(PUBLISH, { i: { queueId, body: "while locked" } });
    } finally {
      await tdb.query("UNLOCK TABLES");
    }
    expect(codes(r)).toEqual(["SCAIQUEUE_OVERLOADED"]);
    expect(r.errors![0]!.extensions).toMatchObject({ retryAfter: 1 });
    expect(performance.now() - started).toBeLessThan(5000);
    expect((await ok(t.gql(PUBLISH, { i: { queueId, body: "after" } }))).publish.message.state).toBe("PENDING");
    expect((await tdb.query("SELECT body FROM messages WHERE queueId = ?", [queueId])).map((m: any) => m.body)).toEqual(["after"]);
  });
});

describe("14. a MariaDB that stops answering", () => {
  let m: PrivateMariaDb;
  let u: TestServer;
  beforeAll(async () => {
    m = await startPrivateMariaDb();
    u = await startTestServer({ DATABASE_URL: m.url, DATABASE_STATEMENT_TIMEOUT_S: "1" });
  });
  afterAll(async () => {
    m?.thaw();
    await u?.stop();
    await m?.stop();
  });

  it("answers within its statement timeout and grace instead of hanging, and serves again once it is back", async () => {
    const queueId = await createQueue(u, await createScope(u));
    await ok(u.gql(PUBLISH, { i: { queueId, body: "before" } }));
    m.freeze(); // the process takes no more work; its sockets stay open
    let r: GqlResult;
    const started = performance.now();
    try {
      r = await u.gql(PUBLISH, { i: { queueId, body: "while frozen" } });
    } finally {
      m.thaw();
    }
    // the INSERT was sent before the server stopped: whether it ran is not known, so no
    // code that promises nothing was done (SCAIQUEUE_OVERLOADED) is answered
    expect(codes(r)).toEqual(["INTERNAL_SERVER_ERROR"]);
    expect(performance.now() - started).toBeLessThan(8000); // 1 s statement timeout + 2 s grace, with room
    expect((await ok(u.gql(PUBLISH, { i: { queueId, body: "after" } }))).publish.message.state).toBe("PENDING");
    const bodies = (await messagesOf(u, { q: queueId })).map((m) => m.body);
    // it may have run once the server went on: what a client must allow for (an idempotency key makes the retry safe)
    expect(bodies.filter((b: string) => b !== "while frozen")).toEqual(["before", "after"]);
    expect(bodies.filter((b: string) => b === "while frozen").length).toBeLessThanOrEqual(1);
  }, 30_000);
});

describe("15. introspection in production", () => {
  const production = suiteServer({ NODE_ENV: "production" });

  it("needs a valid key; __typename does not", async () => {
    const p = production();
    const INTROSPECT = `{ __schema { queryType { name } } }`;
    expect(code(await p.gql(INTROSPECT, {}, null))).toBe("AUTH_TOKEN_MISSING");
    expect(code(await p.gql(`{ __type(name: "Message") { name } }`, {}, "sqk_not-a-key-at-all-000000000000"))).toBe("AUTH_TOKEN_INVALID");
    expect((await ok(p.gql(INTROSPECT))).__schema.queryType.name).toBe("Query");
    expect(await ok(p.gql(TYPENAME, {}, null))).toEqual({ __typename: "Query" });
  });
});
