import { vi } from "vitest";
import { describe, expect, test } from "../support/test.js";
import { ok, code, suiteServer, uniq, type GqlResult, type TestServer } from "../support/server.js";
import { createQueue, createScope } from "../support/api.js";
import { CLAIM, COMPLETE, COMPLETE_BATCH, COMPLETED, CREATE_QUEUE, CREATE_SCOPE, DEPTH, PUBLISH, PUBLISH_BATCH, QUEUE, SNAPSHOT } from "../support/ops.js";

// a small message limit, so "too big" bodies and responses stay small; the depth and
// token limits are tried here apart from the cost limit (tenant-limits.api.test.ts)
test.override({ serverEnv: { MAX_MESSAGE_BYTES: "2048", MAX_QUERY_COST: "1000000" } });

let fx: { scopeId: string; queueId: string };
test.beforeAll(async ({ server: s }) => {
  const scopeId = await createScope(s);
  fx = { scopeId, queueId: await createQueue(s, scopeId) };
});

/** VALIDATION_ERROR whose details name exactly the bad field. */
function expectInvalid(r: GqlResult, field: string): void {
  expect(code(r), JSON.stringify(r.errors)).toBe("VALIDATION_ERROR");
  expect([...new Set(r.errors![0]!.extensions!.details!.map((d) => d.field))]).toEqual([field]);
}

const snapshot = (server: TestServer, scopeId = fx.scopeId) => ok(server.gql(SNAPSHOT, { s: scopeId }));

/** Runs a refused operation and checks that it wrote nothing. */
async function refused(s: TestServer, query: string, vars: Record<string, unknown>, field: string, scopeId = fx.scopeId): Promise<void> {
  const before = await snapshot(s, scopeId);
  expectInvalid(await s.gql(query, vars), field);
  expect(await snapshot(s, scopeId)).toEqual(before);
}

const long = (n: number) => "x".repeat(n);

describe("CreateScopeInput", () => {
  const scope = (i: Record<string, unknown>) => ({ i: { slug: `ok-${uniq()}`, displayName: "Fine", ...i } });
  test.for([
    ["the reserved _ prefix", { slug: "_mine" }, "input.slug"],
    ["an upper case slug", { slug: "Mine" }, "input.slug"],
    ["a slug starting with -", { slug: "-mine" }, "input.slug"],
    ["a slug with a space", { slug: "my scope" }, "input.slug"],
    ["an empty slug", { slug: "" }, "input.slug"],
    ["a 65-character slug", { slug: "a".repeat(65) }, "input.slug"],
    ["an empty displayName", { displayName: "" }, "input.displayName"],
    ["a blank displayName", { displayName: "   " }, "input.displayName"],
    ["a 201-character displayName", { displayName: long(201) }, "input.displayName"],
    ["a displayName with a control character", { displayName: "a\u0007b" }, "input.displayName"],
    ["a 2001-character description", { description: long(2001) }, "input.description"],
  ] as [string, Record<string, unknown>, string][])("refuses %s", ([, input, field], { server }) => refused(server, CREATE_SCOPE, scope(input), field));

  test("accepts the edges: a 64-character slug of digits, - and _, a 200-character displayName", async ({ server: s }) => {
    const slug = `0-${uniq(8)}_`.padEnd(64, "z");
    const made = (await ok(s.gql(CREATE_SCOPE, { i: { slug, displayName: long(200), description: long(2000) } }))).createScope;
    expect(made).toMatchObject({ slug, displayName: long(200) });
  });
});

describe("CreateQueueInput", () => {
  const queue = (i: Record<string, unknown>) => ({ i: { scopeId: fx.scopeId, slug: `q-${uniq()}`, displayName: "Q", ...i } });
  test.for([
    ["the system slug _dead_letter", { slug: "_dead_letter" }, "input.slug"],
    ["the reserved _ prefix", { slug: "_mine" }, "input.slug"],
    ["an upper case slug", { slug: "Tasks" }, "input.slug"],
    ["a 65-character slug", { slug: "q".repeat(65) }, "input.slug"],
    ["a blank displayName", { displayName: " \t " }, "input.displayName"],
    ["a 201-character displayName", { displayName: long(201) }, "input.displayName"],
    ["visibilityTimeoutS 0", { visibilityTimeoutS: 0 }, "input.visibilityTimeoutS"],
    ["visibilityTimeoutS 43201", { visibilityTimeoutS: 43201 }, "input.visibilityTimeoutS"],
    ["maxRetries -1", { maxRetries: -1 }, "input.maxRetries"],
    ["maxRetries 101", { maxRetries: 101 }, "input.maxRetries"],
    ["maxDepth 0", { maxDepth: 0 }, "input.maxDepth"],
  ] as [string, Record<string, unknown>, string][])("refuses %s", ([, input, field], { server }) => refused(server, CREATE_QUEUE, queue(input), field));

  test.for([
    [{ visibilityTimeoutS: 1, maxRetries: 0, maxDepth: 1 }],
    [{ visibilityTimeoutS: 43200, maxRetries: 100, maxDepth: 100_000_000 }],
  ])("accepts the edges %o", async ([edges], { server: s }) => {
    expect((await ok(s.gql(CREATE_QUEUE, queue(edges!)))).createQueue).toMatchObject(edges!);
  });
});

