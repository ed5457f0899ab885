import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomUUID } from "node:crypto";
import fc from "fast-check";
import { createConnection, type Connection } from "mariadb";
import { Redis } from "ioredis";
import { getNamedType, isInputObjectType, type GraphQLInputType } from "graphql";
import { schema } from "../src/schema/index.js";
import { hashSecret } from "../src/domain/api-keys.js";
import { PERMISSIONS } from "../src/domain/actor.js";
import { parseDatabaseUrl } from "../src/db/connection.js";
import { ok, startTestServer, type TestServer } from "./support/server.js";
import { CLAIM, COMPLETE, PUBLISH, PUBLISH_BATCH, createQueue, createScope } from "./support/fixtures.js";
import { operationOf, type IdPools, type Mode, type Operation } from "./support/hostile.js";

/**
 * Hostile clients against every mutation of the schema (read from src/schema, so new
 * mutations are covered as they land): generated documents and variables of wrong
 * types, huge and deeply nested JSON, unicode and control characters, injection-shaped
 * strings, unknown enum values, missing and extra fields, unknown ids, another tenant's
 * ids, and malformed HTTP envelopes. Whatever comes, the answer is not a 5xx, every
 * error carries a contract code, a refused operation writes nothing (row counts and
 * checksums of every table, and every Redis key of the server's prefix with its size),
 * the other tenant is untouched, and the process stays healthy.
 */

/** spec/api-contract.md §3 and §11 */
const CONTRACT_CODES = [
  "AUTH_TOKEN_MISSING", "AUTH_TOKEN_INVALID", "AUTHZ_PERMISSION_DENIED", "VALIDATION_ERROR", "SLUG_CONFLICT",
  "RATE_LIMITED", "SCAIQUEUE_SCOPE_NOT_FOUND", "SCAIQUEUE_QUEUE_NOT_FOUND", "SCAIQUEUE_MESSAGE_NOT_FOUND",
  "SCAIQUEUE_SCOPE_PAUSED", "SCAIQUEUE_QUEUE_PAUSED", "SCAIQUEUE_QUEUE_FULL", "SCAIQUEUE_IDEMPOTENCY_CONFLICT",
  "SCAIQUEUE_INVALID_STATE", "SCAIQUEUE_NOT_CLAIM_OWNER",
  // §11
  "SCAIQUEUE_OVERLOADED", "QUERY_TOO_COMPLEX",
];

// A fixed seed per mutation (from its name, so a new mutation does not reshuffle the
// others) and a fixed budget of operations spread over the mutations: ~250 hostile ones
// plus a few with the other tenant's ids for each mutation that takes an id.
const SEED = 20261129;
const HOSTILE_OPERATIONS = 250;
const FOREIGN_RUNS = 3;
const MUTATIONS = Object.values(schema.getMutationType()!.getFields());
const RUNS = Math.max(4, Math.ceil(HOSTILE_OPERATIONS / MUTATIONS.length));
const seedOf = (name: string) => [...name].reduce((h, c) => (h * 31 + c.charCodeAt(0)) | 0, SEED);

const takesId = (type: GraphQLInputType, seen = new Set<string>()): boolean => {
  const named = getNamedType(type);
  if (named.name === "ID") return true;
  if (!isInputObjectType(named) || seen.has(named.name)) return false;
  seen.add(named.name);
  return Object.values(named.getFields()).some((f) => takesId(f.type, seen));
};

let s: TestServer;
let db: Connection;
let redis: Redis;
let tables: string[];
let hostilePools: IdPools;
let foreignPools: IdPools;
let otherKey: string;
let otherView: unknown;

// Everything of the other tenant a hostile operation could have changed, read with its own key.
const OTHER_VIEW = `{
  scopes { id slug state queues { id slug state maxDepth depth { pending claimed delayed } } }
  messages(first: 500) { edges { node { id state attempts body labels response claimedBy } } }
}`;

async function keyId(secret: string): Promise<string> {
  const [row] = await db.query("SELECT id FROM api_keys WHERE secretHash = ?", [hashSecret(secret)]);
  return row.id;
}

