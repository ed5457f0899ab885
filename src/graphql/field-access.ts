import { TypeInfo, visit, visitWithTypeInfo, type ExecutionResult } from "graphql";
import type { Plugin } from "graphql-yoga";
import { PermissionDeniedError } from "../errors.js";
import { SCOPE_PERMISSION, type AuthScopeName } from "../schema/builder.js";
import type { Context } from "./context.js";
import { maskError } from "./errors.js";
import { documentOf, operationOf, type OperationArgs } from "./operation.js";

/**
 * Every field an operation selects, nested ones included, needs the permission its
 * auth scope names, and the whole operation is refused before anything runs when one is
 * missing: AUTHZ_PERMISSION_DENIED. Pothos checks each field as it resolves, which for a
 * nested field is after the mutation above it has written; and without this a publish-
 * or consume-only key read view-guarded data through its own results
 * (`publish { message { queue { scope { queues { depth } } messageSchema } } }`).
 * Root fields are left to Pothos, so one refused root field of a query does not hide
 * the others' answers.
 */
export function useFieldAccess(): Plugin<Context> {
  const check = (args: OperationArgs & { contextValue: unknown }, stop: (result: ExecutionResult) => void) => {
    const ctx = args.contextValue as Context;
    if (ctx.auth.status !== "ok") return; // the root fields refuse it with the auth error
    const operation = operationOf(args);
    if (!operation) return;
    const held = ctx.auth.actor.permissions;
    const roots = new Set([args.schema.getQueryType(), args.schema.getMutationType(), args.schema.getSubscriptionType()]);
    const typeInfo = new TypeInfo(args.schema);
    let missing: string | undefined;
    visit(
      documentOf(args, operation),
      visitWithTypeInfo(typeInfo, {
        Field() {
          const field = typeInfo.getFieldDef();
          if (missing || !field || roots.has(typeInfo.getParentType() as never)) return;
          const scopes = (field.extensions?.pothosOptions as { authScopes?: unknown } | undefined)?.authScopes;
          if (scopes === null || typeof scopes !== "object") return;
          // as in Pothos, any one of the field's scopes lets it through
          const needs = Object.entries(scopes).flatMap(([scope, wanted]) => (wanted === true && SCOPE_PERMISSION[scope as AuthScopeName] ? [SCOPE_PERMISSION[scope as AuthScopeName]] : []));
          if (needs.length && !needs.some((p) => held.has(p))) missing = needs[0];
        },
      }),
    );
    if (missing) stop({ errors: [maskError(new PermissionDeniedError(missing))] });
  };
  return {
    onExecute: ({ args, setResultAndStopExecution }) => check(args, setResultAndStopExecution),
    onSubscribe: ({ args, setResultAndStopExecution }) => check(args, setResultAndStopExecution),
  };
}