describe("ClaimInput", () => {
  let queueId: string;
  test.beforeAll(async ({ server: s }) => {
    queueId = await createQueue(s, fx.scopeId);
    await ok(s.gql(PUBLISH, { i: { queueId, body: { n: 1 } } }));
  });
  const claim = (i: Record<string, unknown>) => ({ i: { queueId, ...i } });

  test.for([
    ["batchSize 0", { batchSize: 0 }, "input.batchSize"],
    ["batchSize 101", { batchSize: 101 }, "input.batchSize"],
    ["visibilityTimeoutS 0", { visibilityTimeoutS: 0 }, "input.visibilityTimeoutS"],
    ["visibilityTimeoutS 43201", { visibilityTimeoutS: 43201 }, "input.visibilityTimeoutS"],
    ["a 201-character consumerId", { consumerId: long(201) }, "input.consumerId"],
    ["a consumerId with a newline", { consumerId: "worker\n1" }, "input.consumerId"],
    ["a 65-character consumerGroup", { consumerGroup: long(65) }, "input.consumerGroup"],
  ] as [string, Record<string, unknown>, string][])("refuses %s and claims nothing", ([, input, field], { server }) => refused(server, CLAIM, claim(input), field));

  test("accepts batchSize 100 with visibilityTimeoutS 43200", async ({ server: s }) => {
    const got = (await ok(s.gql(CLAIM, claim({ batchSize: 100, visibilityTimeoutS: 43200 })))).claim;
    expect(got).toMatchObject([{ state: "CLAIMED", attempts: 1 }]);
  });
});

describe("CompleteInput", () => {
  let queueId: string;
  let claimed: { id: string; claimToken: string }[];
  test.beforeAll(async ({ server: s }) => {
    queueId = await createQueue(s, fx.scopeId);
    await ok(s.gql(PUBLISH_BATCH, { is: [{ queueId, body: 1 }, { queueId, body: 2 }] }));
    claimed = (await ok(s.gql(CLAIM, { i: { queueId, batchSize: 2 } }))).claim;
  });
  const input = (i: Record<string, unknown> = {}) => ({ messageId: claimed[0]!.id, claimToken: claimed[0]!.claimToken, ...i });

  test.for([
    ["a 65-character claimToken", COMPLETE, () => ({ i: input({ claimToken: long(65) }) }), "input.claimToken"],
    ["a response over MAX_MESSAGE_BYTES", COMPLETE, () => ({ i: input({ response: { text: long(2100) } }) }), "input.response"],
    ["a completeBatch of no items", COMPLETE_BATCH, () => ({ is: [] }), "inputs"],
    ["a completeBatch naming a message twice", COMPLETE_BATCH, () => ({ is: [input(), input()] }), "inputs"],
    ["a bad item in a completeBatch", COMPLETE_BATCH, () => ({ is: [input(), { ...input(), claimToken: long(65) }] }), "inputs.1.claimToken"],
  ] as [string, string, () => Record<string, unknown>, string][])("refuses %s and completes nothing", ([, query, vars, field], { server }) => refused(server, query, vars(), field));

  // MariaDB refuses JSON nested deeper than 32 (CHECK JSON_VALID): the domain stops at 24, before writing.
  test("refuses a response nested 40 deep as VALIDATION_ERROR, and the claim stays completable", async ({ server: s }) => {
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = [deep];
    const { id, claimToken } = claimed[1]!;
    const before = await snapshot(s);
    expect(code(await s.gql(COMPLETE, { i: { messageId: id, claimToken, response: deep } }))).toBe("VALIDATION_ERROR");
    expect(await snapshot(s), "the claim is untouched (MariaDB and Redis depth)").toEqual(before);
    expect((await ok(s.gql(COMPLETE, { i: { messageId: id, claimToken } }))).complete.state).toBe("COMPLETED");
  });

  test("the refused message is still claimed and can be completed", async ({ server: s }) => {
    expect((await ok(s.gql(COMPLETE, { i: input({ response: { text: long(2000) } }) }))).complete.state).toBe("COMPLETED");
  });
});

