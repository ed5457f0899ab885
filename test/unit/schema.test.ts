import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  buildSchema,
  isEnumType,
  isInputObjectType,
  isNonNullType,
  isObjectType,
  printSchema,
  type GraphQLArgument,
  type GraphQLInputField,
} from "graphql";
import { schema } from "../../src/schema/index.js";
import { printedSchema } from "../../scripts/print-schema.js";

const committed = readFileSync(new URL("../../schema.graphql", import.meta.url), "utf8");
const contract = buildSchema(readFileSync(new URL("../fixtures/contract-schema.graphql", import.meta.url), "utf8"));

const describeArg = (a: GraphQLArgument | GraphQLInputField) =>
  `${a.name}: ${a.type}${a.defaultValue === undefined ? "" : ` = ${JSON.stringify(a.defaultValue)}`}`;

describe("schema.graphql", () => {
  it("is the printed Pothos schema (run `npm run schema:print` after a change)", () => {
    expect(committed).toBe(printedSchema());
    expect(printSchema(schema).length).toBeGreaterThan(1000);
  });
});

describe("the contract's schema (spec/api-contract.md §4 and §6)", () => {
  const ours = schema.getTypeMap();
  const theirs = Object.values(contract.getTypeMap()).filter((t) => !t.name.startsWith("__"));

  it("has every contract type, field, argument and enum value, with the same types and defaults", () => {
    const problems: string[] = [];
    for (const t of theirs) {
      const mine = ours[t.name];
      if (!mine) {
        problems.push(`missing type ${t.name}`);
        continue;
      }
      if (isEnumType(t) && isEnumType(mine)) {
        expect(mine.getValues().map((v) => v.name), t.name).toEqual(t.getValues().map((v) => v.name));
      }
      if (isInputObjectType(t) && isInputObjectType(mine)) {
        for (const f of Object.values(t.getFields())) {
          const m = mine.getFields()[f.name];
          if (!m) problems.push(`missing input field ${t.name}.${f.name}`);
          else if (describeArg(m) !== describeArg(f)) problems.push(`${t.name}.${describeArg(m)} ≠ ${describeArg(f)}`);
        }
      }
      if (isObjectType(t) && isObjectType(mine)) {
        for (const f of Object.values(t.getFields())) {
          const m = mine.getFields()[f.name];
          const name = `${t.name}.${f.name}`;
          if (!m) {
            problems.push(`missing field ${name}`);
            continue;
          }
          if (String(m.type) !== String(f.type)) problems.push(`${name}: ${m.type} ≠ ${f.type}`);
          for (const a of f.args) {
            const mine = m.args.find((x) => x.name === a.name);
            if (!mine || describeArg(mine) !== describeArg(a)) problems.push(`${name}(${a.name}): ${mine ? describeArg(mine) : "missing"} ≠ ${describeArg(a)}`);
          }
          // the contract allows extra arguments, as long as a client may leave them out
          for (const extra of m.args.filter((x) => !f.args.some((a) => a.name === x.name))) {
            if (isNonNullType(extra.type) && extra.defaultValue === undefined) problems.push(`${name}(${extra.name}) is required`);
          }
        }
      }
    }
    expect(problems).toEqual([]);
  });
});
