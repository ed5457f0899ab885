import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomUUID } from "node:crypto";
import fc from "fast-check";
import { createConnection, type Connection } from "mariadb";
import { Redis } from "ioredis";
import { getNamedType, isInputObjectType, type GraphQLInputType } from "graphql";
import { schema } from "../../src/schema/index.js";
import { hashSecret } from "../../src/domain/api-keys/keys.js";
import { PERMISSIONS } from "../../src/domain/actor.js";
import { parseDatabaseUrl } from "../../src/db/connection.js";
import { ok, startTestServer, type TestServer } from "../support/server.js";
import { createQueue, createScope } from "../support/api.js";
import {
  BIND_SCHEMA as BIND, CLAIM, COMPLETE, COMPLETE_BATCH, PREVIEW_PATTERN as PREVIEW, PUBLISH, PUBLISH_BATCH, PUBLISH_HITL, REGISTER_PATTERN, REGISTER_SCHEMA as REGISTER,
} from "../support/ops.js";
import { operationOf, type IdPools, type Mode, type Operation } from "../support/hostile.js";
import { whileResponsive } from "../support/responsive.js";

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
    ["variables as a string", () => JSON.stringify({ query: PUBLISH, variables: "x" })],
    ["variables as a list", () => JSON.stringify({ query: PUBLISH, variables: [1] })],
    ["operationName as a number", () => JSON.stringify({ query: PUBLISH, operationName: 1 })],
    ["an unknown operationName", () => JSON.stringify({ query: "mutation A { __typename }", operationName: "B" })],
    ["extensions as a string", () => JSON.stringify({ query: "{ __typename }", extensions: "x" })],
    ["a persisted-query hash", () => JSON.stringify({ extensions: { persistedQuery: { version: 1, sha256Hash: "0".repeat(64) } } })],
    ["invalid UTF-8", () => new Uint8Array([0x7b, 0x22, 0x71, 0xff, 0xfe, 0x22, 0x7d])],
    ["a lone surrogate in a variable", () => `{"query": ${JSON.stringify(PUBLISH)}, "variables": {"i": {"queueId": "${queueId()}", "body": "\\ud800"}}}`],
    ["__proto__ as variables", () => `{"query": ${JSON.stringify(PUBLISH)}, "variables": {"__proto__": {"i": {"queueId": "${queueId()}", "body": 1}}}}`],
    ["a body nested 100,000 levels deep in variables", () => `{"query": ${JSON.stringify(PUBLISH)}, "variables": {"i": {"queueId": "${queueId()}", "body": ${nested(100_000)}}}}`],
    ["a body nested 2,400 levels deep in the document", () => JSON.stringify({ query: `mutation { publish(input: {queueId: "${queueId()}", body: ${nested(2400)}}) { duplicate } }` })],
    ["a body nested 20,000 levels deep in the document", () => JSON.stringify({ query: `mutation { publish(input: {queueId: "${queueId()}", body: ${nested(20_000)}}) { duplicate } }` })],
    ["a request larger than MAX_REQUEST_BYTES", () => JSON.stringify({ query: PUBLISH, variables: { i: { queueId: queueId(), body: "x".repeat(1_100_000) } } })],
    ["10,000 variables", () => JSON.stringify({ query: PUBLISH, variables: Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`v${i}`, i])) })],
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

