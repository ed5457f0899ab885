import type { Actor } from "../domain/actor.js";
import type { Loaders, Services } from "../services.js";

export type Auth = { status: "missing" } | { status: "invalid" } | { status: "ok"; actor: Actor };

export type Context = {
  auth: Auth;
  services: Services;
  /** Built on first use: only requests that resolve nested objects pay for them. */
  loaders: () => Loaders;
  requestId: string;
};

/** The actor of a request that passed its auth scope; resolvers run only after that. */
export function actorOf(ctx: Context): Actor {
  if (ctx.auth.status !== "ok") throw new Error("resolver ran without an authenticated actor");
  return ctx.auth.actor;
}
