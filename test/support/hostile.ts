import fc from "fast-check";
import {
  Kind,
  getNamedType,
  isEnumType,
  isInputObjectType,
  isLeafType,
  isListType,
  isNonNullType,
  isObjectType,
  isInterfaceType,
  print,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLOutputType,
  type ValueNode,
} from "graphql";

/**
 * Generators of hostile GraphQL operations, driven by the schema itself: a mutation
 * added to src/schema is covered without a line here. Every leaf draws mostly from
 * values of the right GraphQL type (so the operation reaches our own validation and the
 * domain) and now and then from values of a wrong type (refused by GraphQL itself).
 */

/**
 * Ids the generators hand to ID fields: mostly one of the kind the field names (its own
 * name, or the mutation's for a bare `id`), else any; and strings they may pass where a
 * token or name fits.
 */
export type IdPools = { byKind: Record<IdKind, string[]>; ids: string[]; strings: string[] };
export type IdKind = "scope" | "queue" | "message" | "apiKey";
const KINDS: [IdKind, RegExp][] = [["message", /message|parent/i], ["queue", /queue/i], ["scope", /scope/i], ["apiKey", /apikey/i]];

/** `path` is mutation.argument[.field…]: "pauseQueue.id", "publish.input.queueId". */
function idsFor(path: string, pools: IdPools): fc.Arbitrary<string> {
  const parts = path.split(".");
  const subject = parts.at(-1) === "id" ? parts[0]! : parts.at(-1)!;
  const kind = KINDS.find(([, re]) => re.test(subject))?.[0];
  const any = fc.constantFrom(...pools.ids);
  return kind && pools.byKind[kind].length ? rarely(fc.constantFrom(...pools.byKind[kind]), any, 3) : any;
}

/** `arb` with one chance in `odds` of `other` instead. */
const rarely = <T, U>(arb: fc.Arbitrary<T>, other: fc.Arbitrary<U>, odds: number): fc.Arbitrary<T | U> =>
  fc.oneof({ weight: odds - 1, arbitrary: arb }, { weight: 1, arbitrary: other });

/** "hostile": mostly the right type with hostile content; "foreign": the right type, sensible content, every id another tenant's. */
export type Mode = "hostile" | "foreign";

const deep = (levels: number, leaf: unknown = 1): unknown => {
  let v = leaf;
  for (let i = 0; i < levels; i++) v = i % 2 ? { n: v } : [v];
  return v;
};

const INJECTION = [
  "' OR '1'='1",
  "1; DROP TABLE messages; --",
  "\"; DELETE FROM scopes WHERE 1=1; --",
  "\\' UNION SELECT secretHash FROM api_keys -- ",
  "]] redis.call('FLUSHALL') --[[",
  "\"); redis.call('del', KEYS[1]); --",
  '{"$gt": ""}',
  '{"__proto__": {"admin": true}}',
  "../../../../etc/passwd",
  "..\\..\\..\\windows\\win.ini",
  "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
  "${jndi:ldap://127.0.0.1/x}",
  "{{7*7}}",
  "<script>alert(1)</script>",
  '") { id } } mutation { createScope(input: {slug: "pwned", displayName: "x"}) { id } } #',
  "query { __schema { types { name } } }",
  "*",
  "%s%s%s%n",
];
const UNICODE = [
  "é", "ＡＢＣ", "𝕊𝕝𝕦𝕘", "😀😀", "a\u0301", "\u202Eevil", "\u200B", "\uFEFFbom", "\uD800", "\uDFFF", "ı", "ß", "ǅ",
  "\u0000", "a\u0000b", "\n", "line\r\nbreak", "\t", "\u0007", "\u001b[31mred", "\u007f", "\u0085", "\u2028",
];
const AWKWARD = ["", " ", "   ", "-", "_", "_dead_letter", "A", "UPPER", "a".repeat(64), "a".repeat(65), "x".repeat(129), "x".repeat(256), "x".repeat(4001)];
const HUGE = ["h".repeat(100_000), "é".repeat(70_000)];
const PLAUSIBLE = [
  "ok", "task.new", "application/json", "text/plain; charset=utf-8", "worker-1", "g1", "corr-1", "1.0.0", "v1",
  "approve", "reject", "scaiqueue:view", "scaiqueue:publish", "scaiqueue:consume", "scaiqueue:manage", "retry later",
];

