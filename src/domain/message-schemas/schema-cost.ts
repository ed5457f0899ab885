import type { ErrorDetail } from "../../errors.js";

/**
 * What validating a body against a registered JSON Schema can cost, known before it
 * runs. ajv evaluates every subschema that applies at a value, and nothing memoizes:
 * `anyOf: [{$ref: next}, {$ref: next}]` nested 24 deep evaluates 2^24 subschemas at one
 * value (a 1.9 kB schema would make one publish of `1` run out of heap), and the same fan-out
 * through `properties` multiplies with the body's depth. So a schema is measured when it
 * is registered, per depth of the body (`perValue[d]`: the subschema evaluations, each
 * weighted by its keywords, that one value at depth d can cause at most), and a publish
 * multiplies that with its body's values per depth before ajv runs (`boundFor`). The
 * bound is an upper one (it assumes every alternative of an anyOf descends, where a
 * `type` that does not fit stops most of them), so it decides where a body is checked,
 * not whether it may be (schema-book.ts).
 *
 * Refused at registration: an in-place `$ref` cycle (validating would never end) and a
 * fan-out at one value over `maxInPlace`, which no body could pass in reasonable time.
 * Not measured (cost null, every body goes off-thread): `$ref`s this measurement cannot
 * follow (outside the schema, nested $id bases, $dynamicRef) and `uniqueItems` over
 * items not of a scalar type, which ajv checks pair by pair (quadratic in the array).
 */
export type SchemaCost = { perValue: number[] };

/** Depths measured: bodies nest at most this deep (validation.ts MAX_JSON_DEPTH). */
const DEPTHS = 25;
/** Costs stop growing here, so a fan-out cannot overflow to Infinity mid-sum. */
const CAP = 1e15;

type Node = object | boolean;
type Shape = {
  /** subschemas that apply to the same value (allOf, anyOf, not, if, $ref…) */
  inPlace: Node[];
  /** subschemas that apply to a child value: one of `oneOf` per child (properties, tuple items), all of `all` */
  child: { oneOf: Node[][]; all: Node[] };
  weight: number;
};

const IN_PLACE_LISTS = ["allOf", "anyOf", "oneOf"];
const IN_PLACE_ONE = ["not", "if", "then", "else"];
const IN_PLACE_MAPS = ["dependentSchemas", "dependencies"];
const CHILD_ONE: string[] = ["additionalProperties", "unevaluatedProperties", "propertyNames", "additionalItems", "contains", "unevaluatedItems"];
const SCALAR_TYPES = new Set(["string", "number", "integer", "boolean", "null"]);

const isSchema = (v: unknown): v is Node => typeof v === "boolean" || (v !== null && typeof v === "object" && !Array.isArray(v));

const ONE = [...IN_PLACE_ONE, "items", ...CHILD_ONE];
const LISTS = [...IN_PLACE_LISTS, "prefixItems", "items"];
const MAPS = ["properties", "patternProperties", "$defs", "definitions", ...IN_PLACE_MAPS];

/** The subschemas a schema object holds (ajv's strict mode refuses unknown keywords, so there are no others), with their paths. */
function subschemas(o: Record<string, unknown>): [Node, string][] {
  const out: [Node, string][] = [];
  for (const k of ONE) if (isSchema(o[k])) out.push([o[k], `.${k}`]);
  for (const k of LISTS) if (Array.isArray(o[k])) (o[k] as unknown[]).forEach((v, i) => isSchema(v) && out.push([v, `.${k}[${i}]`]));
  for (const k of MAPS) {
    const m = o[k];
    if (m !== null && typeof m === "object" && !Array.isArray(m)) for (const [name, v] of Object.entries(m)) if (isSchema(v)) out.push([v, `.${k}.${name}`]);
  }
  return out;
}

