import http from "node:http";
import { createClient, type Client } from "graphql-ws";
import WebSocket from "ws";

/** One GraphQL transport: a request answers `data` or throws with the first error. */
export type Gql = {
  request<T = any>(query: string, variables?: Record<string, unknown>): Promise<T>;
  close(): Promise<void>;
};

export class GqlError extends Error {
  constructor(readonly errors: { message: string; extensions?: { code?: string } }[]) {
    super(errors.map((e) => `${e.extensions?.code ?? "ERROR"}: ${e.message}`).join("; "));
  }
}

/**
 * POSTs over HTTP/1.1 with a keep-alive agent, so each of `maxSockets` concurrent callers
 * reuses its own connection (no TCP handshake per request).
 */
export function httpGql(url: string, key: string, maxSockets: number): Gql {
  const u = new URL(url);
  // Idle sockets are dropped after 4 s, before the server's 5 s keep-alive timeout closes them.
  const agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets, timeout: 4000 });
  const send = <T>(body: string, retries: number): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const req = http.request(
        {
          agent,
          host: u.hostname,
          port: u.port,
          path: u.pathname,
          method: "POST",
          headers: {
            "content-type": "application/json",
            "content-length": Buffer.byteLength(body),
            authorization: `Bearer ${key}`,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            try {
              const out = JSON.parse(Buffer.concat(chunks).toString("utf8"));
              if (out.errors?.length) reject(new GqlError(out.errors));
              else if (res.statusCode !== 200) reject(new Error(`HTTP ${res.statusCode}`));
              else resolve(out.data as T);
            } catch (err) {
              reject(err);
            }
          });
          res.on("error", reject);
        },
      );
      req.on("error", (err: NodeJS.ErrnoException) => {
        // A request written on a kept-alive socket just as the server closed it was never
        // read: send it again (the next free socket may be as stale, hence a few tries).
        if (retries > 0 && req.reusedSocket && (err.code === "ECONNRESET" || err.code === "EPIPE")) send<T>(body, retries - 1).then(resolve, reject);
        else reject(err);
      });
      req.end(body);
    });
  return {
    request<T>(query: string, variables?: Record<string, unknown>) {
      return send<T>(JSON.stringify({ query, variables }), 3);
    },
    async close() {
      agent.destroy();
    },
  };
}

/** A graphql-ws client (one WebSocket) authenticated with connectionParams. */
export function wsClient(wsUrl: string, key: string): Client {
  return createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    lazy: false,
    retryAttempts: 0,
    connectionParams: { authorization: `Bearer ${key}` },
    onNonLazyError: () => {},
  });
}

/** Mutations and queries over one graphql-ws socket (the protocol's single-result operations). */
export function wsGql(wsUrl: string, key: string): Gql {
  return gqlOver(wsClient(wsUrl, key));
}

/** Requests over a graphql-ws client that may also carry subscriptions. */
export function gqlOver(client: Client): Gql {
  return {
    request<T>(query: string, variables?: Record<string, unknown>) {
      return new Promise<T>((resolve, reject) => {
        let data: T | undefined;
        client.subscribe<T>(
          { query, variables },
          {
            next: (r) => {
              if (r.errors?.length) reject(new GqlError(r.errors as never));
              else data = r.data as T;
            },
            error: (err) => reject(Array.isArray(err) ? new GqlError(err) : err instanceof Error ? err : new Error(String(err))),
            complete: () => resolve(data as T),
          },
        );
      });
    },
    close: () => client.dispose() as Promise<void>,
  };
}

/**
 * At most `n` requests of `gql` in flight, the others waiting their turn in order: what
 * an HTTP agent with `n` sockets does, for a graphql-ws socket, which would otherwise
 * take every request at once (an overloaded server then lets them wait for MariaDB
 * connections until the pool's timeout fails them).
 */
export function bounded(gql: Gql, n: number): Gql {
  let active = 0;
  const waiting: (() => void)[] = [];
  return {
    async request<T>(query: string, variables?: Record<string, unknown>) {
      if (active >= n) await new Promise<void>((r) => waiting.push(r));
      active++;
      try {
        return await gql.request<T>(query, variables);
      } finally {
        active--;
        waiting.shift()?.();
      }
    },
    close: () => gql.close(),
  };
}

/**
 * Subscribes and calls `onData` with each payload; answers the unsubscribe function.
 * Errors go to `onError` (a refused or broken subscription must not pass silently).
 */
export function subscribe<T>(
  client: Client,
  query: string,
  variables: Record<string, unknown>,
  onData: (data: T) => void,
  onError: (err: unknown) => void,
): () => void {
  return client.subscribe<T>(
    { query, variables },
    {
      next: (r) => (r.errors?.length ? onError(new GqlError(r.errors as never)) : onData(r.data as T)),
      error: (err) => onError(Array.isArray(err) ? new GqlError(err) : err),
      complete: () => {},
    },
  );
}

export const Q = {
  createScope: `mutation($i: CreateScopeInput!) { createScope(input: $i) { id } }`,
  createQueue: `mutation($i: CreateQueueInput!) { createQueue(input: $i) { id } }`,
  publish: `mutation($i: PublishInput!) { publish(input: $i) { message { id } } }`,
  publishBatch: `mutation($is: [PublishInput!]!) { publishBatch(inputs: $is) { message { id } } }`,
  claim: `mutation($i: ClaimInput!) { claim(input: $i) { id claimToken } }`,
  complete: `mutation($i: CompleteInput!) { complete(input: $i) { id } }`,
  completeBatch: `mutation($is: [CompleteInput!]!) { completeBatch(inputs: $is) { id } }`,
  depth: `query($q: ID!) { queueDepth(queueId: $q) { pending claimed delayed } }`,
  completed: `subscription($c: String!) { messageCompleted(correlationId: $c) { messageId correlationId } }`,
  published: `subscription($q: ID!) { messageEvents(queueId: $q, types: ["scaiqueue.message.published"]) { messageId } }`,
} as const;

export type Claimed = { id: string; claimToken: string };