const INT_OK = [0, 1, 2, 5, 30, 100, 500, 1000];
const INT_EDGE = [-1, -2147483648, 101, 501, 1001, 43200, 43201, 86400, 31536001, 100000001, 2147483647];
/** Not a GraphQL Int at all: refused before our code runs. */
const NOT_INT = [2147483648, -2147483649, 9007199254740993, 1e308, -1e308, 1.5, 5e-324];

const DATES_OK = ["2030-01-01T00:00:00Z", "2020-06-01T12:00:00.000Z", new Date(Date.now() + 3_600_000).toISOString()];
const DATES_BAD = [
  "0999-12-31T23:59:59Z", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z", "10000-01-01T00:00:00Z", "+275760-09-13T00:00:00Z",
  "2026-02-30T00:00:00Z", "2026-13-01T00:00:00Z", "2026-01-01", "2026-01-01T00:00:00", "yesterday", "", "1970-01-01T00:00:00+99:99",
];

const JSON_OK: unknown[] = [{}, { task: "summarize" }, { n: 1, list: [1, 2, 3], nested: { ok: true } }, "text", 42, true, [1, "two"]];
const JSON_BAD: unknown[] = [
  null, deep(23), deep(25), deep(40), deep(3000),
  { big: "b".repeat(40_000) },
  Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`k${i}`, i])),
  Array.from({ length: 20_000 }, (_, i) => i),
  JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}}'),
  { "a\u0000b": "\u0000", "😀": "\uD800", "": "", "..": "../../etc" },
  { $where: "sleep(1000)", $gt: "" },
  { env: "prod", n: 1, flag: false, nested: { no: "objects" } },
  Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`l${i}`, "v"])),
  { ["k".repeat(65)]: "v", "bad key": "v", "x": "v".repeat(257) },
  1e308, -0, "", [],
];

/** Any value at all: what a client sends where it should have sent something else. */
const junk = (pools: IdPools): fc.Arbitrary<unknown> =>
  fc.oneof(
    fc.constantFrom<unknown>(...NOT_INT, ...INT_EDGE, ...AWKWARD.slice(0, 6), ...INJECTION.slice(0, 4), true, false, null),
    fc.constantFrom<unknown>(...JSON_OK, ...JSON_BAD.slice(0, 4)),
    fc.constantFrom(...pools.ids),
    fc.string({ unit: "binary", maxLength: 30 }),
  );

function stringOf(pools: IdPools, mode: Mode): fc.Arbitrary<unknown> {
  const plausible = fc.oneof(
    fc.constantFrom(...PLAUSIBLE, ...pools.strings),
    fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,20}$/),
  );
  if (mode === "foreign") return plausible;
  return fc.oneof(
    { weight: 6, arbitrary: plausible },
    { weight: 2, arbitrary: fc.constantFrom(...INJECTION, ...UNICODE, ...AWKWARD) },
    { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 80 }) },
    { weight: 1, arbitrary: fc.constantFrom(...HUGE) },
  );
}

function leafOf(type: GraphQLInputType, path: string, pools: IdPools, mode: Mode): fc.Arbitrary<unknown> {
  const named = getNamedType(type);
  const hostile = mode === "hostile";
  if (isEnumType(named)) {
    const values = named.getValues().map((v) => v.name);
    return hostile
      ? fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...values) }, { weight: 1, arbitrary: fc.constantFrom("UNKNOWN", values[0]!.toLowerCase(), "", "null") })
      : fc.constantFrom(...values);
  }
  switch (named.name) {
    case "ID":
      return idsFor(path, pools);
    case "Int":
    case "Float":
      return hostile
        ? fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...INT_OK) }, { weight: 2, arbitrary: fc.constantFrom(...INT_EDGE) }, { weight: 1, arbitrary: fc.integer({ min: -2147483648, max: 2147483647 }) })
        : fc.constantFrom(...INT_OK);
    case "Boolean":
      return fc.boolean();
    case "DateTime":
      return hostile ? fc.oneof({ weight: 2, arbitrary: fc.constantFrom(...DATES_OK) }, { weight: 1, arbitrary: fc.constantFrom(...DATES_BAD) }) : fc.constantFrom(...DATES_OK);
    case "String":
      return stringOf(pools, mode);
    default: // JSON, and any scalar added later: any JSON value
      if (/(^|\.)id$|Id$/.test(path)) return idsFor(path, pools);
      return hostile ? fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...JSON_OK) }, { weight: 2, arbitrary: fc.constantFrom(...JSON_BAD) }) : fc.constantFrom(...JSON_OK);
  }
}

