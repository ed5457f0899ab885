// The schema validation worker (SchemaBook's off-thread lane, schema-book.ts): it
// validates bodies whose bound says they could take long, so the event loop that serves
// every tenant never waits on them. Plain JavaScript, as a worker thread runs it.
import { parentPort } from "node:worker_threads";
import { createCompiler, problemsOf } from "./json-schema-compiler.mjs";

const compiler = createCompiler();
/** schema id → its validator; versions never change, so one compile serves for good */
const validators = new Map();

parentPort.on("message", ({ id, schemaId, schema, body, limit }) => {
  try {
    let validate = validators.get(schemaId);
    if (!validate) {
      if (validators.size >= 1000) validators.clear();
      validators.set(schemaId, (validate = compiler.compile(schema, { allErrors: true })));
    }
    const valid = validate(body);
    parentPort.postMessage({ id, problems: valid ? [] : problemsOf(validate.errors, limit) });
  } catch (err) {
    parentPort.postMessage({ id, failed: String(err?.message ?? err) });
  }
});