describe("hostile tenant data and queries: bounded time, contract codes", () => {
  // Every generated case: not a 5xx, contract codes only (and only the ones the case allows),
  // answered within QUICK_MS, and no /healthz answer while it ran slower than HEALTHZ_MS.
  const HEALTHZ_MS = 200;
  const SCHEMA_VALIDATION_MS = 300;
  /** MAX_SCHEMA_VALIDATION_MS, a fresh validation worker and the round trips, with room to spare on a 2-core machine */
  const QUICK_MS = 2000;
  /** A publish into a queue with a schema: at most MAX_SCHEMA_VALIDATION_MS of checking, a fresh worker, and the rest */
  const PUBLISH_MS = SCHEMA_VALIDATION_MS + 700;
  const MAX_ANSWER_BYTES = 200_000;
  /** A fixed seed, a modest number of runs, the worst cases known always among them, and no shrinking (each run is a round trip). */
  const settings = <T,>(_arb: fc.Arbitrary<T>, seed: number, numRuns: number, worst: NoInfer<T>[] = []): fc.Parameters<[T]> => ({
    seed,
    numRuns,
    endOnFailure: true,
    examples: worst.map((w): [T] => [w]),
  });
  type Endpoint = Pick<TestServer, "url">;
  const baseOf = (server: Endpoint) => server.url.replace(/\/graphql$/, "");
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  /** whileResponsive, against this block's server unless told another. */
  async function responsive<T>(fn: () => Promise<T>, base = baseOf(s)): Promise<{ result: T; slowest: number }> {
    const { result, slowestMs } = await whileResponsive(base, fn);
    return { result, slowest: slowestMs };
  }

  type Seen = { status: number; text: string; ms: number };
  /** `request` read to its end and timed; what it answered is in `seen` afterwards. */
  function timed(request: () => Promise<Response>) {
    const seen: Seen = { status: 0, text: "", ms: 0 };
    const run = async () => {
      const t = performance.now();
      const res = await request();
      seen.text = await res.text();
      seen.ms = performance.now() - t;
      seen.status = res.status;
      return new Response(seen.text, { status: res.status, headers: res.headers });
    };
    return { run, seen };
  }

  const postTo = (server: Endpoint, key: string, query: string, variables?: Record<string, unknown>) => () =>
    fetch(server.url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
      body: JSON.stringify({ query, variables }),
    });

  const preview = (v: unknown, n = 300) => {
    const t = JSON.stringify(v) ?? String(v);
    return t.length > n ? `${t.slice(0, n)}… (${t.length} chars)` : t;
  };

  type Answer = { data?: any; codes: string[]; seen: Seen; what: string };
  /**
   * One request that may write (an accepted schema, publish, query): its answer is not a
   * 5xx, is JSON, carries only codes of `allowed` (all contract codes), came within
   * QUICK_MS, and /healthz stayed quick meanwhile.
   */
  async function ask(
    server: Endpoint,
    label: string,
    key: string,
    query: string,
    variables: Record<string, unknown> | undefined,
    allowed: string[],
    quickMs = QUICK_MS,
  ): Promise<Answer> {
    const { run, seen } = timed(postTo(server, key, query, variables));
    const { slowest } = await responsive(run, baseOf(server));
    const what = `${label}: ${preview(query, 400)} ${preview(variables)}\n→ ${seen.status} in ${seen.ms.toFixed(0)} ms (healthz ≤ ${slowest.toFixed(0)} ms) ${seen.text.slice(0, 600)}`;
    expect(seen.status, what).toBeLessThan(500);
    let body: { data?: any; errors?: { extensions?: { code?: string } }[] };
    try {
      body = JSON.parse(seen.text);
    } catch {
      throw new Error(`not a JSON answer: ${what}`);
    }
    const codes = (body.errors ?? []).map((e) => e.extensions?.code ?? "(none)");
    for (const c of codes) {
      expect(CONTRACT_CODES, what).toContain(c);
      expect(allowed, what).toContain(c);
    }
    expect(seen.ms, `slow answer: ${what}`).toBeLessThan(quickMs);
    expect(slowest, `healthz stalled: ${what}`).toBeLessThan(HEALTHZ_MS);
    return { data: body.data, codes, seen, what };
  }

  /** A refusal that must write nothing: hostile() (snapshots), timed, with healthz polled meanwhile. */
  async function refused(label: string, request: () => Promise<Response>): Promise<{ codes: string[]; seen: Seen; what: string }> {
    const { run, seen } = timed(request);
    const { result: codes, slowest } = await responsive(() => hostile(label, run));
    const what = `${label.slice(0, 600)}\n→ ${seen.status} in ${seen.ms.toFixed(0)} ms (healthz ≤ ${slowest.toFixed(0)} ms) ${seen.text.slice(0, 600)}`;
    expect(seen.ms, `slow answer: ${what}`).toBeLessThan(QUICK_MS);
    expect(slowest, `healthz stalled: ${what}`).toBeLessThan(HEALTHZ_MS);
    return { codes, seen, what };
  }

  it("responsive() sees a stalled event loop", async () => {
    const stall = async () => {
      await sleep(30);
      const until = performance.now() + 300;
      while (performance.now() < until); // what a catastrophic regex on the event loop does
      await sleep(30);
    };
    expect((await responsive(stall)).slowest).toBeGreaterThanOrEqual(HEALTHZ_MS);
    expect((await responsive(() => sleep(330))).slowest).toBeLessThan(HEALTHZ_MS);
  });

  describe("generated JSON Schemas and bodies", () => {
    // its own server: checking a body may take MAX_SCHEMA_VALIDATION_MS = 300 here
    let v: TestServer;
    let scopeId: string;
    let serial = 0;

    beforeAll(async () => {
      v = await startTestServer({ MAX_SCHEMA_VALIDATION_MS: String(SCHEMA_VALIDATION_MS), RATE_LIMIT_KEY_PER_S: "0", RATE_LIMIT_TENANT_PER_S: "0" });
      scopeId = await createScope(v);
    });
    afterAll(async () => {
      await v?.stop();
    });

    type Outcome = "refused" | "accepted" | "published" | "body refused";
    /**
     * Registers `schema` (it may be refused: VALIDATION_ERROR) and, when accepted, binds
     * it to `queueId` and publishes each body: accepted, or refused with VALIDATION_ERROR.
     */
    async function tryCase(label: string, queueId: string, schema: object, bodies: unknown[]): Promise<Outcome[]> {
      const name = `gen-${++serial}`;
      const reg = await ask(v, `${label} register`, v.adminKey, REGISTER, { s: scopeId, n: name, v: "1", schema }, ["VALIDATION_ERROR"]);
      if (reg.codes.length) return ["refused"];
      expect(reg.data?.registerMessageSchema?.id, reg.what).toBeTruthy();
      const bind = await ask(v, `${label} bind`, v.adminKey, BIND, { q: queueId, n: name, v: "1" }, []);
      expect(bind.data.bindQueueSchema.messageSchema, bind.what).toEqual({ name, version: "1" });
      const outcomes: Outcome[] = ["accepted"];
      for (const body of bodies) {
        const p = await ask(v, `${label} publish`, v.adminKey, PUBLISH, { i: { queueId, body } }, ["VALIDATION_ERROR"], PUBLISH_MS);
        if (p.codes.length) outcomes.push("body refused");
        else {
          expect(p.data.publish.message.state, p.what).toBe("PENDING");
          outcomes.push("published");
        }
      }
      return outcomes;
    }

    /** Runs the cases; each property must have had some of its schemas accepted and bodies checked, or it tested nothing. */
    async function cases<T>(arb: fc.Arbitrary<T>, seed: number, numRuns: number, worst: NoInfer<T>[], run: (c: T, queueId: string) => Promise<Outcome[]>) {
      const queueId = await createQueue(v, scopeId);
      const seen: Outcome[] = [];
      await fc.assert(
        fc.asyncProperty(arb, async (c) => {
          seen.push(...(await run(c, queueId)));
        }),
        settings(arb, seed, numRuns, worst),
      );
      expect(seen, "no generated schema was accepted").toContain("accepted");
      return seen;
    }

    const COMBINATORS = ["anyOf", "oneOf", "allOf"] as const;
    const DRAFT_2020 = "https://json-schema.org/draft/2020-12/schema";
    const LEAVES: unknown[] = [{ type: "integer" }, { type: "string", maxLength: 3 }, { type: "object", properties: { a: {} }, required: ["a"] }, {}, true, { not: { type: "null" } }];
    // not null: a null body is refused by GraphQL (JSON!) before any schema sees it
    const smallBody = fc.oneof(fc.integer(), fc.string({ maxLength: 8 }), fc.constant({ a: 1 }), fc.jsonValue({ maxDepth: 2 }).filter((b) => b !== null));
    const defsOf = (draft2020: boolean) => (draft2020 ? "$defs" : "definitions");
    const root = (draft2020: boolean, defs: Record<string, unknown>, ref: string) => ({
      ...(draft2020 ? { $schema: DRAFT_2020 } : {}),
      [defsOf(draft2020)]: defs,
      allOf: [{ $ref: `#/${defsOf(draft2020)}/${ref}` }],
    });

    it("in-place fan-outs of anyOf/oneOf/allOf over $refs (10..26 levels, 2..3 branches)", async () => {
      const arb = fc.record({
        levels: fc.integer({ min: 10, max: 26 }),
        branches: fc.integer({ min: 2, max: 3 }),
        combinators: fc.array(fc.constantFrom(...COMBINATORS), { minLength: 26, maxLength: 26 }),
        leaf: fc.constantFrom(...LEAVES),
        draft2020: fc.boolean(),
        bodies: fc.array(smallBody, { minLength: 1, maxLength: 2 }),
      });
      const worst = [
        { levels: 15, branches: 2, combinators: Array(26).fill("anyOf"), leaf: { type: "string", maxLength: 3 }, draft2020: false, bodies: [12345, "abcd"] },
        { levels: 10, branches: 3, combinators: Array(26).fill("oneOf"), leaf: {}, draft2020: true, bodies: [{ a: 1 }] },
        { levels: 26, branches: 3, combinators: Array(26).fill("allOf"), leaf: true, draft2020: false, bodies: [1] },
      ];
      await cases(arb, 7101, 14, worst, async (c, queueId) => {
        const defs: Record<string, unknown> = {};
        for (let i = 0; i < c.levels; i++) {
          defs[`n${i}`] = { [c.combinators[i]!]: Array.from({ length: c.branches }, () => ({ $ref: `#/${defsOf(c.draft2020)}/n${i + 1}` })) };
        }
        defs[`n${c.levels}`] = c.leaf;
        return tryCase(`fan-out ${c.branches}^${c.levels}`, queueId, root(c.draft2020, defs, "n0"), c.bodies);
      });
    });

    it("recursive properties fan-outs with bodies {a:{a:…}} up to 22 deep", async () => {
      const arb = fc.record({
        branches: fc.integer({ min: 2, max: 3 }),
        combinator: fc.constantFrom(...COMBINATORS),
        draft2020: fc.boolean(),
        depth: fc.integer({ min: 1, max: 22 }),
        leaf: fc.constantFrom<unknown>(1, {}, "x", null, { b: 1 }, []),
      });
      const worst = [{ branches: 3, combinator: "anyOf" as const, draft2020: true, depth: 22, leaf: 1 }];
      await cases(arb, 7102, 12, worst, async (c, queueId) => {
        const ref = `#/${defsOf(c.draft2020)}/n`;
        const extra = [{}, { required: ["a"] }, { maxProperties: 1 }];
        const n = { [c.combinator]: Array.from({ length: c.branches }, (_, j) => ({ type: "object", properties: { a: { $ref: ref } }, ...extra[j] })) };
        let body: unknown = c.leaf;
        for (let i = 0; i < c.depth; i++) body = { a: body };
        return tryCase(`properties fan-out ${c.combinator} ${c.branches}, body ${c.depth} deep`, queueId, root(c.draft2020, { n }, "n"), [body]);
      });
    });

    it("uniqueItems over arrays of thousands of objects", async () => {
      const ITEMS: Record<string, unknown>[] = [{ type: "object" }, { type: "object", properties: { k: {} } }, {}, { type: "array" }];
      const arb = fc.record({
        n: fc.integer({ min: 1000, max: 8000 }),
        items: fc.nat({ max: ITEMS.length }), // ITEMS.length: no items schema
        shape: fc.constantFrom("flat", "nested", "array"),
        duplicate: fc.constantFrom("none", "first", "last"),
        wrapped: fc.boolean(),
      });
      const worst = [{ n: 8000, items: 1, shape: "nested" as const, duplicate: "none" as const, wrapped: true }];
      await cases(arb, 7103, 8, worst, async (c, queueId) => {
        const item = (i: number) => (c.shape === "flat" ? { k: i } : c.shape === "nested" ? { k: { k: i } } : [i, "x"]);
        const list = Array.from({ length: c.n }, (_, i) => item(i));
        if (c.duplicate === "first") list[1] = item(0);
        if (c.duplicate === "last") list[c.n - 1] = item(0);
        const array = { type: "array", uniqueItems: true, ...(c.items < ITEMS.length ? { items: ITEMS[c.items] } : {}) };
        const schema = c.wrapped ? { type: "object", properties: { list: array } } : array;
        return tryCase(`uniqueItems over ${c.n} ${c.shape} items, duplicate ${c.duplicate}`, queueId, schema, [c.wrapped ? { list } : list]);
      });
    });

    it("random mixes of combinators, $refs between definitions, properties, items, uniqueItems and patterns", async () => {
      const DEFS = ["d0", "d1", "d2"];
      const { node } = fc.letrec<{ node: unknown; comb: unknown; obj: unknown; arr: unknown }>((tie) => ({
        node: fc.oneof(
          { depthSize: "small", maxDepth: 5 },
          fc.constantFrom<unknown>(...LEAVES, { type: "string", pattern: "^(a+)+$" }, { type: "number", minimum: 0 }, { enum: [1, "a", null] }),
          fc.constantFrom(...DEFS).map((d) => ({ $ref: `#/definitions/${d}` })),
          tie("comb"),
          tie("obj"),
          tie("arr"),
        ),
        comb: fc
          .record({ k: fc.constantFrom(...COMBINATORS), xs: fc.array(tie("node"), { minLength: 1, maxLength: 3 }) })
          .map(({ k, xs }) => ({ [k]: xs })),
        obj: fc
          .record({ props: fc.dictionary(fc.constantFrom("a", "b", "c"), tie("node"), { maxKeys: 3 }), additional: fc.option(tie("node"), { nil: undefined }) })
          .map(({ props, additional }) => ({ type: "object", properties: props, ...(additional === undefined ? {} : { additionalProperties: additional }) })),
        arr: fc
          .record({ items: tie("node"), unique: fc.boolean() })
          .map(({ items, unique }) => ({ type: "array", items, ...(unique ? { uniqueItems: true } : {}) })),
      }));
      const arb = fc.record({
        top: node,
        defs: fc.tuple(node, node, node),
        bodies: fc.array(
          fc.oneof(fc.jsonValue({ maxDepth: 4 }), fc.array(fc.record({ a: fc.jsonValue({ maxDepth: 2 }), b: fc.array(fc.integer(), { maxLength: 5 }) }), { maxLength: 200 })),
          { minLength: 1, maxLength: 2 },
        ).map((bodies) => bodies.map((b) => b ?? {})),
      });
      await cases(arb, 7104, 25, [], async (c, queueId) => {
        const top = c.top !== null && typeof c.top === "object" ? c.top : { allOf: [c.top] };
        const schema = { ...top, definitions: Object.fromEntries(DEFS.map((d, i) => [d, c.defs[i]])) };
        return tryCase("mixed schema", queueId, schema, c.bodies);
      });
    });

    it("catastrophic-backtracking patterns against long strings: refused or quick", async () => {
      const PATTERNS = [
        "^(a+)+$", "^(a|aa)+$", "^(.*a){12}$", "(x+x+)+y", "^(a|a?)+$", "^(\\w+\\s?)*$", "(a*)*b", "^([a-z]+)*[0-9]$",
        "^(?=a)(a+)+$", "^(a+)\\1$", "(?<!b)a+$", "^(([a-z])+.)+[A-Z]([a-z])+$",
      ];
      const arb = fc.record({
        pattern: fc.constantFrom(...PATTERNS),
        n: fc.integer({ min: 30, max: 5000 }),
        tail: fc.constantFrom<string>("!", "b", "ab!", "\u0000", "é", "aaaa1x", "X"),
        where: fc.constantFrom("pattern", "patternProperties", "items"),
        copies: fc.integer({ min: 1, max: 40 }),
      });
      const worst = [
        { pattern: "^(.*a){12}$", n: 5000, tail: "!", where: "items" as const, copies: 40 },
        { pattern: "^(a|aa)+$", n: 5000, tail: "b", where: "pattern" as const, copies: 1 },
        { pattern: "(x+x+)+y", n: 5000, tail: "X", where: "patternProperties" as const, copies: 1 },
      ];
      await cases(arb, 7105, 18, worst, async (c, queueId) => {
        const subject = "a".repeat(c.n) + c.tail;
        const [schema, body] =
          c.where === "pattern"
            ? [{ type: "string", pattern: c.pattern }, subject]
            : c.where === "patternProperties"
              ? [{ type: "object", patternProperties: { [c.pattern]: { type: "integer" } }, additionalProperties: false }, { [subject]: 1 }]
              : [{ type: "array", items: { type: "string", pattern: c.pattern } }, Array.from({ length: c.copies }, () => subject)];
        return tryCase(`${c.where} ${c.pattern} against ${c.n} a's + ${JSON.stringify(c.tail)}`, queueId, schema, [body]);
      });
    });
  });

  describe("HITL patterns with generated parameters", () => {
    const NAMES = ["p", "q", "r_1", `L${"o".repeat(62)}ng`];
    const MAX_CONTENT = 16_384;
    const MAX_HITL_SPEC_BYTES = 64 * 1024;

    const longString = fc
      .record({ n: fc.oneof(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1, max: 16_384 }), fc.integer({ min: 16_000, max: 150_000 })), c: fc.constantFrom("a", "é", '"', "\\", "😀", "{{p}}", "\u2028", "<b>") })
      .map(({ n, c }) => c.repeat(Math.ceil(n / c.length)).slice(0, n));
    const value = fc.oneof(
      { weight: 4, arbitrary: longString },
      fc.integer(),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.boolean(),
      fc.constant(null),
      fc.jsonValue({ maxDepth: 4 }), // nested objects and lists
      { weight: 2, arbitrary: fc.constant(undefined) }, // missing
    );
    const arb = fc.record({
      names: fc.uniqueArray(fc.constantFrom(...NAMES), { minLength: 1, maxLength: 3 }),
      placeholders: fc.integer({ min: 1, max: 3300 }),
      spaced: fc.boolean(),
      filler: fc.constantFrom("", " ", "x", "\n"),
      titled: fc.boolean(),
      values: fc.array(value, { minLength: 3, maxLength: 3 }),
      params: fc.oneof({ weight: 9, arbitrary: fc.constant("object") }, fc.constantFrom<unknown>([], "p", 1, [{ p: "x" }])),
      extra: fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
    });
    let serial = 0;

    it("register, preview and publishHitl: small quick answers, success or VALIDATION_ERROR, nothing written on refusal", async () => {
      const scopeId = await createScope(s);
      const queueId = await createQueue(s, scopeId);
      const outcomes = { previewed: 0, previewRefused: 0, published: 0, publishRefused: 0 };
      await fc.assert(
        fc.asyncProperty(arb, async (c) => {
          let content = "";
          for (let i = 0; i < c.placeholders; i++) {
            const name = c.names[i % c.names.length]!;
            const next = (i ? c.filler : "") + (c.spaced ? `{{ ${name} }}` : `{{${name}}}`);
            if (content.length + next.length > MAX_CONTENT) break;
            content += next;
          }
          const spec = {
            sections: [
              { type: "context", title: c.titled ? `{{${c.names[0]}}}` : "t", content },
              { type: "decision", field: "d", options: ["ok", "no"] },
            ],
          };
          const name = "gen-review";
          const version = String(++serial);
          const reg = await ask(s, "registerHitlPattern", s.adminKey, REGISTER_PATTERN, { s: scopeId, n: name, v: version, spec }, []);
          expect(reg.data.registerHitlPattern.id, reg.what).toBeTruthy();

          const params =
            c.params === "object"
              ? { ...c.extra, ...Object.fromEntries(c.names.map((n, i) => [n, c.values[i]])) } // undefined: missing
              : c.params;
          const label = `${c.placeholders} placeholders of ${c.names.join(",")} in ${content.length} chars, params ${preview(params, 200)}`;

          const p = await ask(s, `previewHitlPattern ${label}`, s.adminKey, PREVIEW, { s: scopeId, n: name, v: version, p: params }, ["VALIDATION_ERROR"]);
          expect(Buffer.byteLength(p.seen.text), `answer too large: ${p.what}`).toBeLessThan(MAX_ANSWER_BYTES);
          if (p.codes.length) outcomes.previewRefused++;
          else {
            outcomes.previewed++;
            const filled = p.data.previewHitlPattern;
            expect(filled.sections[1], p.what).toEqual(spec.sections[1]);
            expect(Buffer.byteLength(JSON.stringify(filled)), `the filled pattern is over MAX_HITL_SPEC_BYTES: ${p.what}`).toBeLessThanOrEqual(MAX_HITL_SPEC_BYTES);
          }

          const { codes, seen, what } = await refused(
            `publishHitl ${label}`,
            postTo(s, s.adminKey, PUBLISH_HITL, { q: queueId, n: name, v: version, p: params }),
          );
          expect(Buffer.byteLength(seen.text), `answer too large: ${what}`).toBeLessThan(MAX_ANSWER_BYTES);
          for (const code of codes) expect(["VALIDATION_ERROR"], what).toContain(code);
          if (codes.length) outcomes.publishRefused++;
          else {
            outcomes.published++;
            const m = JSON.parse(seen.text).data.publishHitl.message;
            expect(m.state, what).toBe("PENDING");
            expect(Buffer.byteLength(JSON.stringify(m.hitlSpec)), what).toBeLessThanOrEqual(MAX_HITL_SPEC_BYTES);
          }
          // what preview refuses, publishHitl refuses too
          if (!p.data) expect(codes.length, `preview refused, publishHitl did not: ${what}`).toBeGreaterThan(0);
        }),
        settings(arb, 7201, 16, [
          // every placeholder filled with the longest value allowed: the filled pattern would be 54 MB
          { names: ["p"], placeholders: 3300, spaced: false, filler: "", titled: true, values: ["a".repeat(16_384), 1, 1], params: "object", extra: {} },
          { names: ["p", "q"], placeholders: 3300, spaced: true, filler: "", titled: false, values: ['"'.repeat(16_384), "😀".repeat(8192), 1], params: "object", extra: {} },
          { names: ["p"], placeholders: 1, spaced: false, filler: "", titled: false, values: ["\\".repeat(16_384), 1, 1], params: "object", extra: {} },
        ]),
      );
      // both sides were exercised
      expect(outcomes.previewed, JSON.stringify(outcomes)).toBeGreaterThan(0);
      expect(outcomes.previewRefused, JSON.stringify(outcomes)).toBeGreaterThan(0);
      expect(outcomes.publishRefused, JSON.stringify(outcomes)).toBeGreaterThan(0);
    });
  });

  describe("nested and aliased queries by a view-only key over large bodies", () => {
    let viewKey: string;
    let scopeId: string;
    let queueIds: string[];
    const PAD = 16_000; // bodies and responses just under MAX_MESSAGE_BYTES (16384)
    const BIG_QUERY_CODES = ["QUERY_TOO_COMPLEX", "VALIDATION_ERROR"];

    beforeAll(async () => {
      viewKey = await s.newKey("default", ["scaiqueue:view"]);
      scopeId = await createScope(s);
      queueIds = [await createQueue(s, scopeId), await createQueue(s, scopeId), await createQueue(s, scopeId)];
      for (const queueId of queueIds) {
        const is = Array.from({ length: 12 }, (_, i) => ({ queueId, body: { i, pad: "b".repeat(PAD) } }));
        await ok(s.gql(PUBLISH_BATCH, { is }));
        for (let i = 0; i < 4; i++) {
          const [m] = (await ok(s.gql(CLAIM, { i: { queueId } }))).claim;
          await ok(s.gql(COMPLETE, { i: { messageId: m.id, claimToken: m.claimToken, response: { pad: "r".repeat(PAD) } } }));
        }
      }
    });

    it("scope { queues { scope { queues … depth } } } nested to the depth limit with up to 30 aliases", async () => {
      const TAILS = ["depth { pending }", "id slug depth { pending claimed delayed }", "messageSchema { name schema }", "scope { id } depth { pending }"];
      const arb = fc.record({
        aliases: fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 1, max: 30 }) }, fc.integer({ min: 31, max: 36 })),
        nest: fc.integer({ min: 0, max: 6 }),
        tail: fc.constantFrom(...TAILS),
        fragment: fc.boolean(),
      });
      const outcomes: string[] = [];
      await fc.assert(
        fc.asyncProperty(arb, async (c) => {
          let inner = `queues { ${c.fragment ? "...Q" : c.tail} }`;
          for (let i = 0; i < c.nest; i++) inner = `queues { scope { ${inner} } }`;
          const roots = Array.from({ length: c.aliases }, (_, i) => `a${i}: scope(id: $id) { ${inner} }`).join(" ");
          const query = `query($id: ID!) { ${roots} }${c.fragment ? ` fragment Q on Queue { ${c.tail} }` : ""}`;
          const a = await ask(s, `${c.aliases} aliases, nested ${c.nest}`, viewKey, query, { id: scopeId }, BIG_QUERY_CODES);
          outcomes.push(a.codes[0] ?? "ok");
          if (!a.codes.length) expect(Object.keys(a.data), a.what).toHaveLength(c.aliases);
        }),
        settings(arb, 7301, 16, [
          { aliases: 30, nest: 1, tail: TAILS[1]!, fragment: false },
          { aliases: 30, nest: 4, tail: TAILS[0]!, fragment: true },
        ]),
      );
      expect(outcomes, "nothing was answered").toContain("ok");
      expect(outcomes, "nothing was refused").toContain("QUERY_TOO_COMPLEX");
    });

    it("messages(first: N) { edges { node { body response } } } with N up to 500 and up to 30 aliases", async () => {
      const FIELDS = ["body response", "id body", "body response labels hitlSpec", "response", "id state"];
      const arb = fc.record({
        aliases: fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 1, max: 30 }) }, fc.integer({ min: 31, max: 34 })),
        // a scope's 36 messages fit in a page of 36: small pages with many aliases are the largest answers the cost allows
        first: fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 1, max: 40 }) }, { weight: 3, arbitrary: fc.integer({ min: 1, max: 500 }) }, fc.constantFrom(0, -1, 501, 100_000)),
        fields: fc.constantFrom(...FIELDS),
        filter: fc.constantFrom("scope", "queue", "none"),
      });
      const outcomes: string[] = [];
      await fc.assert(
        fc.asyncProperty(arb, async (c) => {
          const filter = c.filter === "scope" ? `scopeId: "${scopeId}", ` : c.filter === "queue" ? `queueId: "${queueIds[0]}", ` : "";
          const roots = Array.from({ length: c.aliases }, (_, i) => `a${i}: messages(${filter}first: ${c.first}) { edges { node { ${c.fields} } } }`).join(" ");
          const a = await ask(s, `${c.aliases} × messages(first: ${c.first}) { ${c.fields} }`, viewKey, `{ ${roots} }`, undefined, BIG_QUERY_CODES);
          outcomes.push(a.codes[0] ?? "ok");
          if (!a.codes.length) {
            expect(Object.keys(a.data), a.what).toHaveLength(c.aliases);
            expect(a.data.a0.edges.length, a.what).toBeLessThanOrEqual(c.first);
          }
        }),
        settings(arb, 7302, 16, [
          { aliases: 4, first: 36, fields: FIELDS[0]!, filter: "scope" as const },
          { aliases: 30, first: 500, fields: FIELDS[4]!, filter: "scope" as const },
          { aliases: 1, first: 500, fields: FIELDS[2]!, filter: "none" as const },
        ]),
      );
      expect(outcomes, "nothing was answered").toContain("ok");
      expect(outcomes, "nothing was refused").toContain("QUERY_TOO_COMPLEX");
    });

    it("the largest answer the limits let through: 24 × messages(first: 40) { body response } (~31 MB)", async () => {
      // a queue of 40 completed messages, each with a 16 kB body and a 16 kB response: 24 aliases of a
      // page of 40 cost 11,544 (MAX_QUERY_COST 20,000) and answer just under MAX_RESPONSE_BYTES (32 MiB)
      const queueId = await createQueue(s, scopeId);
      await ok(s.gql(PUBLISH_BATCH, { is: Array.from({ length: 40 }, (_, i) => ({ queueId, body: { i, pad: "b".repeat(PAD) } })) }));
      const claimed = (await ok(s.gql(CLAIM, { i: { queueId, batchSize: 40 } }))).claim;
      const is = claimed.map((m: { id: string; claimToken: string }) => ({ messageId: m.id, claimToken: m.claimToken, response: { pad: "r".repeat(PAD) } }));
      await ok(s.gql(COMPLETE_BATCH, { is }));
      const roots = Array.from({ length: 24 }, (_, i) => `a${i}: messages(queueId: "${queueId}", first: 40) { edges { node { body response } } }`).join(" ");
      const a = await ask(s, "24 × messages(first: 40) { body response }", viewKey, `{ ${roots} }`, undefined, BIG_QUERY_CODES);
      if (!a.codes.length) expect(a.data.a23.edges, a.what).toHaveLength(40);
    });
  });

  describe("publish- and consume-only keys reading through nested fields", () => {
    let publishKey: string;
    let consumeKey: string;
    let queueId: string;
    let scopeId: string;

    beforeAll(async () => {
      publishKey = await s.newKey("default", ["scaiqueue:publish"]);
      consumeKey = await s.newKey("default", ["scaiqueue:consume"]);
      scopeId = await createScope(s);
      queueId = await createQueue(s, scopeId);
      const schema = { type: "object", properties: { n: { type: "integer" } } };
      await ok(s.gql(REGISTER, { s: scopeId, n: "secret-shape", v: "1", schema }));
      await ok(s.gql(BIND, { q: queueId, n: "secret-shape", v: "1" }));
      // pending messages: a claim that got through would take one
      await ok(s.gql(PUBLISH_BATCH, { is: [1, 2, 3].map((n) => ({ queueId, body: { n } })) }));
    });

    const REACHES = [
      "queue { id }",
      "queue { slug }",
      "queue { scope { queues { depth { pending } } } }",
      "queue { messageSchema { schema } }",
      "queue { depth { pending claimed delayed } }",
      "queue { scope { id slug } }",
    ];
    const arb = fc.record({
      root: fc.constantFrom("publish", "publishBatch", "claim", "publish+harmless"),
      reach: fc.constantFrom(...REACHES),
      harmless: fc.subarray(["id", "state", "body", "labels", "__typename", "attempts", "correlationId"]),
      wrap: fc.constantFrom("plain", "alias", "inline", "fragment", "nested fragment"),
      variables: fc.boolean(),
    });

    it("reaching the queue, its scope or its schema is AUTHZ_PERMISSION_DENIED, with no data and nothing written", async () => {
      await fc.assert(
        fc.asyncProperty(arb, async (c) => {
          const fragments: string[] = [];
          const reach =
            c.wrap === "plain" ? c.reach
            : c.wrap === "alias" ? `x: ${c.reach}`
            : c.wrap === "inline" ? `... on Message { ${c.reach} }`
            : c.wrap === "fragment" ? (fragments.push(`fragment F on Message { ${c.reach} }`), "...F")
            : (fragments.push(`fragment F on Message { ...G }`, `fragment G on Message { id ${c.reach} }`), "...F");
          const sel = `${c.harmless.join(" ")} ${reach}`;
          const input = c.variables ? "$i" : `{queueId: "${queueId}", body: {n: 1}}`;
          const claimInput = c.variables ? "$i" : `{queueId: "${queueId}"}`;
          const [field, key, varType] =
            c.root === "claim" ? [`claim(input: ${claimInput}) { ${sel} }`, consumeKey, "ClaimInput!"]
            : c.root === "publishBatch" ? [`publishBatch(inputs: [${input}]) { message { ${sel} } }`, publishKey, "PublishInput!"]
            : c.root === "publish" ? [`publish(input: ${input}) { duplicate message { ${sel} } }`, publishKey, "PublishInput!"]
            : [`ok: publish(input: ${input}) { duplicate } publish(input: ${input}) { message { ${sel} } }`, publishKey, "PublishInput!"];
          const query = `mutation${c.variables ? `($i: ${varType})` : ""} { ${field} } ${fragments.join(" ")}`;
          const variables = c.variables ? { i: c.root === "claim" ? { queueId } : { queueId, body: { n: 1 } } } : undefined;
          const { codes, seen, what } = await refused(query, postTo(s, key, query, variables));
          expect(codes, what).toEqual(["AUTHZ_PERMISSION_DENIED"]);
          expect(JSON.parse(seen.text).data ?? null, `it answered data: ${what}`).toBeNull();
        }),
        settings(arb, 7401, 20),
      );
    });

    it("the same keys still do their own work (the refusals above are about the nested reads)", async () => {
      const p = await s.gql(PUBLISH, { i: { queueId, body: { n: 9 } } }, publishKey);
      expect(p.errors, JSON.stringify(p.errors)).toBeUndefined();
      const c = await s.gql(CLAIM, { i: { queueId } }, consumeKey);
      expect(c.errors, JSON.stringify(c.errors)).toBeUndefined();
      expect(c.data.claim).toHaveLength(1);
    });
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
