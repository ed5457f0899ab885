import SchemaBuilder from "@pothos/core";
import ScopeAuthPlugin, { AuthScopeFailureType, type AuthFailure } from "@pothos/plugin-scope-auth";
import ComplexityPlugin from "@pothos/plugin-complexity";
import type { Context } from "./context.js";
import { AuthTokenInvalidError, AuthTokenMissingError, PermissionDeniedError, RateLimitedError } from "../errors.js";
import type { Permission } from "../domain/actor.js";
import "./audit-plugin.js";

/**
 * Auth scopes are named after the permission they need (canView …), never "scope", so
 * they cannot be confused with the ScaiQueue Scope.
 */
export const SCOPE_PERMISSION = {
  canView: "scaiqueue:view",
  canPublish: "scaiqueue:publish",
  canConsume: "scaiqueue:consume",
  canManage: "scaiqueue:manage",
} as const satisfies Record<string, Permission>;
export type AuthScopeName = keyof typeof SCOPE_PERMISSION;

/** A list's length for its cost: what the argument asks for, within what the field takes (more is refused as VALIDATION_ERROR when it runs). */
export const listLength = (asked: number, most: number): number => Math.min(Math.max(1, asked), most);

export const builder = new SchemaBuilder<{
  Context: Context;
  AuthScopes: Record<AuthScopeName, boolean>;
  DefaultFieldNullability: false;
  Scalars: {
    JSON: { Input: unknown; Output: unknown };
    DateTime: { Input: Date; Output: Date | string };
  };
}>({
  defaultFieldNullability: false,
  plugins: [ScopeAuthPlugin, ComplexityPlugin, "audit"],
  // What an operation costs (http/operation-limits.ts checks it against MAX_QUERY_COST
  // before it runs): 1 per field, list fields times their length, 10 where it is unknown.
  complexity: { defaultComplexity: 1, defaultListMultiplier: 10 },
  scopeAuth: {
    authorizeOnSubscribe: true,
    authScopes: (ctx) => {
      const perms = ctx.auth.status === "ok" ? ctx.auth.actor.permissions : new Set<Permission>();
      return {
        canView: perms.has(SCOPE_PERMISSION.canView),
        canPublish: perms.has(SCOPE_PERMISSION.canPublish),
        canConsume: perms.has(SCOPE_PERMISSION.canConsume),
        canManage: perms.has(SCOPE_PERMISSION.canManage),
      };
    },
    // One place decides which auth error a refused operation gets.
    unauthorizedError: (_parent, ctx, _info, result) => {
      if (ctx.auth.status === "missing") return new AuthTokenMissingError();
      if (ctx.auth.status === "invalid") return new AuthTokenInvalidError();
      if (ctx.auth.status === "throttled") return tooManyFailures(ctx.auth.retryAfter);
      const scope = failedScope(result.failure);
      return new PermissionDeniedError(scope ? SCOPE_PERMISSION[scope] : "this operation needs");
    },
  },
});

/** What a client address that sent too many unknown secrets is answered. */
export const tooManyFailures = (retryAfter: number): RateLimitedError =>
  new RateLimitedError(`too many unknown API keys from this address; retry in ${retryAfter} s`, retryAfter);

function failedScope(f: AuthFailure): AuthScopeName | undefined {
  if (f.kind === AuthScopeFailureType.AuthScope) return f.scope as AuthScopeName;
  if (f.kind === AuthScopeFailureType.AnyAuthScopes || f.kind === AuthScopeFailureType.AllAuthScopes) {
    for (const inner of f.failures) {
      const s = failedScope(inner);
      if (s) return s;
    }
  }
  return undefined;
}

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});
