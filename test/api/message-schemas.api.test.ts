import { describe, expect, test } from "../support/test.js";
import { adminKeyId, createQueue, createScope, stateCounts, systemQueue } from "../support/api.js";
import { AUDIT_LOG, BIND_SCHEMA as BIND, CLAIM, MESSAGE_SCHEMAS, PUBLISH, PUBLISH_BATCH, REGISTER_SCHEMA as REGISTER } from "../support/ops.js";

const ORDER_V1 = {
  type: "object",
  required: ["sku", "qty"],
  properties: {
    sku: { type: "string", pattern: "^[A-Z]-\\d+$" },
    qty: { type: "integer", minimum: 1 },
    items: { type: "array", items: { type: "object", required: ["price"], properties: { price: { type: "number", minimum: 0 } } } },
    email: { type: "string", format: "email" },
  },
  additionalProperties: false,
};
// v2 drops the qty requirement and allows a note
const ORDER_V2 = { ...ORDER_V1, required: ["sku"], properties: { ...ORDER_V1.properties, note: { type: "string" } } };

describe("message schemas", () => {
  let scopeId: string;
  let queueId: string;

  test.beforeAll(async ({ server: s }) => {
    scopeId = await createScope(s);
    queueId = await createQueue(s, scopeId);
    const r = await s.gql(REGISTER, { s: scopeId, n: "order", v: "1.0", schema: ORDER_V1 });
    expect(r.errors).toBeUndefined();
    expect(r.data.registerMessageSchema).toMatchObject({ name: "order", version: "1.0", scope: { id: scopeId } });
    const b = await s.gql(BIND, { q: queueId, n: "order", v: "1.0" });
    expect(b.data.bindQueueSchema.messageSchema).toEqual({ name: "order", version: "1.0" });
  });

  test("accepts a conforming body", async ({ server: s }) => {
    const r = await s.gql(PUBLISH, { i: { queueId, body: { sku: "A-1", qty: 2, items: [{ price: 3.5 }], email: "a@example.com" } } });
    expect(r.errors).toBeUndefined();
    expect(r.data.publish.message.state).toBe("PENDING");
  });

  test("refuses a non-conforming body with VALIDATION_ERROR naming each failing path, and writes nothing", async ({ server: s }) => {
    const before = await stateCounts(s, queueId);
    const r = await s.gql(PUBLISH, { i: { queueId, body: { sku: "a1", items: [{ price: 1 }, { price: -2 }, {}], email: "nope", extra: true } } });
    expect(r.errors?.[0]?.extensions?.code).toBe("VALIDATION_ERROR");
    const fields = r.errors![0]!.extensions!.details!.map((d) => d.field).sort();
    expect(fields).toEqual(
      ["input.body", "input.body.email", "input.body.items[1].price", "input.body.items[2].price", "input.body.qty", "input.body.sku"].sort(),
    );
    const byField = Object.fromEntries(r.errors![0]!.extensions!.details!.map((d) => [d.field, d.message]));
    expect(byField["input.body.qty"]).toMatch(/required/);
    expect(byField["input.body"]).toMatch(/additional/);
    expect(await stateCounts(s, queueId)).toEqual(before);
  });

  test("checks every item of a batch and names it; one bad item writes none", async ({ server: s }) => {
    const before = await stateCounts(s, queueId);
    const r = await s.gql(PUBLISH_BATCH, { is: [{ queueId, body: { sku: "B-1", qty: 1 } }, { queueId, body: { sku: "B-2", qty: 0 } }] });
    expect(r.errors?.[0]?.extensions?.code).toBe("VALIDATION_ERROR");
    expect(r.errors![0]!.extensions!.details!.map((d) => d.field)).toEqual(["inputs.1.body.qty"]);
    expect(await stateCounts(s, queueId)).toEqual(before);
  });

  test("binds a new version without touching messages already queued", async ({ server: s }) => {
    const q = await createQueue(s, scopeId);
    await s.gql(BIND, { q, n: "order", v: "1.0" });
    const old = await s.gql(PUBLISH, { i: { queueId: q, body: { sku: "C-1", qty: 1 } } });
    expect(old.errors).toBeUndefined();
    expect((await s.gql(REGISTER, { s: scopeId, n: "order", v: "2.0", schema: ORDER_V2 })).errors).toBeUndefined();
    const b = await s.gql(BIND, { q, n: "order", v: "2.0" });
    expect(b.data.bindQueueSchema.messageSchema).toEqual({ name: "order", version: "2.0" });
    // v2 accepts what v1 refused (no qty, a note), and refuses what both refuse
    expect((await s.gql(PUBLISH, { i: { queueId: q, body: { sku: "C-2", note: "no qty" } } })).errors).toBeUndefined();
    expect((await s.gql(PUBLISH, { i: { queueId: q, body: { qty: 1 } } })).errors?.[0]?.extensions?.details?.[0]?.field).toBe("input.body.sku");
    // the message queued under v1 is untouched and claimable as it was
    const claimed = (await s.gql(CLAIM, { i: { queueId: q, batchSize: 10 } })).data.claim;
    expect(claimed.map((m: any) => m.body)).toEqual([{ sku: "C-1", qty: 1 }, { sku: "C-2", note: "no qty" }]);
  });

  test("versions never change: the same schema again is a no-op, another one is refused", async ({ server: s }) => {
    const again = await s.gql(REGISTER, { s: scopeId, n: "order", v: "1.0", schema: ORDER_V1 });
    expect(again.errors).toBeUndefined();
    const changed = await s.gql(REGISTER, { s: scopeId, n: "order", v: "1.0", schema: ORDER_V2 });
    expect(changed.errors?.[0]?.extensions?.code).toBe("VALIDATION_ERROR");
    expect(changed.errors![0]!.extensions!.details![0]!.field).toBe("version");
    const list = await s.gql(MESSAGE_SCHEMAS, { s: scopeId });
    expect(list.data.messageSchemas.map((m: any) => `${m.name}@${m.version}`)).toEqual(["order@1.0", "order@2.0"]);
    expect(list.data.messageSchemas[0].schema).toEqual(ORDER_V1);
  });

  test("refuses what is not a usable schema, unknown versions, and system queues", async ({ server: s }) => {
    const bad = await s.gql(REGISTER, { s: scopeId, n: "broken", v: "1", schema: { type: "object", properties: { a: { type: "strnig" } } } });
    expect(bad.errors?.[0]?.extensions?.code).toBe("VALIDATION_ERROR");
    expect(bad.errors![0]!.extensions!.details![0]!.field).toBe("schema");
    const typo = await s.gql(REGISTER, { s: scopeId, n: "typo", v: "1", schema: { type: "object", requird: ["a"] } });
    expect(typo.errors?.[0]?.extensions?.code).toBe("VALIDATION_ERROR");
    const name = await s.gql(REGISTER, { s: scopeId, n: "bad name!", v: "1", schema: { type: "object" } });
    expect(name.errors![0]!.extensions!.details![0]!.field).toBe("name");
    const unknown = await s.gql(BIND, { q: queueId, n: "order", v: "9.9" });
    expect(unknown.errors?.[0]?.extensions?.code).toBe("VALIDATION_ERROR");
    const dl = await systemQueue(s, scopeId, "_dead_letter");
    expect((await s.gql(BIND, { q: dl, n: "order", v: "1.0" })).errors?.[0]?.extensions?.code).toBe("VALIDATION_ERROR");
    const other = await s.newKey("another-tenant");
    expect((await s.gql(BIND, { q: queueId, n: "order", v: "1.0" }, other)).errors?.[0]?.extensions?.code).toBe("SCAIQUEUE_QUEUE_NOT_FOUND");
    const viewer = await s.newKey("default", ["scaiqueue:view"]);
    expect((await s.gql(REGISTER, { s: scopeId, n: "x", v: "1", schema: {} }, viewer)).errors?.[0]?.extensions?.code).toBe("AUTHZ_PERMISSION_DENIED");
  });

  test("left an audit entry for every successful mutation above, by the admin key", async ({ server: s }) => {
    const adminKey = await adminKeyId(s);
    const audit = (await s.gql(AUDIT_LOG, { s: scopeId, first: 1000 })).data.auditLog;
    const count = (action: string) => audit.filter((e: { action: string }) => e.action === action).length;
    // registrations: order 1.0 (twice: the no-op repeat is a success too) and 2.0; binds: three
    expect([count("registerMessageSchema"), count("bindQueueSchema"), count("createQueue")]).toEqual([3, 3, 2]);
    expect(count("publish")).toBe(3);
    expect(new Set(audit.map((e: { actor: string }) => e.actor))).toEqual(new Set([adminKey]));
    expect(audit.filter((e: { action: string }) => e.action === "bindQueueSchema").every((e: { queueId: string | null }) => e.queueId)).toBe(true);
  });
});
