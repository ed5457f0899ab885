import { describe, expect, test } from "../support/test.js";
import { ok, code, uniq, type GqlResult, type TestServer } from "../support/server.js";
import { createQueue, createScope } from "../support/api.js";
import { DEPTH, PUBLISH, PUBLISH_BATCH, SCOPE, SNAPSHOT } from "../support/ops.js";

// a small message limit, so "too big" bodies stay small
test.override({ serverEnv: { MAX_MESSAGE_BYTES: "2048" } });

let fx: { scopeId: string; queueId: string };
test.beforeAll(async ({ server: s }) => {
  const scopeId = await createScope(s);
  fx = { scopeId, queueId: await createQueue(s, scopeId) };
});

const fields = (r: GqlResult) => [...new Set(r.errors?.[0]?.extensions?.details?.map((d) => d.field))];
const long = (n: number) => "x".repeat(n);

const snapshot = (s: TestServer, scopeId = fx.scopeId) => ok(s.gql(SNAPSHOT, { s: scopeId }));

/** Runs a refused publish: VALIDATION_ERROR naming exactly `field`, and nothing written. */
async function refused(s: TestServer, query: string, vars: Record<string, unknown>, field: string): Promise<void> {
  const before = await snapshot(s);
  const r = await s.gql(query, vars);
  expect(code(r), JSON.stringify(r.errors)).toBe("VALIDATION_ERROR");
  expect(fields(r)).toEqual([field]);
  expect(await snapshot(s)).toEqual(before);
}

const msg = (extra: Record<string, unknown> = {}) => ({ queueId: fx.queueId, body: { n: 1 }, ...extra });
const labels = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));

describe("PublishInput", () => {
  test.for([
    ["a 129-character messageType", { messageType: long(129) }, "input.messageType"],
    ["a messageType with a NUL", { messageType: "task\u0000new" }, "input.messageType"],
    ["an empty messageType", { messageType: "" }, "input.messageType"],
    ["a contentType that is no media type", { contentType: "json" }, "input.contentType"],
    ["a contentType with a control character", { contentType: "text/plain; charset=\u0001" }, "input.contentType"],
    ["a 129-character contentType", { contentType: `text/${long(124)}` }, "input.contentType"],
    ["labels that are a string", { labels: "premium" }, "input.labels"],
    ["labels that are an array", { labels: ["premium"] }, "input.labels"],
    ["65 labels", { labels: labels(65) }, "input.labels"],
    ["a label key with a space", { labels: { "customer tier": "gold" } }, "input.labels"],
    ["a 65-character label key", { labels: { [long(65)]: 1 } }, "input.labels"],
    ["a 257-character label value", { labels: { tier: long(257) } }, "input.labels.tier"],
    ["a label value that is an object", { labels: { tier: { name: "gold" } } }, "input.labels.tier"],
    ["priorityScore -1", { priorityScore: -1 }, "input.priorityScore"],
    ["priorityScore 1001", { priorityScore: 1001 }, "input.priorityScore"],
    ["a 129-character correlationId", { correlationId: long(129) }, "input.correlationId"],
    ["a correlationId with a control character", { correlationId: "order\u001f42" }, "input.correlationId"],
    ["a 129-character causationId", { causationId: long(129) }, "input.causationId"],
    ["a 256-character idempotencyKey", { idempotencyKey: long(256) }, "input.idempotencyKey"],
    ["an idempotencyKey with DEL", { idempotencyKey: "key\u007f" }, "input.idempotencyKey"],
    ["a parentId that is not a uuid", { parentId: "not-a-uuid" }, "input.parentId"],
    ["ttlSeconds 0", { ttlSeconds: 0 }, "input.ttlSeconds"],
    ["ttlSeconds over a year", { ttlSeconds: 365 * 24 * 3600 + 1 }, "input.ttlSeconds"],
    ["a hitlSpec that is a string", { hitlSpec: "review" }, "input.hitlSpec"],
    ["a hitlSpec that is an array", { hitlSpec: [{ type: "decision" }] }, "input.hitlSpec"],
    ["a body over MAX_MESSAGE_BYTES (2048)", { body: { text: long(2100) } }, "input.body"],
  ] as const)("refuses %s", ([, extra, field], { server }) => refused(server, PUBLISH, { i: msg(extra) }, field));

  test("accepts the edges and stores them as given", async ({ server: s }) => {
    const edges = {
      messageType: long(128),
      contentType: "text/plain; charset=utf-8",
      labels: { ...labels(63), [long(64)]: long(256) },
      priorityScore: 1000,
      correlationId: long(128),
      idempotencyKey: `${uniq()}`.padEnd(255, "k"),
      ttlSeconds: 365 * 24 * 3600,
      hitlSpec: { sections: [{ type: "decision", field: "decision", options: ["ok"] }], timeoutS: 365 * 24 * 3600 },
      body: { text: long(2000) }, // its JSON text is just under 2048 bytes
    };
    expect((await ok(s.gql(PUBLISH, { i: msg(edges) }))).publish.message).toMatchObject(edges);
    const low = (await ok(s.gql(PUBLISH, { i: msg({ priorityScore: 0, ttlSeconds: 1 }) }))).publish.message;
    expect(low).toMatchObject({ priorityScore: 0, ttlSeconds: 1 });
  });

  // MariaDB's JSON_VALID check refuses nesting deeper than 32: the domain stops at 24, before writing.
  test("refuses a body nested 40 deep as VALIDATION_ERROR", async ({ server: s }) => {
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = [deep];
    const before = await snapshot(s);
    expect(code(await s.gql(PUBLISH, { i: msg({ body: deep }) }))).toBe("VALIDATION_ERROR");
    expect(await snapshot(s)).toEqual(before);
  });

  // DATETIME(3) holds years 1000-9999: year 0001 would be read back as 2001, so it is refused.
  test("does not silently change a deadline it cannot store", async ({ server: s }) => {
    const before = await snapshot(s);
    expect(code(await s.gql(PUBLISH, { i: msg({ deadline: "0001-01-01T00:00:00.000Z" }) }))).toBe("VALIDATION_ERROR");
    expect(await snapshot(s)).toEqual(before);
  });
});

