import type { ExecutionResult } from "graphql";
import type { Plugin } from "graphql-yoga";
import { complexityFromQuery } from "@pothos/plugin-complexity";
import { QueryTooComplexError } from "../errors.js";
import type { Context } from "./context.js";
import { maskError } from "./errors.js";
import { documentOf, operationOf, rootFieldsOf, type OperationArgs } from "./operation.js";

export type OperationLimits = { cost: number; mutations: number };

/**
 * Refuses, before anything runs, an operation whose cost is over MAX_QUERY_COST or a
 * mutation request of more than MAX_MUTATIONS_PER_REQUEST fields. The cost is Pothos's
 * complexity: every field counts 1 (more where it does more work: a queue's depth is a
 * Redis round trip, a message's body may be large), and a list field multiplies what it
 * selects by its length (`first`, else 10), so nesting and aliases add up as the work
 * does. Depth and alias limits alone let a 4 kB `scope { queues { scope { queues … } } }`
 * with 30 aliases run 21 s. Answers QUERY_TOO_COMPLEX.
 */
export function useOperationLimits(limits: OperationLimits): Plugin<Context> {
  const check = (args: OperationArgs & { contextValue: unknown }, stop: (result: ExecutionResult) => void) => {
    const operation = operationOf(args);
    if (!operation) return;
    if (operation.operation === "mutation") {
      const fields = rootFieldsOf(args, operation).length;
      if (fields > limits.mutations) {
        return stop({ errors: [maskError(new QueryTooComplexError(`a request runs at most ${limits.mutations} mutation fields (MAX_MUTATIONS_PER_REQUEST), this one ${fields}`))] });
      }
    }
    let cost: number;
    try {
      cost = complexityFromQuery(documentOf(args, operation), { schema: args.schema, variables: args.variableValues ?? {}, ctx: args.contextValue as object }).complexity;
    } catch {
      return; // variables that do not coerce: execution answers them
    }
    if (cost > limits.cost) {
      stop({ errors: [maskError(new QueryTooComplexError(`the operation costs ${cost}, more than MAX_QUERY_COST (${limits.cost}): select fewer fields, fewer aliases, or smaller pages`))] });
    }
  };
  return {
    onExecute: ({ args, setResultAndStopExecution }) => check(args, setResultAndStopExecution),
    onSubscribe: ({ args, setResultAndStopExecution }) => check(args, setResultAndStopExecution),
  };
}
