import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { createYoga, type Plugin, type YogaServerInstance } from "graphql-yoga";
import { GraphQLError, visit, type DocumentNode } from "graphql";
import { renderGraphiQL } from "@graphql-yoga/render-graphiql";
import { useCSRFPrevention } from "@graphql-yoga/plugin-csrf-prevention";
import { maxAliasesPlugin } from "@escape.tech/graphql-armor-max-aliases";
import { maxDepthPlugin } from "@escape.tech/graphql-armor-max-depth";
import { maxTokensPlugin } from "@escape.tech/graphql-armor-max-tokens";
import type { Config } from "../config.js";
import type { ApiKeyVerifier } from "../domain/api-keys/keys.js";
import type { RateLimiter } from "../domain/api-keys/rate-limits.js";
import type { Logger } from "../logger.js";
import type { Deps } from "../domain/deps.js";
import type { ApiKeyLifecycle } from "../domain/api-keys/lifecycle.js";
import { createLoaders, type Loaders } from "../schema/loaders.js";
import { schema } from "../schema/index.js";
import { authenticate, secretFrom, type AuthFailures } from "./auth.js";
import { tooManyFailures } from "../schema/builder.js";
import { useRateLimit } from "./rate-limit.js";
import { useRevocableSubscriptions, type KeyConnections } from "./key-connections.js";
import type { Context } from "../schema/context.js";
import { BAD_INPUT, isUnexpected, maskError } from "./errors.js";
import { useFieldAccess } from "./field-access.js";
import { useOperationLimits } from "./operation-limits.js";
import { useResponseBudget } from "./response-budget.js";
import { AuthTokenInvalidError, AuthTokenMissingError } from "../errors.js";

/** What the HTTP layer and the graphql-ws layer hand to Yoga's context factory. */
export type ServerContext = {
  req?: IncomingMessage & { requestId?: string };
  connectionParams?: Record<string, unknown>;
  requestId?: string;
};

export type Yoga = YogaServerInstance<ServerContext, Context>;

/** Logs each unexpected error once, with the request id, before it reaches the client masked. */
function useErrorLogging(log: Logger): Plugin<Context> {
  const report = (ctx: Context, errors: readonly GraphQLError[] | undefined) => {
    // Masking may run before or after this hook; classify the same way either way.
    for (const e of (errors ?? []).map(maskError)) {
      if (isUnexpected(e)) log.error({ requestId: ctx.requestId, path: e.path, err: e.originalError }, "unexpected error");
    }
  };
  return {
    onExecute: ({ args }) => ({
      onExecuteDone: ({ result }) => {
        if (!(Symbol.asyncIterator in result)) report(args.contextValue as Context, result.errors);
      },
    }),
    // a subscription fails when it starts (its result) or later (an event's result)
    onSubscribe: ({ args }) => ({
      onSubscribeResult: ({ result }) => {
        if (!(Symbol.asyncIterator in result)) return report(args.contextValue as Context, result.errors);
        return { onNext: ({ result: next }) => report(args.contextValue as Context, next.errors) };
      },
    }),
  };
}

/** Validation failures (unknown field, wrong argument type, limits) answer the contract's VALIDATION_ERROR. */
function useValidationErrorCode(): Plugin<Context> {
  return {
    onValidate: () => ({ valid, result }) => {
      if (valid) return;
      for (const error of result) {
        const ext = error.extensions as Record<string, unknown>;
        if (ext.code === undefined || ext.code === "GRAPHQL_VALIDATION_FAILED") ext.code = BAD_INPUT;
      }
    },
  };
}

/**
 * graphql-js parses values recursively: one nested about 2,000 brackets deep overflows
 * the stack before MAX_QUERY_TOKENS stops the parser. That is bad input, not a fault.
 */
function useParseOverflowGuard(): Plugin<Context> {
  return {
    onParse: () => ({ result, replaceParseResult }) => {
      if (result instanceof RangeError) {
        replaceParseResult(new GraphQLError("the document is nested too deeply to parse", { extensions: { code: BAD_INPUT } }));
      }
    },
  };
}

/**
 * With NODE_ENV=production the schema is described only to a caller with a valid key:
 * an anonymous `__schema` / `__type` answers the auth error every other field does.
 * Elsewhere GraphiQL's docs work before a key is set.
 */
function useIntrospectionAuth(production: boolean): Plugin<Context> {
  const introspects = (document: DocumentNode) => {
    let found = false;
    visit(document, { Field: (f) => void ((f.name.value === "__schema" || f.name.value === "__type") && (found = true)) });
    return found;
  };
  return {
    onExecute: ({ args, setResultAndStopExecution }) => {
      const ctx = args.contextValue as Context;
      if (!production || ctx.auth.status === "ok" || !introspects(args.document)) return;
      const auth = ctx.auth;
      const error = auth.status === "missing" ? new AuthTokenMissingError() : auth.status === "throttled" ? tooManyFailures(auth.retryAfter) : new AuthTokenInvalidError();
      setResultAndStopExecution({ errors: [maskError(error)] });
    },
  };
}