describe("publishBatch", () => {
  test.for([
    ["no items", 0],
    ["501 items", 501],
  ] as const)("refuses %s", ([, n], { server }) => refused(server, PUBLISH_BATCH, { is: Array.from({ length: n }, () => msg()) }, "inputs"));

  test("one bad item among valid ones writes none of them", async ({ server: s }) => {
    const is = [0, 1, 2, 3, 4].map((i) => msg({ priorityScore: i === 3 ? 1001 : i }));
    await refused(s, PUBLISH_BATCH, { is }, "inputs.3.priorityScore");
  });

  test("names every bad item at once", async ({ server: s }) => {
    const is = [msg(), msg({ labels: "x" }), msg(), msg({ ttlSeconds: 0 })];
    const r = await s.gql(PUBLISH_BATCH, { is });
    expect(code(r)).toBe("VALIDATION_ERROR");
    expect(fields(r)).toEqual(["inputs.1.labels", "inputs.3.ttlSeconds"]);
  });

  test("accepts 500 items", async ({ server: s }) => {
    const scopeId = await createScope(s);
    const queueId = await createQueue(s, scopeId);
    const is = Array.from({ length: 500 }, (_, n) => ({ queueId, body: { n } }));
    expect((await ok(s.gql(PUBLISH_BATCH, { is }))).publishBatch).toHaveLength(500);
    expect((await ok(s.gql(DEPTH, { q: queueId }))).queueDepth.pending).toBe(500);
  });
});

describe("system queues", () => {
  let system: Record<string, string>;
  test.beforeAll(async ({ server: s }) => {
    const r = await ok(s.gql(SCOPE, { id: fx.scopeId }));
    system = Object.fromEntries(r.scope.queues.filter((q: any) => q.system).map((q: any) => [q.slug, q.id]));
  });

  // The last expectation of each fails today: the detail says "queueId", without the
  // argument prefix the other details carry, and without the batch item's index.
  test("publish into _dead_letter is refused with VALIDATION_ERROR", async ({ server: s }) => {
    const before = await snapshot(s);
    const r = await s.gql(PUBLISH, { i: { queueId: system._dead_letter, body: { n: 1 } } });
    expect(code(r)).toBe("VALIDATION_ERROR");
    expect(await snapshot(s)).toEqual(before);
    expect(fields(r)).toEqual(["input.queueId"]);
  });

  test("a batch with one item for _events writes none of them", async ({ server: s }) => {
    const before = await snapshot(s);
    const r = await s.gql(PUBLISH_BATCH, { is: [msg(), { queueId: system._events, body: { n: 2 } }] });
    expect(code(r)).toBe("VALIDATION_ERROR");
    expect(await snapshot(s)).toEqual(before);
    expect(fields(r)).toEqual(["inputs.1.queueId"]);
  });
});
