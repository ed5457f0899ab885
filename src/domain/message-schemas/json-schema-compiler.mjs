// Plain JavaScript: the schema validation worker (schema-worker.mjs) loads this too, and
// a worker thread runs what Node runs, without the TypeScript loader of tsx or vitest.
import { Ajv } from "ajv";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { RE2JS } from "re2js";

/**
 * `pattern` and `patternProperties` run on RE2 (re2js): time linear in the subject,
 * where JavaScript's backtracking engine takes 3.2 s for `^(a+)+$` against 28 characters
 * and twice as long per character more. RE2 has no lookarounds or backreferences; a
 * schema using them is refused when it is registered.
 */
const re2 = Object.assign(
  (pattern, _flags) => {
    const compiled = RE2JS.compile(pattern);
    return { test: (s) => compiled.matcher(s).find() };
  },
  { code: 're2js: RE2 regular expressions' },
);

/**
 * JSON Schemas compiled by ajv: draft 2020-12 when the schema says so in $schema,
 * draft-07 otherwise; strict mode, so a misspelt keyword is refused at registration
 * instead of silently ignored. `allErrors` collects every problem (to report them),
 * else validation stops at the first.
 */
export function createCompiler() {
  const options = (allErrors) => ({ allErrors, strict: true, code: { regExp: re2 } });
  const ajvs = new Map();
  const ajvOf = (draft2020, allErrors) => {
    const key = `${draft2020}/${allErrors}`;
    let ajv = ajvs.get(key);
    if (!ajv) ajvs.set(key, (ajv = addFormats.default(draft2020 ? new Ajv2020(options(allErrors)) : new Ajv(options(allErrors)))));
    return ajv;
  };
  return {
    compile(schema, { allErrors }) {
      const $schema = schema.$schema;
      // compile() would register a schema's $id for good; these are tenant documents, not ours
      const { $id: _ignored, ...anonymous } = schema;
      return ajvOf(typeof $schema === "string" && $schema.includes("2020-12"), allErrors).compile(anonymous);
    },
  };
}

/** The first `limit` problems of a failed validation, each as {path, message}; ajv's "/items/0/qty" as "items[0].qty". */
export function problemsOf(errors, limit) {
  return (errors ?? []).slice(0, limit).map((e) => {
    const steps = e.instancePath.split("/").slice(1).map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
    if (e.keyword === "required") steps.push(String(e.params.missingProperty));
    return { path: steps.map((s) => (/^\d+$/.test(s) ? `[${s}]` : `.${s}`)).join(""), message: e.message ?? "is invalid" };
  });
}