/** A scope with a FIFO and a BROADCAST queue, pending and claimed messages in both. */
async function world(key: string) {
  const scopeId = await createScope(s, key);
  const fifo = await createQueue(s, scopeId, {}, key);
  const broadcast = await createQueue(s, scopeId, { consumerMode: "BROADCAST" }, key);
  await ok(s.gql(CLAIM, { i: { queueId: broadcast, consumerGroup: "g1" } }, key)); // the group joins: it gets what comes next
  const publish = (queueId: string) =>
    ok(s.gql(PUBLISH_BATCH, { is: [1, 2, 3].map((n) => ({ queueId, body: { n }, correlationId: "corr-1", labels: { n } })) }, key));
  const published = [...(await publish(fifo)).publishBatch, ...(await publish(broadcast)).publishBatch].map((p: any) => p.message.id);
  const [claimed] = (await ok(s.gql(CLAIM, { i: { queueId: fifo } }, key))).claim;
  const [delivery] = (await ok(s.gql(CLAIM, { i: { queueId: broadcast, consumerGroup: "g1" } }, key))).claim;
  return {
    byKind: { scope: [scopeId], queue: [fifo, broadcast], message: published, apiKey: [await keyId(key)] },
    tokens: [claimed.claimToken, delivery.claimToken],
  };
}

beforeAll(async () => {
  s = await startTestServer({
    MAX_MESSAGE_BYTES: "16384", // "too big" stays cheap
    MAX_REQUEST_BYTES: "1048576",
    // The refusal checks compare every Redis key: no rate-limit buckets, and no refusals for speed.
    RATE_LIMIT_KEY_PER_S: "0",
    RATE_LIMIT_TENANT_PER_S: "0",
  });
  const { server, database } = parseDatabaseUrl(s.config.database.url);
  db = await createConnection({ ...server, database, bigIntAsNumber: true });
  redis = new Redis(s.config.redis.url);
  tables = (
    await db.query("SELECT table_name AS t FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name <> '_prisma_migrations' ORDER BY 1")
  ).map((r: { t: string }) => r.t);

  const mine = await world(s.adminKey);
  otherKey = await s.newKey("hostile-other");
  const other = await world(otherKey);
  // The admin key runs the suite: hostile calls revoke or rotate a spare key of ours instead.
  mine.byKind.apiKey = [await keyId(await s.newKey("default", [...PERMISSIONS]))];
  const all = (w: typeof mine) => Object.values(w.byKind).flat();
  const pendingId = mine.byKind.message[0]!;
  const strings = [...mine.tokens, ...other.tokens];
  hostilePools = {
    byKind: mine.byKind,
    ids: [
      ...all(mine), ...all(other),
      randomUUID(), "0190a000-0000-7000-8000-000000000000", pendingId.toUpperCase(), `${pendingId} `, ` ${pendingId}`,
      "", "not-an-id", "1", "-1", "x".repeat(5000), "../../etc/passwd", "' OR '1'='1", "*",
    ],
    strings,
  };
  foreignPools = { byKind: other.byKind, ids: all(other), strings };
  otherView = await ok(s.gql(OTHER_VIEW, {}, otherKey));
});

afterAll(async () => {
  await db?.end();
  redis?.disconnect();
  await s?.stop();
});

