import { TypeInfo, visit, visitWithTypeInfo, type DocumentNode, type ExecutionResult, type OperationDefinitionNode } from "graphql";
import type { Permission } from "../domain/actor.js";
import type { Plugin } from "graphql-yoga";
import { PermissionDeniedError } from "../errors.js";
import { SCOPE_PERMISSION, type AuthScopeName } from "../schema/builder.js";
import type { Context } from "../schema/context.js";
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
  // Yoga caches parsed documents, so the same query text is the same DocumentNode: what it
  // needs is worked out once per document and operation, not on every request
  const needed = new WeakMap<DocumentNode, Map<string, Permission[][]>>();
  const needsOf = (args: OperationArgs, operation: OperationDefinitionNode): Permission[][] => {
    let byOperation = needed.get(args.document);
    if (!byOperation) needed.set(args.document, (byOperation = new Map()));
    const name = operation.name?.value ?? "";
    let needs = byOperation.get(name);
    if (!needs) byOperation.set(name, (needs = nestedNeeds(args, operation)));
    return needs;
  };
  const check = (args: OperationArgs & { contextValue: unknown }, stop: (result: ExecutionResult) => void) => {
    const ctx = args.contextValue as Context;
    if (ctx.auth.status !== "ok") return; // the root fields refuse it with the auth error
    const operation = operationOf(args);
    if (!operation) return;
    const held = ctx.auth.actor.permissions;
    // as in Pothos, any one of a field's scopes lets it through
    const missing = needsOf(args, operation).find((anyOf) => !anyOf.some((p) => held.has(p)));
    if (missing) stop({ errors: [maskError(new PermissionDeniedError(missing[0]!))] });
  };
  return {
    onExecute: ({ args, setResultAndStopExecution }) => check(args, setResultAndStopExecution),
    onSubscribe: ({ args, setResultAndStopExecution }) => check(args, setResultAndStopExecution),
  };
}

/** The permissions the operation's nested fields need, each as the list of which any one will do. */
function nestedNeeds(args: OperationArgs, operation: OperationDefinitionNode): Permission[][] {
  const roots = new Set([args.schema.getQueryType(), args.schema.getMutationType(), args.schema.getSubscriptionType()]);
  const typeInfo = new TypeInfo(args.schema);
  const needs = new Map<string, Permission[]>();
  visit(
    documentOf(args, operation),
    visitWithTypeInfo(typeInfo, {
      Field() {
        const field = typeInfo.getFieldDef();
        if (!field || roots.has(typeInfo.getParentType() as never)) return;
        const scopes = (field.extensions?.pothosOptions as { authScopes?: unknown } | undefined)?.authScopes;
        if (scopes === null || typeof scopes !== "object") return;
        const anyOf = Object.entries(scopes).flatMap(([scope, wanted]) => (wanted === true && SCOPE_PERMISSION[scope as AuthScopeName] ? [SCOPE_PERMISSION[scope as AuthScopeName]] : []));
        if (anyOf.length) needs.set(anyOf.join(","), anyOf);
      },
    }),
  );
  return [...needs.values()];
}
