import { GraphQLError } from "graphql";
import { DomainError } from "../errors.js";

export const INTERNAL = "INTERNAL_SERVER_ERROR";
/** GraphQL-level refusals (syntax, unknown fields, wrong variable types, limits) are bad input too. */
export const BAD_INPUT = "VALIDATION_ERROR";

/** An error that is ours to explain or a fault to hide; used for logging at the boundary. */
export function isUnexpected(error: GraphQLError): boolean {
  return error.extensions?.code === INTERNAL;
}

/**
 * The one boundary where errors become what clients see (contract §3): domain errors
 * keep their code and details, GraphQL-level errors get VALIDATION_ERROR, and anything
 * else is masked as INTERNAL_SERVER_ERROR. The original stays attached (it is never
 * serialized) so the logger can report it.
 */
export function maskError(error: unknown): GraphQLError {
  const gqlError = error instanceof GraphQLError ? error : null;
  const original = gqlError ? gqlError.originalError : error;
  if (original instanceof DomainError) {
    const extensions: Record<string, unknown> = { code: original.code };
    if (original.details) extensions.details = original.details;
    if (original.retryAfter !== undefined) extensions.retryAfter = original.retryAfter;
    return new GraphQLError(original.message, {
      nodes: gqlError?.nodes,
      path: gqlError?.path,
      originalError: original,
      extensions,
    });
  }
  if (gqlError && (!original || original instanceof GraphQLError)) {
    const code = gqlError.extensions?.code;
    if (typeof code === "string" && code !== "GRAPHQL_VALIDATION_FAILED" && code !== "BAD_USER_INPUT" && code !== "GRAPHQL_PARSE_FAILED") {
      return gqlError;
    }
    return new GraphQLError(gqlError.message, {
      nodes: gqlError.nodes,
      path: gqlError.path,
      source: gqlError.source,
      positions: gqlError.positions,
      extensions: { ...gqlError.extensions, code: BAD_INPUT },
    });
  }
  return new GraphQLError("Unexpected error.", {
    nodes: gqlError?.nodes,
    path: gqlError?.path,
    originalError: original instanceof Error ? original : new Error(String(original)),
    extensions: { code: INTERNAL },
  });
}