/** Marks a field left out of an input object. */
const OMIT = Symbol("omit");

/** A value for `type`: right-typed mostly; in hostile mode, now and then wrong, null or missing. */
export function valueOf(type: GraphQLInputType, path: string, pools: IdPools, mode: Mode, depth = 0): fc.Arbitrary<unknown> {
  const hostile = mode === "hostile";
  const wrongNow = (arb: fc.Arbitrary<unknown>) => (hostile ? rarely(arb, junk(pools), 30) : arb);
  if (isNonNullType(type)) {
    const inner = valueOf(type.ofType, path, pools, mode, depth);
    return hostile ? rarely(inner, fc.constant(null), 40) : inner;
  }
  if (isListType(type)) {
    const item = valueOf(type.ofType, path, pools, mode, depth + 1);
    if (!hostile) return fc.array(item, { minLength: 1, maxLength: 3 });
    return fc.oneof(
      { weight: 8, arbitrary: fc.array(item, { maxLength: 3 }) },
      { weight: 1, arbitrary: item }, // one value where a list goes (GraphQL makes it a list)
      { weight: 1, arbitrary: item.map((v) => Array.from({ length: 501 }, () => v)) }, // past every batch bound
    );
  }
  if (isInputObjectType(type)) {
    if (depth > 4) return fc.constant(null);
    const fields = Object.values(type.getFields());
    const record: Record<string, fc.Arbitrary<unknown>> = {};
    for (const f of fields) {
      const required = isNonNullType(f.type) && f.defaultValue === undefined;
      const value = valueOf(f.type, `${path}.${f.name}`, pools, mode, depth + 1);
      // hostile: a required field is left out now and then, an optional one half the time;
      // foreign: every field is there, so every id in the input is the other tenant's
      record[f.name] = hostile ? rarely(value, fc.constant(OMIT), required ? 40 : 2) : value;
    }
    const extra = hostile ? rarely(fc.constant({}), fc.record({ notAField: junk(pools) }), 20) : fc.constant({});
    return wrongNow(
      fc.tuple(fc.record(record), extra).map(([r, x]) => ({
        ...Object.fromEntries(Object.entries(r).filter(([, v]) => v !== OMIT)),
        ...x,
      })),
    );
  }
  return wrongNow(leafOf(type, path, pools, mode));
}

/** How a generated operation reaches the service. */
export type Operation = { mutation: string; body: string; key: "admin" | "none" | "bogus" };

/** Whether `v` nests deeper than `limit`: such values go as variables (printing them would overflow our own stack). */
function deeperThan(v: unknown, limit: number): boolean {
  if (v === null || typeof v !== "object") return false;
  if (limit === 0) return true;
  return (Array.isArray(v) ? v : Object.values(v)).some((x) => deeperThan(x, limit - 1));
}