describe("slug conflicts", () => {
  test("a duplicate scope slug answers SLUG_CONFLICT and writes nothing (no scope, no system queues)", async ({ server: s }) => {
    const slug = `dup-${uniq()}`;
    await ok(s.gql(CREATE_SCOPE, { i: { slug, displayName: "First" } }));
    const before = await snapshot(s);
    expect(code(await s.gql(CREATE_SCOPE, { i: { slug, displayName: "Second" } }))).toBe("SLUG_CONFLICT");
    expect(await snapshot(s)).toEqual(before);
  });

  test("a duplicate queue slug in one scope answers SLUG_CONFLICT; in another scope it is fine", async ({ server: s }) => {
    const slug = `dup-${uniq()}`;
    const queue = (scopeId: string) => ({ i: { scopeId, slug, displayName: "Q" } });
    await ok(s.gql(CREATE_QUEUE, queue(fx.scopeId)));
    const before = await snapshot(s);
    expect(code(await s.gql(CREATE_QUEUE, queue(fx.scopeId)))).toBe("SLUG_CONFLICT");
    expect(await snapshot(s)).toEqual(before);
    expect((await ok(s.gql(CREATE_QUEUE, queue(await createScope(s))))).createQueue.slug).toBe(slug);
  });
});

describe("GraphQL-level refusals answer VALIDATION_ERROR", () => {
  // scope → queues → scope … : n rounds are 2n + 2 levels deep
  const nested = (n: number) => {
    let sel = "id";
    for (let i = 0; i < n; i++) sel = `queues { scope { ${sel} } }`;
    return `query($s: ID!) { scope(id: $s) { id ${sel} } }`;
  };

  test("a query deeper than MAX_QUERY_DEPTH (12); depth 12 is fine", async ({ server: s }) => {
    const scopeId = await createScope(s); // only its 5 system queues, so the fan-out stays small
    expect((await ok(s.gql(nested(5), { s: scopeId }))).scope.id).toBe(scopeId);
    expect(code(await s.gql(nested(6), { s: scopeId }))).toBe("VALIDATION_ERROR");
  });

  test("more than MAX_QUERY_ALIASES (30) aliases; 30 are fine", async ({ server: s }) => {
    const aliased = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: scopes { id }`).join(" ")} }`;
    expect(Object.keys(await ok(s.gql(aliased(30))))).toHaveLength(30);
    expect(code(await s.gql(aliased(31)))).toBe("VALIDATION_ERROR");
  });

  test("more than MAX_QUERY_TOKENS (5000) tokens; 4800 are fine", async ({ server: s }) => {
    const spreads = (n: number) => `{ scopes { ${"...F ".repeat(n)} } } fragment F on Scope { id }`; // 2 tokens a spread
    expect((await ok(s.gql(spreads(2400)))).scopes.length).toBeGreaterThan(0);
    expect(code(await s.gql(spreads(2600)))).toBe("VALIDATION_ERROR");
  });

  test.for([
    ["an unknown field", `{ scopes { id nope } }`, {}],
    ["an unknown argument", `{ scopes(first: 1) { id } }`, {}],
    ["a syntax error", `{ scopes { id `, {}],
    ["a wrong variable type (ID given an object)", QUEUE, { id: { id: 1 } }],
    ["a wrong variable type (Int given a string)", CREATE_QUEUE, { i: { scopeId: "x", slug: "x", displayName: "x", maxRetries: "5" } }],
    ["a missing required variable", QUEUE, {}],
    ["a bad DateTime", PUBLISH, { i: { queueId: "x", body: 1, deadline: "tomorrow" } }],
    ["a wrong enum literal", `mutation { createQueue(input: { scopeId: "x", slug: "x", displayName: "x", ordering: RANDOM }) { id } }`, {}],
    ["a wrong enum variable (Ordering)", CREATE_QUEUE, { i: { scopeId: "x", slug: "x", displayName: "x", ordering: "RANDOM" } }],
    ["a wrong enum variable (ConsumerMode)", CREATE_QUEUE, { i: { scopeId: "x", slug: "x", displayName: "x", consumerMode: "SOLO" } }],
    ["a wrong enum variable (OverflowPolicy)", CREATE_QUEUE, { i: { scopeId: "x", slug: "x", displayName: "x", overflowPolicy: "DROP" } }],
    ["a wrong enum variable (PriorityTier)", PUBLISH, { i: { queueId: "x", body: 1, priorityTier: "URGENT" } }],
    ["a wrong enum argument (MessageState)", `{ messages(state: DONE) { edges { cursor } } }`, {}],
  ] as [string, string, Record<string, unknown>][])("%s", async ([, query, vars], { server: s }) => {
    const before = await snapshot(s);
    expect(code(await s.gql(query, vars))).toBe("VALIDATION_ERROR");
    expect(await snapshot(s)).toEqual(before);
  });
});