/** A body no request parser takes (XML, say) answers 415 with a contract error, not an empty body. */
function useUnsupportedMediaType(): Plugin<Context> {
  return {
    onRequestParse: ({ requestParser }) => {
      if (requestParser) return;
      throw new GraphQLError("send the operation as application/json (or as a GET with query parameters)", {
        extensions: { code: BAD_INPUT, http: { status: 415 } },
      });
    },
  };
}

/**
 * A request that is not JSON (a form post, a GET) must carry one of these headers. None
 * is CORS-safelisted, so a browser sends them only after a preflight the page's origin
 * passed: a cross-site form or <img> cannot make the service run an operation.
 */
export const CSRF_HEADERS = ["authorization", "x-graphql-yoga-csrf", "apollo-require-preflight", "x-apollo-operation-name"];

/** How long a browser may reuse a preflight answer (Chromium caps it at 2 h). */
const CORS_MAX_AGE_S = 600;

/**
 * CORS answers for the origins in CORS_ORIGINS only; any other origin gets no CORS
 * headers, so the browser keeps its page out (same-origin pages need none). Never with
 * credentials: the API key travels in a header, there are no cookies to send.
 */
function corsFor(allowed: Config["browser"]["corsOrigins"]) {
  return (request: Request) => {
    const origin = request.headers.get("origin");
    if (!origin || (allowed !== "*" && !allowed.includes(origin))) return false as const;
    // "*" makes Yoga answer with the request's own origin (checked above) and Vary: Origin.
    return { origin: "*", credentials: false, maxAge: CORS_MAX_AGE_S, exposedHeaders: ["x-request-id"] };
  };
}

export function createGraphQL(parts: {
  config: Config;
  deps: Deps;
  apiKeys: ApiKeyLifecycle;
  verifier: ApiKeyVerifier;
  authFailures: AuthFailures;
  rateLimiter: RateLimiter;
  connections: KeyConnections;
  log: Logger;
}): Yoga {
  const { config, deps, apiKeys, verifier, authFailures, rateLimiter, connections, log } = parts;
  const limits = config.limits;
  return createYoga<ServerContext, Context>({
    schema,
    graphqlEndpoint: "/graphql",
    landingPage: false,
    cors: corsFor(config.browser.corsOrigins),
    // GraphiQL runs subscriptions over SSE (a GET) on this same path, so its headers carry
    // the key; the CSRF header lets a subscription through before the user has set one.
    graphiql: config.browser.graphiql && {
      title: "ScaiQueue GraphQL",
      additionalHeaders: { "x-graphql-yoga-csrf": "graphiql" },
    },
    renderGraphiQL,
    logging: false,
    maskedErrors: { maskError },
    // Parsed and validated documents are cached by Yoga (parserAndValidationCache, on by default).
    plugins: [
      useCSRFPrevention({ requestHeaders: CSRF_HEADERS }),
      useUnsupportedMediaType(),
      useParseOverflowGuard(),
      maxTokensPlugin({ n: limits.queryTokens }),
      maxDepthPlugin({ n: limits.queryDepth, ignoreIntrospection: true, flattenFragments: true }),
      maxAliasesPlugin({ n: limits.queryAliases }),
      // the execute hooks that may refuse come first, the cheapest first: a refused operation runs nothing
      useIntrospectionAuth(config.production),
      useOperationLimits({ cost: limits.queryCost, mutations: limits.mutationsPerRequest }),
      useFieldAccess(),
      useRateLimit(rateLimiter),
      useResponseBudget(limits.responseBytes),
      useRevocableSubscriptions(connections, config.sse.maxStreamsPerKey),
      useValidationErrorCode(),
      useErrorLogging(log),
    ],
    context: async (init): Promise<Context> => {
      const params = init.connectionParams;
      // HTTP: the Node request's header (a plain POST comes without a Fetch API Request, plain-post.ts)
      const secret = params
        ? secretFrom(params.authorization ?? params.Authorization, params.apiKey)
        : secretFrom(init.req?.headers.authorization ?? (init as { request?: Request }).request?.headers.get("authorization"));
      let loaders: Loaders | undefined;
      const auth = await authenticate(verifier, authFailures, secret, init.req?.socket?.remoteAddress);
      return {
        auth,
        deps,
        apiKeys,
        requestId: init.requestId ?? init.req?.requestId ?? randomUUID(),
        transport: params ? "ws" : "http",
        loaders: () => (loaders ??= createLoaders(deps, auth.status === "ok" ? auth.actor.tenantId : "")),
      };
    },
  });
}
