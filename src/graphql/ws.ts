import type { Server } from "node:http";
import { randomUUID } from "node:crypto";
import { WebSocketServer } from "ws";
import { useServer } from "graphql-ws/use/ws";
import type { ExecutionArgs } from "graphql";
import type { ApiKeyVerifier } from "../domain/api-keys.js";
import { authenticate, secretFrom } from "./auth.js";
import { maskError } from "./errors.js";
import type { Yoga } from "./yoga.js";

/** Close code for a refused connection; the reason is the contract error code. */
export const WS_AUTH_FAILED = 4403;

type Enveloped = ReturnType<Yoga["getEnveloped"]>;

/**
 * graphql-ws on the HTTP server's /graphql path, running every operation through Yoga's
 * envelop (same schema, auth, limits and error masking as HTTP). Credentials are
 * checked when the socket connects; a socket without valid ones is closed at once.
 */
export function attachGraphQLWs(server: Server, yoga: Yoga, verifier: ApiKeyVerifier) {
  const wss = new WebSocketServer({ server, path: yoga.graphqlEndpoint });
  const disposable = useServer<Record<string, unknown> | undefined>(
    {
      execute: (args) => (args.rootValue as Enveloped).execute(args),
      subscribe: (args) => (args.rootValue as Enveloped).subscribe(args),
      onConnect: async (ctx) => {
        const p = ctx.connectionParams ?? {};
        const auth = await authenticate(verifier, secretFrom(p.authorization ?? p.Authorization, p.apiKey));
        if (auth.status === "ok") return true;
        ctx.extra.socket.close(WS_AUTH_FAILED, auth.status === "missing" ? "AUTH_TOKEN_MISSING" : "AUTH_TOKEN_INVALID");
        return false;
      },
      onSubscribe: async (ctx, _id, payload) => {
        const enveloped = yoga.getEnveloped({
          req: ctx.extra.request,
          connectionParams: ctx.connectionParams ?? {},
          requestId: randomUUID(),
        });
        let document;
        try {
          document = enveloped.parse(payload.query);
        } catch (err) {
          return [maskError(err)];
        }
        const args: ExecutionArgs = {
          schema: enveloped.schema,
          operationName: payload.operationName,
          document,
          variableValues: payload.variables,
          contextValue: await enveloped.contextFactory(),
          rootValue: enveloped,
        };
        const errors = enveloped.validate(args.schema, args.document);
        return errors.length ? errors.map(maskError) : args;
      },
      onError: (_ctx, _id, _payload, errors) => errors.map((e) => maskError(e).toJSON()),
    },
    wss,
  );
  return {
    wss,
    /** Closes every socket (1001 Going Away) and the server. */
    async close(): Promise<void> {
      for (const client of wss.clients) client.close(1001, "server shutting down");
      await disposable.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
