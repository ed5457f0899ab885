import type { ValidateFunction } from "ajv";
import type { Db } from "../../db/client.js";
import { ValidationError, type ErrorDetail } from "../../errors.js";
import { createCompiler, problemsOf } from "./json-schema-compiler.mjs";
import { boundFor, measureSchema, type SchemaCost } from "./schema-cost.js";
import { ValidationTimeout, ValidationWorker } from "./validation-worker.js";

/** Per message; a body that breaks more rules than this gets the first ones. */
const MAX_DETAILS = 20;
/**
 * Bodies whose bound (schema-cost.ts) is at most this are checked on the event loop:
 * measured on this project's 2-core machines, ajv takes ~0.2–0.6 µs per evaluation in
 * the slowest case (a failing `$ref` behind an anyOf), so at most ~10 ms here. Every
 * other body is checked by the validation worker, off the event loop.
 */
const INLINE_EVALUATIONS = 20_000;
/** A schema whose fan-out at one value is over this is refused: no body could be checked in time (2^17 evaluations). */
const MAX_IN_PLACE_EVALUATIONS = 131_072;

/** Until when the bodies of one operation may still be checked off the event loop (SchemaBook.allowance). */
export type CheckAllowance = { until: number };

/** A registered schema as publish checks bodies against it. */
type Compiled = { schema: object; validate: ValidateFunction; cost: SchemaCost | null };

/**
 * JSON Schemas are compiled by ajv once per registered version (versions never change,
 * so the compiled validator is kept for the life of the process); json-schema-compiler.mjs
 * has the options. A body is checked where its cost allows (schema-cost.ts): here when
 * its bound is small, else by the validation worker within `timeoutMs`, so no schema
 * and no body can stall the process or exhaust its memory.
 */
export class SchemaBook {
  private readonly compiler = createCompiler();
  private readonly compiled = new Map<string, Promise<Compiled>>();
  private readonly worker: ValidationWorker;

  /** @param timeoutMs how long the worker may check the bodies of one operation (MAX_SCHEMA_VALIDATION_MS) */
  constructor(
    private readonly db: Db,
    private readonly timeoutMs: number,
  ) {
    this.worker = new ValidationWorker(MAX_DETAILS);
  }

  /**
   * The time the bodies of one operation may take off the event loop, all together: with
   * a timeout per body, one batch of 500 slow bodies would take 500 s at the default.
   */
  allowance(): CheckAllowance {
    return { until: Date.now() + this.timeoutMs };
  }

  /** Compiles and measures a schema, or says why it is not one publish can use. */
  compile(schema: object): Compiled {
    // measured first: it is cheap, and ajv compiles a schema that fans out slowly
    const { cost, problems } = measureSchema(schema, MAX_IN_PLACE_EVALUATIONS);
    if (problems.length) throw new ValidationError(problems);
    try {
      return { schema, validate: this.compiler.compile(schema, { allErrors: true }), cost };
    } catch (err) {
      throw new ValidationError([{ field: "schema", message: `not a usable JSON Schema: ${(err as Error).message}` }]);
    }
  }

  private compiledOf(schemaId: string): Promise<Compiled> {
    let c = this.compiled.get(schemaId);
    if (!c) {
      // a schema registered before it was measured that now fails to is checked off the event loop
      c = this.db.messageSchema.findUniqueOrThrow({ where: { id: schemaId } }).then((s) => {
        const schema = s.schema as object;
        try {
          return this.compile(schema);
        } catch {
          return { schema, validate: this.compiler.compile(schema, { allErrors: true }), cost: null };
        }
      });
      if (this.compiled.size > 10_000) this.compiled.clear();
      this.compiled.set(schemaId, c);
      c.catch(() => this.compiled.delete(schemaId));
    }
    return c;
  }

  /** Every problem of a body against the schema (the first MAX_DETAILS), named by path under `field` ("input.body"). */
  async check(schemaId: string, body: unknown, field: string, allowance = this.allowance()): Promise<ErrorDetail[]> {
    const c = await this.compiledOf(schemaId);
    const inline = c.cost !== null && boundFor(c.cost, body) <= INLINE_EVALUATIONS;
    let problems;
    try {
      if (inline) problems = c.validate(body) ? [] : problemsOf(c.validate.errors, MAX_DETAILS);
      else {
        const left = allowance.until - Date.now();
        if (left <= 0) throw new ValidationTimeout(0);
        problems = await this.worker.validate(schemaId, c.schema, body, left);
      }
    } catch (err) {
      // the worker ran out of time or memory on this body: that is the body's (and its schema's) doing
      const why = err instanceof ValidationTimeout ? `did not end within the ${this.timeoutMs} ms the operation's bodies have together (MAX_SCHEMA_VALIDATION_MS)` : `could not be done (${(err as Error).message})`;
      return [{ field, message: `checking it against the queue's schema ${why}: it is refused` }];
    }
    return problems.map((p) => ({ field: field + p.path, message: p.message }));
  }

  close(): Promise<void> {
    return this.worker.close();
  }
}

