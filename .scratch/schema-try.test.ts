import { afterAll, beforeAll, expect, it } from "vitest";
import { ok, startTestServer, type TestServer } from "../test/support/server.js";
import { createQueue, createScope } from "../test/support/fixtures.js";
let s: TestServer;
beforeAll(async () => { s = await startTestServer(); });
afterAll(() => s?.stop());
const REG = `mutation($s: ID!, $n: String!, $v: String!, $sc: JSON!) { registerMessageSchema(scopeId: $s, name: $n, version: $v, schema: $sc) { id } }`;
const BIND = `mutation($q: ID!, $n: String!, $v: String!) { bindQueueSchema(queueId: $q, name: $n, version: $v) { id } }`;
const PUB = `mutation($i: PublishInput!) { publish(input: $i) { message { id } } }`;
const fan = (levels: number) => {
  const defs: Record<string, unknown> = {};
  for (let i = 0; i < levels; i++) defs[`d${i}`] = { anyOf: [{ $ref: `#/definitions/d${i + 1}` }, { $ref: `#/definitions/d${i + 1}` }] };
  defs[`d${levels}`] = { type: "string" };
  return { $ref: "#/definitions/d0", definitions: defs };
};
it("tries", async () => {
  const scope = await createScope(s);
  for (const [name, schema, body] of [
    ["fan24", fan(24), 1], ["fan16", fan(16), 1], ["redos", { type: "string", pattern: "^(a+)+$" }, "a".repeat(40) + "!"],
    ["deep", { $ref: "#/$defs/n", $defs: { n: { anyOf: [ { type: "object", properties: { a: { $ref: "#/$defs/n" } } }, { type: "object", properties: { a: { $ref: "#/$defs/n" } }, required: ["b"], } ] } } }, (() => { let b: any = 1; for (let i = 0; i < 22; i++) b = { a: b }; return b; })()],
  ] as const) {
    const q = await createQueue(s, scope);
    const r = await s.gql(REG, { s: scope, n: name, v: "1", sc: schema });
    console.log(name, "register", JSON.stringify(r.errors?.[0]?.extensions ?? r.data).slice(0, 300));
    if (r.errors) continue;
    await ok(s.gql(BIND, { q, n: name, v: "1" }));
    const t = Date.now();
    const p = await s.gql(PUB, { i: { queueId: q, body } });
    console.log(name, "publish", Date.now() - t, "ms", JSON.stringify(p.errors?.[0]?.extensions ?? p.data).slice(0, 300));
  }
});
