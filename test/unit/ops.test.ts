import { describe, expect, it } from "vitest";
import {
  GraphQLEnumType,
  GraphQLInputObjectType,
  GraphQLList,
  GraphQLNonNull,
  parse,
  typeFromAST,
  validate,
  type GraphQLInputType,
  type OperationDefinitionNode,
} from "graphql";
import { complexityFromQuery } from "@pothos/plugin-complexity";
import { schema } from "../../src/schema/index.js";
import { loadConfig } from "../../src/config.js";
import * as ops from "../support/ops.js";

/*
 * The shared documents of test/support/ops.ts, checked without a server: each parses and
 * is valid against the schema (so a schema change shows here first, by name), and costs
 * at most MAX_QUERY_COST with the largest variables a test may send: every page and
 * batch at the most the schema lets it ask for.
 */

const documents: [string, string][] = [
  ...Object.entries(ops as Record<string, unknown>).filter(
    (e): e is [string, string] => typeof e[1] === "string" && /^\s*(query|mutation|subscription|\{)/.test(e[1]),
  ),
  ...(["pause", "resume", "drain", "archive", "unarchive"] as const).flatMap((a) =>
    (["Scope", "Queue"] as const).map((k): [string, string] => [`CHANGE_STATE(${a}, ${k})`, ops.CHANGE_STATE(a, k)]),
  ),
];

const BATCH = 500;
const MOST = 1_000_000; // pages and batch sizes ask for more than they may: the schema takes its maximum

/** A value of `type` that coerces: required fields filled, lists a full batch, page sizes asked large. */
function largest(type: GraphQLInputType, name: string): unknown {
  if (type instanceof GraphQLNonNull) return largest(type.ofType, name);
  if (type instanceof GraphQLList) return Array.from({ length: BATCH }, (_, i) => largest(type.ofType, `${name}.${i}`));
  if (type instanceof GraphQLInputObjectType) {
    const fields = Object.values(type.getFields());
    return Object.fromEntries(
      fields
        .filter((f) => f.type instanceof GraphQLNonNull || f.name === "batchSize")
        .map((f) => [f.name, f.name === "messageId" ? `${name}-m` : largest(f.type, f.name)]),
    );
  }
  if (type instanceof GraphQLEnumType) return type.getValues()[0]!.value;
  switch (type.name) {
    case "Int":
      return MOST;
    case "Float":
      return 1;
    case "Boolean":
      return true;
    case "JSON":
      return {};
    case "DateTime":
      return new Date().toISOString();
    default:
      return "x";
  }
}

describe("test/support/ops.ts", () => {
  it("finds the documents", () => {
    expect(documents.map(([name]) => name)).toEqual(expect.arrayContaining(["PUBLISH", "CLAIM", "COMPLETE", "MESSAGES", "COMPLETED", "CHANGE_STATE(pause, Scope)"]));
  });

  it("holds documents that are valid against the schema", () => {
    const problems = documents.flatMap(([name, doc]) => validate(schema, parse(doc)).map((e) => `${name}: ${e.message}`));
    expect(problems).toEqual([]);
  });

  it("holds documents that cost at most MAX_QUERY_COST at the largest page and batch they may ask for", () => {
    const limit = loadConfig({}).limits.queryCost;
    const over: string[] = [];
    for (const [name, doc] of documents) {
      const document = parse(doc);
      const operation = document.definitions[0] as OperationDefinitionNode;
      const variables = Object.fromEntries(
        (operation.variableDefinitions ?? []).map((v) => [v.variable.name.value, largest(typeFromAST(schema, v.type as never) as GraphQLInputType, v.variable.name.value)]),
      );
      const cost = complexityFromQuery(document, { schema, variables, ctx: {} }).complexity;
      if (cost > limit) over.push(`${name} costs ${cost}`);
    }
    expect(over).toEqual([]);
  });
});
