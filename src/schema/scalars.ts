import { GraphQLError, Kind, valueFromASTUntyped } from "graphql";
import { builder } from "./builder.js";

builder.scalarType("JSON", {
  description: "Any JSON value.",
  serialize: (v) => v,
  parseValue: (v) => v,
  parseLiteral: (ast, vars) => valueFromASTUntyped(ast, vars),
});

const ISO_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):(\d{2}))$/;

/**
 * Every part must name a real instant: Date would roll 2030-02-30 over to March 2 and
 * 24:00 to the next day, so what is stored would not be what was sent.
 */
function realDateTime(m: RegExpExecArray): boolean {
  const [year, month, day, hour, minute, second = 0, offsetH = 0, offsetM = 0] = m.slice(1).map((x) => (x === undefined ? undefined : Number(x))) as number[];
  const daysInMonth = new Date(Date.UTC(year!, month!, 0)).getUTCDate();
  return month! >= 1 && month! <= 12 && day! >= 1 && day! <= daysInMonth && hour! <= 23 && minute! <= 59 && second <= 59 && offsetH <= 23 && offsetM <= 59;
}

function parseDate(v: unknown): Date {
  const m = typeof v === "string" ? ISO_RE.exec(v) : null;
  const d = m && realDateTime(m) ? new Date(v as string) : null;
  if (!d || Number.isNaN(d.getTime())) {
    throw new GraphQLError("DateTime must be an ISO 8601 date-time with a zone that names a real instant, e.g. 2026-01-31T12:00:00Z");
  }
  return d;
}

builder.scalarType("DateTime", {
  description: "An ISO 8601 date-time in UTC, e.g. 2026-01-31T12:00:00.000Z.",
  serialize: (v) => (v instanceof Date ? v : new Date(v)).toISOString(),
  parseValue: parseDate,
  parseLiteral: (ast) => parseDate(ast.kind === Kind.STRING ? ast.value : null),
});
