import type { ValidateFunction } from "ajv";

/** A place in a body and what is wrong there. */
export type Problem = { path: string; message: string };

export function createCompiler(): { compile(schema: object, opts: { allErrors: boolean }): ValidateFunction };
export function problemsOf(errors: ValidateFunction["errors"], limit: number): Problem[];
