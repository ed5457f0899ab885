/**
 * Expected outcomes a client branches on. Each carries its contract code
 * (spec/api-contract.md §3); src/http/errors.ts is the one place that turns them
 * into GraphQL errors. Anything that is not a DomainError is masked.
 */
export type ErrorDetail = { field: string; message: string };

export abstract class DomainError extends Error {
  abstract readonly code: string;
  readonly details?: ErrorDetail[];
  readonly retryAfter?: number;
  constructor(message: string, extra: { details?: ErrorDetail[]; retryAfter?: number } = {}) {
    super(message);
    this.name = new.target.name;
    this.details = extra.details;
    this.retryAfter = extra.retryAfter;
  }
}

export class AuthTokenMissingError extends DomainError {
  readonly code = "AUTH_TOKEN_MISSING";
  constructor() {
    super("credentials are missing: send Authorization: Bearer <api key>");
  }
}
export class AuthTokenInvalidError extends DomainError {
  readonly code = "AUTH_TOKEN_INVALID";
  constructor() {
    super("the API key is unknown or revoked");
  }
}
export class PermissionDeniedError extends DomainError {
  readonly code = "AUTHZ_PERMISSION_DENIED";
  constructor(permission: string) {
    super(`the API key lacks the permission ${permission}`);
  }
}
export class ValidationError extends DomainError {
  readonly code = "VALIDATION_ERROR";
  constructor(details: ErrorDetail[], message = summarize(details)) {
    super(message, { details });
  }
}
/** Over a per-key bound; `retryAfter` (seconds) when waiting is what helps. */
export class RateLimitedError extends DomainError {
  readonly code = "RATE_LIMITED";
  constructor(message: string, retryAfter?: number) {
    super(message, { retryAfter });
  }
}
export class SlugConflictError extends DomainError {
  readonly code = "SLUG_CONFLICT";
  constructor(kind: "scope" | "queue", slug: string) {
    super(`a ${kind} with slug "${slug}" already exists`);
  }
}
export class ScopeNotFoundError extends DomainError {
  readonly code = "SCAIQUEUE_SCOPE_NOT_FOUND";
  constructor() {
    super("no such scope");
  }
}
export class QueueNotFoundError extends DomainError {
  readonly code = "SCAIQUEUE_QUEUE_NOT_FOUND";
  constructor() {
    super("no such queue");
  }
}
export class MessageNotFoundError extends DomainError {
  readonly code = "SCAIQUEUE_MESSAGE_NOT_FOUND";
  constructor() {
    super("no such message");
  }
}
export class ScopePausedError extends DomainError {
  readonly code = "SCAIQUEUE_SCOPE_PAUSED";
  constructor(state: string) {
    super(`the scope is ${state.toLowerCase()} and takes no new messages`);
  }
}
export class QueuePausedError extends DomainError {
  readonly code = "SCAIQUEUE_QUEUE_PAUSED";
  constructor(state: string) {
    super(`the queue is ${state.toLowerCase()} and takes no new messages`);
  }
}
export class QueueFullError extends DomainError {
  readonly code = "SCAIQUEUE_QUEUE_FULL";
  constructor(maxDepth: number) {
    super(`the queue holds its maxDepth of ${maxDepth} messages`);
  }
}
export class IdempotencyConflictError extends DomainError {
  readonly code = "SCAIQUEUE_IDEMPOTENCY_CONFLICT";
  constructor(details?: ErrorDetail[]) {
    super("the idempotency key was already used with a different body", { details });
  }
}
export class InvalidStateError extends DomainError {
  readonly code = "SCAIQUEUE_INVALID_STATE";
}
export class NotClaimOwnerError extends DomainError {
  readonly code = "SCAIQUEUE_NOT_CLAIM_OWNER";
  constructor(details?: ErrorDetail[]) {
    super("the claim token is not the current claim's (it lapsed and was taken again, or it was never yours)", {
      details,
    });
  }
}

/** An operation over the cost limit (refused before it runs), or an answer over the response-size budget (refused instead of sent). */
export class QueryTooComplexError extends DomainError {
  readonly code = "QUERY_TOO_COMPLEX";
}
/** The process cannot take the operation now (a statement over its time, no database connection free); `retryAfter` in seconds. */
export class OverloadedError extends DomainError {
  readonly code = "SCAIQUEUE_OVERLOADED";
  constructor(message: string, retryAfter = 1) {
    super(message, { retryAfter });
  }
}

function summarize(details: ErrorDetail[]): string {
  const [first, ...rest] = details;
  if (!first) return "invalid input";
  const more = rest.length ? ` (and ${rest.length} more)` : "";
  return `invalid input: ${first.field}: ${first.message}${more}`;
}