/** A literal for `value` in a document (enum names bare when `type` is an enum). */
function literal(value: unknown, type: GraphQLInputType | null): ValueNode {
  const inner = type && (isNonNullType(type) ? type.ofType : type);
  if (value === null || value === undefined) return { kind: Kind.NULL };
  if (Array.isArray(value)) {
    const item = inner && isListType(inner) ? inner.ofType : null;
    return { kind: Kind.LIST, values: value.map((v) => literal(v, item)) };
  }
  switch (typeof value) {
    case "string":
      if (inner && isEnumType(inner) && /^[_A-Za-z][_0-9A-Za-z]*$/.test(value) && !["true", "false", "null"].includes(value)) {
        return { kind: Kind.ENUM, value };
      }
      return { kind: Kind.STRING, value };
    case "number":
      return Number.isInteger(value) && Math.abs(value) < 1e21 ? { kind: Kind.INT, value: String(value) } : { kind: Kind.FLOAT, value: String(value) };
    case "boolean":
      return { kind: Kind.BOOLEAN, value };
    default: {
      const fields = inner && isInputObjectType(inner) ? inner.getFields() : {};
      return {
        kind: Kind.OBJECT,
        fields: Object.entries(value as object).map(([k, v]) => ({
          kind: Kind.OBJECT_FIELD,
          name: { kind: Kind.NAME, value: k },
          value: literal(v, fields[k]?.type ?? null),
        })),
      };
    }
  }
}

/** Leaf fields of the result, and __typename of objects one level down: enough to run the result's resolvers. */
export function selectionOf(type: GraphQLOutputType, depth = 0): string {
  const named = getNamedType(type);
  if (isLeafType(named)) return "";
  if (!isObjectType(named) && !isInterfaceType(named)) return "{ __typename }";
  const parts = ["__typename"];
  for (const f of Object.values(named.getFields())) {
    if (f.args.some((a) => isNonNullType(a.type) && a.defaultValue === undefined)) continue;
    if (isLeafType(getNamedType(f.type))) parts.push(f.name);
    else if (depth === 0) parts.push(`${f.name} { __typename }`);
  }
  return `{ ${parts.join(" ")} }`;
}

/** One operation on `field`: its arguments as variables (mostly) or as literals, some left out, a few foreign. */
export function operationOf(field: GraphQLField<unknown, unknown>, pools: IdPools, mode: Mode): fc.Arbitrary<Operation> {
  const hostile = mode === "hostile";
  const args = field.args.map((a) =>
    fc.record({
      value: valueOf(a.type, `${field.name}.${a.name}`, pools, mode),
      // hostile: a required argument is left out now and then, an optional one half the time
      present: hostile ? rarely(fc.constant(true), fc.constant(false), isNonNullType(a.type) ? 40 : 2) : fc.constant(true),
    }),
  );
  const selection = selectionOf(field.type);
  return fc
    .tuple(
      fc.tuple(...args),
      hostile ? fc.constantFrom<"variables" | "literals">("variables", "variables", "variables", "literals") : fc.constant("variables" as const),
      hostile ? rarely(fc.constant("admin" as const), fc.constantFrom<Operation["key"]>("none", "bogus"), 20) : fc.constant("admin" as const),
      hostile ? rarely(fc.constant(null), fc.constantFrom(...INJECTION), 12) : fc.constant(null),
    )
    .map(([values, style, key, splice]) => {
      const used = field.args.map((a, i) => ({ arg: a, ...values[i]! })).filter((u) => u.present);
      let document: string;
      let variables: Record<string, unknown> | undefined;
      if (style === "variables" || used.some((u) => deeperThan(u.value, 100))) {
        const defs = used.map((u, i) => `$v${i}: ${String(u.arg.type)}`).join(", ");
        const call = used.map((u, i) => `${u.arg.name}: $v${i}`).join(", ");
        document = `mutation Hostile${defs ? `(${defs})` : ""} { ${field.name}${call ? `(${call})` : ""} ${selection} }`;
        variables = Object.fromEntries(used.map((u, i) => [`v${i}`, u.value]));
      } else {
        const call = used.map((u) => `${u.arg.name}: ${print(literal(u.value, u.arg.type))}`).join(", ");
        document = `mutation Hostile { ${field.name}${call ? `(${call})` : ""} ${selection} }`;
      }
      // A client that pastes user input into the document unescaped.
      if (splice !== null) document = document.replace(/\(/, `(${splice}`);
      return { mutation: field.name, key, body: JSON.stringify({ query: document, variables }) };
    });
}
