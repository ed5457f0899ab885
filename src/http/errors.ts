import { GraphQLError } from "graphql";
import { DomainError, OverloadedError } from "../errors.js";
import { isOverloaded } from "../db/client.js";

export const INTERNAL = "INTERNAL_SERVER_ERROR";
/** GraphQL-level refusals (syntax, unknown fields, wrong variable types, limits) are bad input too. */
export const BAD_INPUT = "VALIDATION_ERROR";

/** An error that is ours to explain or a fault to hide; used for logging at the boundary. */
export function isUnexpected(error: GraphQLError): boolean {
  return error.extensions?.code === INTERNAL;
}

/** Codes of contract §3 that an error built outside the domain may carry (a limit's RATE_LIMITED, say). */
const CONTRACT_CODES = new Set([
  "AUTH_TOKEN_MISSING", "AUTH_TOKEN_INVALID", "AUTHZ_PERMISSION_DENIED", "VALIDATION_ERROR", "SLUG_CONFLICT",
  "RATE_LIMITED", "SCAIQUEUE_SCOPE_NOT_FOUND", "SCAIQUEUE_QUEUE_NOT_FOUND", "SCAIQUEUE_MESSAGE_NOT_FOUND",
  "SCAIQUEUE_SCOPE_PAUSED", "SCAIQUEUE_QUEUE_PAUSED", "SCAIQUEUE_QUEUE_FULL", "SCAIQUEUE_IDEMPOTENCY_CONFLICT",
  "SCAIQUEUE_INVALID_STATE", "SCAIQUEUE_NOT_CLAIM_OWNER", "QUERY_TOO_COMPLEX", "SCAIQUEUE_OVERLOADED", INTERNAL,
]);

/** What maskError made: masking it again (Yoga and graphql-ws may both) changes nothing. */
const masked = new WeakSet<GraphQLError>();

/**
 * The one boundary where errors become what clients see (contract §3): domain errors
 * keep their code and details; GraphQL- and HTTP-level refusals (syntax, unknown fields,
 * wrong variable types, limits, a malformed request: Yoga's BAD_REQUEST and the like)
 * get VALIDATION_ERROR unless they already carry a contract code; anything else is
 * masked as INTERNAL_SERVER_ERROR, with the original attached (it is never serialized)
 * so the logger can report it. A domain error keeps no original: it is an expected
 * outcome, and Yoga takes an error with a non-GraphQL original for a fault (a refused
 * subscription over SSE would answer HTTP 500).
 */
export function maskError(error: unknown): GraphQLError {
  if (error instanceof GraphQLError && masked.has(error)) return error;
  const result = mask(error);
  masked.add(result);
  return result;
}

function mask(error: unknown): GraphQLError {
  const gqlError = error instanceof GraphQLError ? error : null;
  const given = gqlError ? gqlError.originalError : error;
  // MariaDB's own refusals of work it cannot take now are a contract outcome, not a fault
  const original = isOverloaded(given) ? new OverloadedError("the database cannot take this operation now (a statement ran over its time, or no connection was free); retry") : given;
  if (original instanceof DomainError) {
    const extensions: Record<string, unknown> = { code: original.code };
    if (original.details) extensions.details = original.details;
    if (original.retryAfter !== undefined) extensions.retryAfter = original.retryAfter;
    return new GraphQLError(original.message, {
      nodes: gqlError?.nodes,
      path: gqlError?.path,
      extensions,
    });
  }
  if (gqlError && (!original || original instanceof GraphQLError) && !gqlError.extensions?.unexpected) {
    const { code, http, details, retryAfter } = gqlError.extensions ?? {};
    // Only what a client may see: Yoga also puts the parser's error (with a piece of the body) here.
    const extensions: Record<string, unknown> = { code: typeof code === "string" && CONTRACT_CODES.has(code) ? code : BAD_INPUT };
    if (http) extensions.http = http; // Yoga's status for the response; it never reaches the body
    if (details) extensions.details = details;
    if (retryAfter !== undefined) extensions.retryAfter = retryAfter;
    return new GraphQLError(gqlError.message, {
      nodes: gqlError.nodes,
      path: gqlError.path,
      source: gqlError.source,
      positions: gqlError.positions,
      extensions,
    });
  }
  return new GraphQLError("Unexpected error.", {
    nodes: gqlError?.nodes,
    path: gqlError?.path,
    originalError: original instanceof Error ? original : new Error(String(original)),
    extensions: { code: INTERNAL },
  });
}
