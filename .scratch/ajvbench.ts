import { Ajv } from "ajv";
import { measureSchema, boundFor } from "/work/main/src/domain/schema-cost.ts";
const fan = (levels: number) => {
  const defs: Record<string, unknown> = {};
  for (let i = 0; i < levels; i++) defs[`d${i}`] = { anyOf: [{ $ref: `#/definitions/d${i + 1}` }, { $ref: `#/definitions/d${i + 1}` }] };
  defs[`d${levels}`] = { type: "string" };
  return { $ref: "#/definitions/d0", definitions: defs };
};
for (const allErrors of [false, true]) {
  const ajv = new Ajv({ allErrors, strict: true });
  for (const levels of [14, 16, 18, 20]) {
    const v = ajv.compile(fan(levels));
    const m = measureSchema(fan(levels), 1e12);
    const t = performance.now();
    v(1);
    console.log({ allErrors, levels, ms: +(performance.now() - t).toFixed(1), bound: boundFor(m.cost!, 1), errors: v.errors?.length });
  }
}
// wide shallow: array of N numbers against items with anyOf of K object alternatives
for (const K of [10, 50]) {
  const schema = { type: "array", items: { anyOf: Array.from({ length: K }, (_, i) => ({ type: "object", required: [`k${i}`], properties: { [`k${i}`]: { type: "string" } } })) } };
  const body = Array.from({ length: 130_000 }, () => 0);
  const ajv = new Ajv({ allErrors: false, strict: true });
  const v = ajv.compile(schema);
  const m = measureSchema(schema, 1e12);
  const t = performance.now();
  v(body);
  console.log({ K, ms: +(performance.now() - t).toFixed(1), bound: boundFor(m.cost!, body), perValue: m.cost!.perValue.slice(0, 3) });
}
// deep properties fan-out
{
  const schema: any = { $ref: "#/$defs/n", $defs: { n: { anyOf: [ { type: "object", properties: { a: { $ref: "#/$defs/n" } } }, { type: "object", properties: { a: { $ref: "#/$defs/n" } }, required: ["b"] } ] } } };
  let body: any = 1; for (let i = 0; i < 20; i++) body = { a: body };
  const ajv = new Ajv({ allErrors: false, strict: true });
  const v = ajv.compile(schema);
  const m = measureSchema(schema, 1e12);
  const t = performance.now();
  v(body);
  console.log({ deep: true, ms: +(performance.now() - t).toFixed(1), bound: boundFor(m.cost!, body), problems: m.problems });
}
