import type { IncomingMessage, Server } from "node:http";
import type { Socket } from "node:net";
import { randomUUID } from "node:crypto";
import { WebSocketServer, type WebSocket } from "ws";
import { useServer } from "graphql-ws/use/ws";
import type { ExecutionArgs } from "graphql";
import type { Config } from "../config.js";
import type { ApiKeyVerifier } from "../domain/api-keys/keys.js";
import type { KeyConnections } from "./key-connections.js";
import { RateLimitedError } from "../errors.js";
import { authenticate, secretFrom, type AuthFailures } from "./auth.js";
import { maskError } from "./errors.js";
import { coalesceFrames } from "./ws-frames.js";
import type { Yoga } from "./yoga.js";

/** Close code for a refused connection; the reason is the contract error code. */
export const WS_AUTH_FAILED = 4403;
/** The key already holds WS_MAX_CONNECTIONS_PER_KEY sockets on this process (reason RATE_LIMITED); graphql-ws clients do not retry it. */
export const WS_KEY_LIMIT = 4429;
/** graphql-ws's "Connection initialisation timeout": a socket that did not send connection_init in time, or was pushed out waiting. */
export const WS_INIT_TIMEOUT = 4408;
/** The process holds WS_MAX_CONNECTIONS sockets (reason RATE_LIMITED): Try Again Later, which graphql-ws clients retry. */
export const WS_TRY_AGAIN_LATER = 1013;

type Enveloped = ReturnType<Yoga["getEnveloped"]>;

/**
 * graphql-ws on the HTTP server's /graphql path, running every operation through Yoga's
 * envelop (same schema, auth, limits and error masking as HTTP). Credentials are
 * checked when the socket connects; a socket without valid ones is closed at once.
 * Sockets are bounded per process, per API key and in operations per socket (counted in
 * this process: the bounds protect its memory and file descriptors).
 */
export function attachGraphQLWs(
  server: Server,
  yoga: Yoga,
  verifier: ApiKeyVerifier,
  authFailures: AuthFailures,
  config: Pick<Config, "ws" | "browser" | "limits">,
  connections: KeyConnections,
) {
  const limits = config.ws;
  const wss = new WebSocketServer({
    server,
    path: yoga.graphqlEndpoint,
    // Frames are bounded like HTTP bodies (ws would take 100 MiB); a bigger one closes the socket 1009.
    maxPayload: config.limits.requestBytes,
    verifyClient: ({ origin, req }, answer) =>
      originAllowed(origin, req, config.browser.corsOrigins) ? answer(true) : answer(false, 403, "origin not allowed"),
  });
  // Sockets that have not been accepted yet (no valid connection_init), oldest first, and
  // how many have been. Only accepted sockets count toward WS_MAX_CONNECTIONS: sockets a
  // client opened and never initialised kept real clients out (1013) while they lasted.
  // Of those, at most WS_MAX_PENDING_CONNECTIONS wait; a newer one pushes the oldest out
  // (4408, as its init timeout would), so a real client, which sends connection_init at
  // once, gets in however many idle ones someone keeps opening.
  const pending = new Set<WebSocket>();
  let accepted = 0;
  // Registered before graphql-ws's own listener, so an extra socket is refused before anything else.
  wss.on("connection", (socket, request) => {
    pending.add(socket);
    socket.once("close", () => pending.delete(socket));
    if (pending.size > limits.maxPendingConnections) {
      const oldest = pending.values().next().value!;
      pending.delete(oldest);
      oldest.close(WS_INIT_TIMEOUT, "Connection initialisation timeout");
    }
    coalesceFrames(socket, request.socket as Socket);
  });
  const socketsOfKey = new Map<string, number>();

  const disposable = useServer<Record<string, unknown> | undefined>(
    {
      connectionInitWaitTimeout: limits.connectionInitTimeoutMs,
      execute: (args) => (args.rootValue as Enveloped).execute(args),
      subscribe: (args) => (args.rootValue as Enveloped).subscribe(args),
      onConnect: async (ctx) => {
        const p = ctx.connectionParams ?? {};
        const socket = ctx.extra.socket;
        const auth = await authenticate(verifier, authFailures, secretFrom(p.authorization ?? p.Authorization, p.apiKey), ctx.extra.request.socket.remoteAddress);
        if (auth.status === "throttled") {
          socket.close(WS_KEY_LIMIT, "RATE_LIMITED");
          return false;
        }
        if (auth.status !== "ok") {
          socket.close(WS_AUTH_FAILED, auth.status === "missing" ? "AUTH_TOKEN_MISSING" : "AUTH_TOKEN_INVALID");
          return false;
        }
        if (socket.readyState !== socket.OPEN) return false; // closed while the key was looked up: nothing to count
        pending.delete(socket);
        if (accepted >= limits.maxConnections) {
          socket.close(WS_TRY_AGAIN_LATER, "RATE_LIMITED");
          return false;
        }
        const { keyId } = auth.actor;
        const held = socketsOfKey.get(keyId) ?? 0;
        if (held >= limits.maxConnectionsPerKey) {
          socket.close(WS_KEY_LIMIT, "RATE_LIMITED");
          return false;
        }
        socketsOfKey.set(keyId, held + 1);
        accepted++;
        socket.once("close", () => accepted--);
        // closed when the key is revoked or this secret rotated out
        socket.once("close", connections.add(keyId, auth.secretHash, () => socket.close(WS_AUTH_FAILED, "AUTH_TOKEN_INVALID")));
        socket.once("close", () => {
          const left = (socketsOfKey.get(keyId) ?? 1) - 1;
          if (left > 0) socketsOfKey.set(keyId, left);
          else socketsOfKey.delete(keyId);
        });
        return true;
      },
      onSubscribe: async (ctx, _id, payload) => {
        // graphql-ws has already entered this operation in ctx.subscriptions.
        if (Object.keys(ctx.subscriptions).length > limits.maxSubscriptionsPerConnection) {
          return [
            maskError(
              new RateLimitedError(`at most ${limits.maxSubscriptionsPerConnection} operations at once on one connection`),
            ),
          ];
        }
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

/**
 * Browsers always send Origin on a WebSocket handshake and do not apply CORS to it, so
 * the server does: a page of an origin CORS_ORIGINS does not allow cannot open a socket
 * either. Programs send no Origin and are not affected.
 */
function originAllowed(origin: string | undefined, req: IncomingMessage, allowed: Config["browser"]["corsOrigins"]): boolean {
  if (!origin || allowed === "*" || allowed.includes(origin)) return true;
  try {
    return new URL(origin).host === req.headers.host; // same origin
  } catch {
    return false;
  }
}