/** Every row count and checksum of the test's database, and every Redis key of its prefix with its size. */
async function writes(): Promise<unknown> {
  const counts = await db.query(tables.map((t) => `SELECT '${t}' AS t, COUNT(*) AS n FROM \`${t}\``).join(" UNION ALL "));
  const sums = await db.query(`CHECKSUM TABLE ${tables.map((t) => `\`${t}\``).join(", ")}`);
  const keys: string[] = [];
  let cursor = "0";
  do {
    const [next, batch] = await redis.scan(cursor, "MATCH", `${s.config.redis.keyPrefix}:*`, "COUNT", 1000);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== "0");
  keys.sort();
  const types = (await redis.pipeline(keys.map((k) => ["type", k])).exec())!.map(([, t]) => t as string);
  const size = { string: "strlen", hash: "hlen", zset: "zcard", set: "scard", list: "llen", stream: "xlen" } as const;
  const sizes = (await redis.pipeline(keys.map((k, i) => [size[types[i] as keyof typeof size] ?? "exists", k])).exec())!;
  return {
    rows: Object.fromEntries(counts.map((r: { t: string; n: number }) => [r.t, r.n])),
    checksums: Object.fromEntries(sums.map((r: { Table: string; Checksum: number }) => [r.Table, r.Checksum])),
    redis: Object.fromEntries(keys.map((k, i) => [k, `${types[i]}:${sizes[i]![1]}`])),
  };
}

const BOGUS_KEY = `sqk_${"A".repeat(40)}`;

/**
 * Sends one request and checks what any request must satisfy. It may write only when it
 * was not refused; with `writesNothing` (another tenant's ids everywhere) not at all.
 * Answers the errors' codes.
 */
async function hostile(label: string, request: () => Promise<Response>, writesNothing = false): Promise<string[]> {
  const before = await writes();
  const res = await request();
  const text = await res.text();
  const what = `${label.slice(0, 600)}\n→ ${res.status} ${text.slice(0, 600)}`;
  expect(res.status, what).toBeLessThan(500);
  let body: { errors?: { extensions?: { code?: string } }[] };
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`not a JSON answer: ${what}`);
  }
  const codes = (body.errors ?? []).map((e) => e.extensions?.code ?? "(none)");
  for (const c of codes) expect(CONTRACT_CODES, what).toContain(c);
  if (codes.length || writesNothing) expect(await writes(), `${codes.length ? "refused" : "foreign"}, yet it wrote: ${what}`).toEqual(before);
  return codes;
}

function post(body: string | Uint8Array<ArrayBuffer>, key: string | null = s.adminKey, contentType = "application/json") {
  return () =>
    fetch(s.url, {
      method: "POST",
      headers: { "content-type": contentType, ...(key ? { authorization: `Bearer ${key}` } : {}) },
      body,
    });
}

const keyOf = (op: Operation) => (op.key === "admin" ? s.adminKey : op.key === "bogus" ? BOGUS_KEY : null);

async function property(field: (typeof MUTATIONS)[number], mode: Mode, pools: IdPools, numRuns: number) {
  await fc.assert(
    fc.asyncProperty(operationOf(field, pools, mode), async (op) => {
      await hostile(op.body, post(op.body, keyOf(op)), mode === "foreign");
    }),
    { seed: seedOf(field.name), numRuns },
  );
}

describe("every mutation, generated hostile input", () => {
  it("finds the mutations in the schema", () => {
    expect(MUTATIONS.map((m) => m.name)).toEqual(expect.arrayContaining(["createScope", "publish", "claim", "complete"]));
  });
  for (const field of MUTATIONS) {
    it(`${field.name}: no internal error, contract codes only, nothing written on refusal`, () =>
      property(field, "hostile", hostilePools, RUNS));
  }
});

describe("every mutation that takes an id, with another tenant's ids", () => {
  for (const field of MUTATIONS.filter((m) => m.args.some((a) => takesId(a.type)))) {
    it(`${field.name}: nothing written`, () => property(field, "foreign", foreignPools, FOREIGN_RUNS));
  }
});

describe("malformed requests", () => {
  const PUB = `mutation($i: PublishInput!) { publish(input: $i) { duplicate } }`;
  const queueId = () => hostilePools.byKind.queue[0]!;
  const nested = (levels: number) => `${"[".repeat(levels)}1${"]".repeat(levels)}`;
  const cases: [string, () => string | Uint8Array<ArrayBuffer>][] = [
    ["truncated JSON", () => `{"query": "{ __typename }"`],
    ["a batch (array) of operations", () => `[{"query": "{ __typename }"}, {"query": "{ __typename }"}]`],
    ["JSON null", () => "null"],
    ["a JSON number", () => "1"],
    ["a JSON string", () => `"mutation { x }"`],
    ["an empty object", () => "{}"],
    ["query as a number", () => `{"query": 1}`],
    ["query as an object", () => `{"query": {"a": 1}}`],
    ["variables as a string", () => JSON.stringify({ query: PUB, variables: "x" })],
    ["variables as a list", () => JSON.stringify({ query: PUB, variables: [1] })],
    ["operationName as a number", () => JSON.stringify({ query: PUB, operationName: 1 })],
    ["an unknown operationName", () => JSON.stringify({ query: "mutation A { __typename }", operationName: "B" })],
    ["extensions as a string", () => JSON.stringify({ query: "{ __typename }", extensions: "x" })],
    ["a persisted-query hash", () => JSON.stringify({ extensions: { persistedQuery: { version: 1, sha256Hash: "0".repeat(64) } } })],
    ["invalid UTF-8", () => new Uint8Array([0x7b, 0x22, 0x71, 0xff, 0xfe, 0x22, 0x7d])],
    ["a lone surrogate in a variable", () => `{"query": ${JSON.stringify(PUB)}, "variables": {"i": {"queueId": "${queueId()}", "body": "\\ud800"}}}`],
    ["__proto__ as variables", () => `{"query": ${JSON.stringify(PUB)}, "variables": {"__proto__": {"i": {"queueId": "${queueId()}", "body": 1}}}}`],
    ["a body nested 100,000 levels deep in variables", () => `{"query": ${JSON.stringify(PUB)}, "variables": {"i": {"queueId": "${queueId()}", "body": ${nested(100_000)}}}}`],
    ["a body nested 2,400 levels deep in the document", () => JSON.stringify({ query: `mutation { publish(input: {queueId: "${queueId()}", body: ${nested(2400)}}) { duplicate } }` })],
    ["a body nested 20,000 levels deep in the document", () => JSON.stringify({ query: `mutation { publish(input: {queueId: "${queueId()}", body: ${nested(20_000)}}) { duplicate } }` })],
    ["a request larger than MAX_REQUEST_BYTES", () => JSON.stringify({ query: PUB, variables: { i: { queueId: queueId(), body: "x".repeat(1_100_000) } } })],
    ["10,000 variables", () => JSON.stringify({ query: PUB, variables: Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`v${i}`, i])) })],
    ["two anonymous operations", () => JSON.stringify({ query: `mutation { pauseScope(id: "x") { id } } mutation { resumeScope(id: "x") { id } }` })],
    ["too many aliases", () => JSON.stringify({ query: `mutation { ${Array.from({ length: 40 }, (_, i) => `a${i}: pauseScope(id: "x") { id }`).join(" ")} }` })],
    ["a fragment cycle", () => JSON.stringify({ query: `mutation { ...F } fragment F on Mutation { ...G } fragment G on Mutation { ...F }` })],
    ["a directive with a wrong argument", () => JSON.stringify({ query: `mutation { pauseScope(id: "x") @skip(if: "yes") { id } }` })],
    ["a selection nested past MAX_QUERY_DEPTH", () => JSON.stringify({ query: `mutation { claim(input: {queueId: "x"}) { queue { scope { queues { scope { queues { scope { queues { scope { queues { scope { queues { scope { id } } } } } } } } } } } } } }` })],
  ];
  it.each(cases)("%s: a contract error, nothing written", async (label, body) => {
    const codes = await hostile(label, post(body()));
    expect(codes.length, label).toBeGreaterThan(0);
  });

  it("a mutation over GET is refused", async () => {
    const query = `mutation { createScope(input: {slug: "via-get", displayName: "GET"}) { id } }`;
    const codes = await hostile("GET mutation", () =>
      fetch(`${s.url}?query=${encodeURIComponent(query)}`, { headers: { authorization: `Bearer ${s.adminKey}` } }),
    );
    expect(codes.length).toBeGreaterThan(0);
  });

  it("an unknown content type is refused", async () => {
    const codes = await hostile("application/xml", post("<query>{ __typename }</query>", s.adminKey, "application/xml"));
    expect(codes.length).toBeGreaterThan(0);
  });
});

describe("afterwards", () => {
  it("the other tenant is untouched and the process healthy and serving", async () => {
    expect(await ok(s.gql(OTHER_VIEW, {}, otherKey))).toEqual(otherView);
    const base = s.url.replace("/graphql", "");
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    const queueId = await createQueue(s, await createScope(s));
    await ok(s.gql(PUBLISH, { i: { queueId, body: { after: "the storm" } } }));
    const [claimed] = (await ok(s.gql(CLAIM, { i: { queueId } }))).claim;
    const done = (await ok(s.gql(COMPLETE, { i: { messageId: claimed.id, claimToken: claimed.claimToken, response: { ok: true } } }))).complete;
    expect(done.state).toBe("COMPLETED");
  });
});
