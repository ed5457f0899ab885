import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { createYoga, type Plugin, type YogaServerInstance } from "graphql-yoga";
import { GraphQLError } from "graphql";
import { renderGraphiQL } from "@graphql-yoga/render-graphiql";
import { maxAliasesPlugin } from "@escape.tech/graphql-armor-max-aliases";
import { maxDepthPlugin } from "@escape.tech/graphql-armor-max-depth";
import { maxTokensPlugin } from "@escape.tech/graphql-armor-max-tokens";
import type { Config } from "../config.js";
import type { ApiKeyVerifier } from "../domain/api-keys.js";
import type { Logger } from "../logger.js";
import type { Services } from "../services.js";
import { schema } from "../schema/index.js";
import { authenticate, secretFrom } from "./auth.js";
import type { Context } from "./context.js";
import { BAD_INPUT, isUnexpected, maskError } from "./errors.js";

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

export function createGraphQL(deps: { config: Config; services: Services; verifier: ApiKeyVerifier; log: Logger }): Yoga {
  const { config, services, verifier, log } = deps;
  const limits = config.limits;
  return createYoga<ServerContext, Context>({
    schema,
    graphqlEndpoint: "/graphql",
    landingPage: false,
    // GraphiQL runs subscriptions over SSE on this same path, so its headers carry the key.
    graphiql: { title: "ScaiQueue GraphQL" },
    renderGraphiQL,
    logging: false,
    maskedErrors: { maskError },
    // Parsed and validated documents are cached by Yoga (parserAndValidationCache, on by default).
    plugins: [
      maxTokensPlugin({ n: limits.queryTokens }),
      maxDepthPlugin({ n: limits.queryDepth, ignoreIntrospection: true, flattenFragments: true }),
      maxAliasesPlugin({ n: limits.queryAliases }),
      useValidationErrorCode(),
      useErrorLogging(log),
    ],
    context: async (init): Promise<Context> => {
      const headers = (init as { request?: Request }).request?.headers;
      const params = init.connectionParams;
      const secret = params
        ? secretFrom(params.authorization ?? params.Authorization, params.apiKey)
        : secretFrom(headers?.get("authorization"));
      let loaders: ReturnType<Services["loaders"]> | undefined;
      const auth = await authenticate(verifier, secret);
      return {
        auth,
        services,
        requestId: init.requestId ?? init.req?.requestId ?? randomUUID(),
        loaders: () => (loaders ??= services.loaders(auth.status === "ok" ? auth.actor.tenantId : "")),
      };
    },
  });
}