describe("request body over MAX_REQUEST_BYTES", () => {
  const smallServer = suiteServer({ MAX_REQUEST_BYTES: "4096" });

  test("answers HTTP 413 with VALIDATION_ERROR and writes nothing; a smaller request is served", async () => {
    const small = smallServer();
    const scopeId = await createScope(small);
    const queueId = await createQueue(small, scopeId);
    const before = await snapshot(small, scopeId);
    const big = await small.gql(PUBLISH, { i: { queueId, body: { text: long(5000) } } });
    expect(big.status).toBe(413);
    expect(code(big)).toBe("VALIDATION_ERROR");
    expect(await snapshot(small, scopeId)).toEqual(before);
    await ok(small.gql(PUBLISH, { i: { queueId, body: { text: long(3000) } } }));
    expect((await ok(small.gql(DEPTH, { q: queueId }))).queueDepth.pending).toBe(1);
  });
});

describe("internal faults", () => {
  test.for([
    ["a thrown error", (e: Error) => () => { throw e; }],
    ["a rejected promise", (e: Error) => () => Promise.reject(e)],
  ] as [string, (e: Error) => () => unknown][])("%s answers INTERNAL_SERVER_ERROR without internals", async ([, fault], { server: s }) => {
    // Inject a fault below the domain: the Redis depth script of this very server. (Not a
    // connection error: those make depth fall back to MariaDB, see redis-down.api.test.ts.)
    const secret = new Error("ERR script failed on 10.9.8.7:6379 at /srv/scaiqueue/src/redis/scripts.ts:42 WRONGTYPE");
    const spy = vi.spyOn(s.app.deps.scripts, "depth").mockImplementationOnce(fault(secret) as never);
    try {
      const r = await s.gql(DEPTH, { q: fx.queueId });
      expect(r.errors).toEqual([expect.objectContaining({ message: "Unexpected error.", extensions: { code: "INTERNAL_SERVER_ERROR" } })]);
      const text = JSON.stringify(r);
      for (const leak of ["WRONGTYPE", "10.9.8.7", "scripts.ts", "stack", "originalError"]) expect(text).not.toContain(leak);
    } finally {
      spy.mockRestore();
    }
    expect((await ok(s.gql(DEPTH, { q: fx.queueId }))).queueDepth).toEqual({ pending: 0, claimed: 0, delayed: 0 });
  });

  test("a subscription that fails answers INTERNAL_SERVER_ERROR over graphql-ws, and the server logs it with its request id", async ({ server: s }) => {
    // The waiter's catch-up read fails, as a connection MariaDB dropped would (an overload answers SCAIQUEUE_OVERLOADED instead, tenant-limits.api.test.ts).
    const secret = new Error("Connection lost: the server 10.9.8.7 closed the connection");
    const spy = vi.spyOn(s.app.deps.sql, "rows").mockImplementationOnce(() => Promise.reject(secret));
    const logged = vi.spyOn(s.app.deps.log, "error");
    const ws = s.wsClient();
    try {
      const errors = await new Promise((resolve) => {
        ws.subscribe(
          { query: COMPLETED, variables: { c: `fault-${uniq()}` } },
          { next: (r) => resolve(r.errors), error: resolve, complete: () => resolve("completed without an error") },
        );
      });
      expect(errors).toEqual([expect.objectContaining({ message: "Unexpected error.", extensions: { code: "INTERNAL_SERVER_ERROR" } })]);
      expect(JSON.stringify(errors)).not.toContain("10.9.8.7");
      expect(logged).toHaveBeenCalledWith(expect.objectContaining({ requestId: expect.any(String), err: secret }), "unexpected error");
    } finally {
      spy.mockRestore();
      logged.mockRestore();
      await ws.dispose();
    }
  });
});
