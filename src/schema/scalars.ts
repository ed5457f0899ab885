import { GraphQLError, Kind, valueFromASTUntyped } from "graphql";
import { builder } from "./builder.js";

builder.scalarType("JSON", {
  description: "Any JSON value.",
  serialize: (v) => v,
  parseValue: (v) => v,
  parseLiteral: (ast, vars) => valueFromASTUntyped(ast, vars),
});

const ISO_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

function parseDate(v: unknown): Date {
  const d = typeof v === "string" && ISO_RE.test(v) ? new Date(v) : null;
  if (!d || Number.isNaN(d.getTime())) {
    throw new GraphQLError("DateTime must be an ISO 8601 date-time with a zone, e.g. 2026-01-31T12:00:00Z");
  }
  return d;
}

builder.scalarType("DateTime", {
  description: "An ISO 8601 date-time in UTC, e.g. 2026-01-31T12:00:00.000Z.",
  serialize: (v) => (v instanceof Date ? v : new Date(v)).toISOString(),
  parseValue: parseDate,
  parseLiteral: (ast) => parseDate(ast.kind === Kind.STRING ? ast.value : null),
});