/** Measures a schema that ajv compiled: its cost, null when it cannot be measured, or why it is refused. */
export function measureSchema(root: object, maxInPlace: number): { cost: SchemaCost | null; problems: ErrorDetail[] } {
  const problems: ErrorDetail[] = [];
  const bad = (path: string, message: string) => problems.push({ field: `schema${path}`, message });
  let unmeasured = false;
  const anchors = new Map<string, Node>();
  const paths = new Map<Node, string>();
  // every subschema, with its path, and the anchors refs may name
  const stack: [Node, string][] = [[root, ""]];
  while (stack.length) {
    const [node, path] = stack.pop()!;
    if (typeof node === "boolean" || paths.has(node)) continue;
    paths.set(node, path);
    const o = node as Record<string, unknown>;
    if (typeof o.$anchor === "string") anchors.set(o.$anchor, node);
    if (typeof o.$dynamicAnchor === "string") anchors.set(o.$dynamicAnchor, node);
    if (typeof o.$id === "string") {
      if (o.$id.startsWith("#")) anchors.set(o.$id.slice(1), node);
      else if (node !== root) unmeasured = true; // a new base for the $refs below it
    }
    for (const [sub, at] of subschemas(o)) stack.push([sub, `${path}${at}`]);
  }

  const resolve = (ref: string): Node | null => {
    const fragment = ref.startsWith("#") ? decodeURIComponent(ref.slice(1)) : null;
    if (fragment === null) return null;
    if (!fragment.startsWith("/") && fragment !== "") return anchors.get(fragment) ?? null;
    let node: unknown = root;
    for (const step of fragment.split("/").slice(1)) {
      const key = step.replace(/~1/g, "/").replace(/~0/g, "~");
      node = node !== null && typeof node === "object" ? (node as Record<string, unknown>)[key] : undefined;
    }
    return isSchema(node) ? node : null;
  };

  const shapes = new Map<Node, Shape>();
  const shapeOf = (node: Node): Shape => {
    let shape = shapes.get(node);
    if (shape) return shape;
    shape = { inPlace: [], child: { oneOf: [], all: [] }, weight: 1 };
    shapes.set(node, shape);
    if (typeof node === "boolean") return shape;
    const o = node as Record<string, unknown>;
    const schemas = (v: unknown): Node[] => (Array.isArray(v) ? v.filter(isSchema) : isSchema(v) ? [v] : []);
    const values = (v: unknown): Node[] => (v !== null && typeof v === "object" && !Array.isArray(v) ? Object.values(v).filter(isSchema) : []);
    for (const k of IN_PLACE_LISTS) shape.inPlace.push(...schemas(o[k]));
    for (const k of IN_PLACE_ONE) shape.inPlace.push(...schemas(o[k]));
    for (const k of IN_PLACE_MAPS) shape.inPlace.push(...values(o[k]).filter((v) => !Array.isArray(v)));
    if (typeof o.$ref === "string") {
      const target = resolve(o.$ref);
      if (target === null) unmeasured = true;
      else shape.inPlace.push(target);
    }
    if ("$dynamicRef" in o || "$recursiveRef" in o) unmeasured = true;
    const properties = values(o.properties);
    if (properties.length) shape.child.oneOf.push(properties);
    const tuple = Array.isArray(o.items) ? schemas(o.items) : schemas(o.prefixItems);
    if (tuple.length) shape.child.oneOf.push(tuple);
    if (!Array.isArray(o.items)) shape.child.all.push(...schemas(o.items));
    shape.child.all.push(...values(o.patternProperties));
    for (const k of CHILD_ONE) shape.child.all.push(...schemas(o[k]));
    // the keywords ajv checks one by one at each value
    const count = (v: unknown) => (Array.isArray(v) ? v.length : v !== null && typeof v === "object" ? Object.keys(v).length : 0);
    shape.weight = 1 + count(o.properties) + count(o.required) + count(o.enum) + count(o.patternProperties) + count(o.dependentRequired);
    if (o.uniqueItems === true) {
      // ajv hashes items it knows to be scalars; any others it compares pair by pair
      const types = o.items !== null && typeof o.items === "object" && !Array.isArray(o.items) ? (o.items as { type?: unknown }).type : undefined;
      const list = Array.isArray(types) ? types : types === undefined ? [] : [types];
      if (!list.length || !list.every((t) => SCALAR_TYPES.has(t as string))) unmeasured = true;
    }
    return shape;
  };

  // the in-place graph in an order where every node comes after the nodes it applies in place
  const order: Node[] = [];
  const state = new Map<Node, "open" | "done">();
  const visit = (start: Node) => {
    const walk: [Node, number][] = [[start, 0]];
    while (walk.length) {
      const top = walk[walk.length - 1]!;
      const [node, next] = top;
      if (next === 0) {
        if (state.get(node) === "done") {
          walk.pop();
          continue;
        }
        state.set(node, "open");
      }
      const inPlace = shapeOf(node).inPlace;
      if (next < inPlace.length) {
        top[1]++;
        const c = inPlace[next]!;
        if (state.get(c) === "open") {
          bad(paths.get(node) ?? "", "a $ref cycle that never descends into the value: validating would not end");
          return false;
        }
        if (state.get(c) !== "done") walk.push([c, 0]);
        continue;
      }
      state.set(node, "done");
      order.push(node);
      walk.pop();
    }
    return true;
  };
  // boolean schemas (`additionalProperties: false`) are nodes too, without children
  for (const node of [true, false, root, ...paths.keys()]) if (!visit(node)) return { cost: null, problems };

  // cost[node][d]: weighted evaluations at one value d levels below where `node` applies
  const cost = new Map<Node, number[]>(order.map((n) => [n, new Array<number>(DEPTHS).fill(0)]));
  for (let d = 0; d < DEPTHS; d++) {
    for (const node of order) {
      const shape = shapeOf(node);
      let own = d === 0 ? shape.weight : 0;
      if (d > 0) {
        const below = (n: Node) => cost.get(n)![d - 1]!;
        for (const alternatives of shape.child.oneOf) own += Math.max(...alternatives.map(below));
        for (const n of shape.child.all) own += below(n);
      }
      for (const n of shape.inPlace) own += cost.get(n)![d]!;
      cost.get(node)![d] = Math.min(own, CAP);
    }
  }
  const perValue = cost.get(root)!;
  if (perValue[0]! > maxInPlace) {
    bad("", `validating one value could take ${Math.round(perValue[0]!)} subschema evaluations, the limit is ${maxInPlace}: its anyOf / oneOf / allOf / $ref fan out too much`);
    return { cost: null, problems };
  }
  return { cost: unmeasured ? null : { perValue }, problems };
}

/** The most weighted evaluations validating `body` can take: its values per depth times what one value there can cost. */
export function boundFor(cost: SchemaCost, body: unknown): number {
  let total = 0;
  const walk: [unknown, number][] = [[body, 0]];
  while (walk.length) {
    const [v, d] = walk.pop()!;
    total += cost.perValue[Math.min(d, DEPTHS - 1)]!;
    if (v !== null && typeof v === "object") for (const child of Object.values(v)) walk.push([child, d + 1]);
  }
  return total;
}
