import { TypeInfo, visit, visitWithTypeInfo, type DocumentNode, type ExecutionResult, type OperationDefinitionNode } from "graphql";
import type { Plugin } from "graphql-yoga";
import { complexityFromQuery } from "@pothos/plugin-complexity";
import { QueryTooComplexError } from "../errors.js";
import type { Context } from "../schema/context.js";
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
  // The cost of an operation none of whose fields weighs its arguments is the same for any
  // variables, so it is worked out once per (cached, so shared) document: worked out per
  // request, complexity with its coercion of the variables would be ~4% of the server's
  // CPU per `{ __typename }`.
  const fixedCosts = new WeakMap<DocumentNode, Map<string, number | null>>();
  const costOf = (args: OperationArgs & { contextValue: unknown }, operation: OperationDefinitionNode): number => {
    let byOperation = fixedCosts.get(args.document);
    if (!byOperation) fixedCosts.set(args.document, (byOperation = new Map()));
    const name = operation.name?.value ?? "";
    const fixed = byOperation.get(name);
    if (typeof fixed === "number") return fixed;
    const cost = complexityFromQuery(documentOf(args, operation), { schema: args.schema, variables: args.variableValues ?? {}, ctx: args.contextValue as object }).complexity;
    if (fixed === undefined) byOperation.set(name, weighsArguments(args, operation) ? null : cost);
    return cost;
  };
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
      cost = costOf(args, operation);
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

/** Whether a field the operation selects has a cost that depends on its arguments (a page's `first`, a batch's length). */
function weighsArguments(args: OperationArgs, operation: OperationDefinitionNode): boolean {
  const typeInfo = new TypeInfo(args.schema);
  let weighs = false;
  visit(
    documentOf(args, operation),
    visitWithTypeInfo(typeInfo, {
      Field() {
        if (typeof typeInfo.getFieldDef()?.extensions?.complexity === "function") weighs = true;
      },
    }),
  );
  return weighs;
}
