import type { ExecutionResult } from "graphql";
import type { Plugin } from "graphql-yoga";
import type { RateLimiter } from "../domain/api-keys/rate-limits.js";
import { RateLimitedError } from "../errors.js";
import type { Context } from "../schema/context.js";
import { maskError } from "./errors.js";
import { chargeOf, type OperationArgs } from "./operation.js";

/**
 * Counts every operation (an HTTP request's, each graphql-ws subscribe) against its key's
 * and tenant's rate limit, after auth and validation and before anything runs: as many
 * operations as its root fields and their batches hold (chargeOf). Refused:
 * RATE_LIMITED with `retryAfter` (seconds); over HTTP also status 429 and Retry-After.
 * Requests without a valid key are not counted: auth refuses them anyway.
 */
export function useRateLimit(limiter: RateLimiter): Plugin<Context> {
  const check = async (args: OperationArgs & { contextValue: unknown }, stop: (result: ExecutionResult) => void) => {
    const ctx = args.contextValue as Context;
    if (ctx.auth.status !== "ok") return;
    const retryAfter = await limiter.take(ctx.auth.actor, ctx.auth.rateLimit, chargeOf(args));
    if (retryAfter === null) return;
    const errors = [
      maskError(new RateLimitedError(`the API key's or its tenant's rate limit is reached; retry in ${retryAfter} s`, retryAfter)),
    ];
    // Yoga turns extensions.http into the response's status and headers and leaves it out of the body.
    const http = { status: 429, headers: { "retry-after": String(retryAfter) } };
    stop(ctx.transport === "http" ? { errors, extensions: { http } } : { errors });
  };
  return {
    onExecute: ({ args, setResultAndStopExecution }) => check(args, setResultAndStopExecution),
    onSubscribe: ({ args, setResultAndStopExecution }) => check(args, setResultAndStopExecution),
  };
}
