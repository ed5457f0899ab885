import type { Actor } from "../domain/actor.js";
import type { RateLimit } from "../domain/api-keys/rate-limits.js";
import type { AuditSubject } from "../domain/outcomes/audit.js";
import type { Deps } from "../domain/deps.js";
import type { ApiKeyLifecycle } from "../domain/api-keys/lifecycle.js";
import type { Loaders } from "./loaders.js";

/** `rateLimit` is the key's own (null: the deployment default); `secretHash` names the secret presented. */
export type Auth =
  | { status: "missing" }
  | { status: "invalid" }
  /** too many unknown secrets from this client address (AuthFailures) */
  | { status: "throttled"; retryAfter: number }
  | { status: "ok"; actor: Actor; rateLimit: RateLimit | null; secretHash: string };

export type Context = {
  auth: Auth;
  /** what the operations a resolver calls work with */
  deps: Deps;
  apiKeys: ApiKeyLifecycle;
  /** Built on first use: only requests that resolve nested objects pay for them. */
  loaders: () => Loaders;
  requestId: string;
  /** http also for GraphiQL's subscriptions over SSE; ws for each graphql-ws operation */
  transport: "http" | "ws";
  /** set by a mutation whose result does not say what it was about (see AuditPlugin) */
  auditSubject?: AuditSubject;
};

/** The actor of a request that passed its auth scope; resolvers run only after that. */
export function actorOf(ctx: Context): Actor {
  if (ctx.auth.status !== "ok") throw new Error("resolver ran without an authenticated actor");
  return ctx.auth.actor;
}
