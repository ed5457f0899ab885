import type { ExecutionResult } from "graphql";
import type { Plugin } from "graphql-yoga";
import { QueryTooComplexError } from "../errors.js";
import type { Context } from "../schema/context.js";
import { maskError } from "./errors.js";

/**
 * An answer larger than MAX_RESPONSE_BYTES is refused instead of sent: QUERY_TOO_COMPLEX
 * in place of its data (for a subscription, in place of that one event). The cost limit
 * bounds how many objects an operation asks for, not how large they are: 30 aliased
 * `messages(first: 500) { body }` over large bodies reached 2.3 GB and answered HTTP 500.
 */
export function useResponseBudget(maxBytes: number): Plugin<Context> {
  const tooLarge = (): ExecutionResult => ({
    errors: [maskError(new QueryTooComplexError(`the answer would be larger than MAX_RESPONSE_BYTES (${maxBytes}): ask for fewer or smaller objects`))],
  });
  const guard = (result: ExecutionResult, setResult: (r: ExecutionResult) => void) => {
    if (exceeds(result, maxBytes)) setResult(tooLarge());
  };
  return {
    onExecute: () => ({
      onExecuteDone: ({ result, setResult }) => {
        if (!(Symbol.asyncIterator in result)) guard(result, setResult);
      },
    }),
    onSubscribe: () => ({
      onSubscribeResult: ({ result }) => {
        if (Symbol.asyncIterator in result) return { onNext: ({ result: next, setResult }) => guard(next, setResult) };
      },
    }),
  };
}

/**
 * Whether `value` as JSON would take more than `budget` bytes, near enough (characters
 * of strings and keys, eight for other scalars), walked only until it is over: cheaper
 * than JSON.stringify, which the transport does once anyway.
 */
export function exceeds(value: unknown, budget: number): boolean {
  let left = budget;
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v === "string") left -= v.length + 2;
    else if (v === null || typeof v !== "object") left -= 8;
    else if (Array.isArray(v)) {
      left -= 2 + v.length;
      for (const x of v) stack.push(x);
    } else {
      for (const k in v) {
        left -= k.length + 4;
        stack.push((v as Record<string, unknown>)[k]);
      }
    }
    if (left < 0) return true;
  }
  return false;
}
