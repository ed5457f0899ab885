import type { ExecutionResult } from "graphql";
import type { Plugin } from "graphql-yoga";
import type { ApiKeyVerifier } from "../domain/api-keys/keys.js";
import { AuthTokenInvalidError, RateLimitedError } from "../errors.js";
import type { Context } from "../schema/context.js";
import { maskError } from "./errors.js";

/**
 * How often every open connection's secret is checked again. Revocations are announced
 * (key-changes.ts) and end connections at once; this is the bound when an announcement
 * is lost, and what ends a rotated-out secret's connections when its grace runs out.
 * One query per thousand distinct secrets per tick.
 */
const RECHECK_EVERY_MS = 1000;

type Open = { keyId: string; secretHash: string; end: () => void };

/**
 * The long-lived connections of this process by the secret that opened them: graphql-ws
 * sockets (ended by closing them 4403 AUTH_TOKEN_INVALID, as a connection attempt with
 * that secret would be) and subscriptions over HTTP (SSE, ended with an
 * AUTH_TOKEN_INVALID error). A revoked key, or a secret rotated out, loses them.
 */
export class KeyConnections {
  private readonly open = new Set<Open>();
  private timer: NodeJS.Timeout | null = null;
  private sweeping = false;

  constructor(
    private readonly verifier: ApiKeyVerifier,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Tracks a connection until the returned function is called (when it closes by itself). */
  add(keyId: string, secretHash: string, end: () => void): () => void {
    const entry = { keyId, secretHash, end };
    this.open.add(entry);
    return () => this.open.delete(entry);
  }

  start(): void {
    this.timer ??= setInterval(() => {
      if (this.sweeping) return; // a slow database: skip a tick rather than pile up queries
      this.sweeping = true;
      this.recheck()
        .catch(this.onError)
        .finally(() => (this.sweeping = false));
    }, RECHECK_EVERY_MS).unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Ends the connections (of one key, or all) whose secret no longer authenticates. */
  async recheck(keyId?: string): Promise<void> {
    const open = [...this.open].filter((c) => keyId === undefined || c.keyId === keyId);
    if (!open.length) return;
    const valid = await this.verifier.stillValid([...new Set(open.map((c) => c.secretHash))]);
    for (const c of open) {
      if (valid.has(c.secretHash) || !this.open.delete(c)) continue;
      c.end();
    }
  }
}

/**
 * Subscriptions over HTTP (SSE: GraphiQL's, or any client's) are tracked like sockets:
 * when their secret stops authenticating they send one AUTH_TOKEN_INVALID error and
 * complete. graphql-ws operations end with their socket instead. Like sockets, they are
 * bounded per key and process (SSE_MAX_STREAMS_PER_KEY; past it RATE_LIMITED): each
 * holds a connection and a listener for as long as the client keeps it.
 */
export function useRevocableSubscriptions(connections: KeyConnections, maxStreamsPerKey: number): Plugin<Context> {
  const streamsOfKey = new Map<string, number>();
  const release = (keyId: string) => {
    const left = (streamsOfKey.get(keyId) ?? 1) - 1;
    if (left > 0) streamsOfKey.set(keyId, left);
    else streamsOfKey.delete(keyId);
  };
  return {
    onSubscribe: ({ args, setResultAndStopExecution }) => {
      const ctx = args.contextValue as Context;
      if (ctx.transport !== "http" || ctx.auth.status !== "ok") return;
      const { actor, secretHash } = ctx.auth;
      if ((streamsOfKey.get(actor.keyId) ?? 0) >= maxStreamsPerKey) {
        setResultAndStopExecution({
          errors: [maskError(new RateLimitedError(`the API key holds ${maxStreamsPerKey} subscriptions over HTTP on this process (SSE_MAX_STREAMS_PER_KEY)`, 1))],
        });
        return;
      }
      return {
        onSubscribeResult: ({ result, setResult }) => {
          if (!(Symbol.asyncIterator in result)) return;
          streamsOfKey.set(actor.keyId, (streamsOfKey.get(actor.keyId) ?? 0) + 1);
          setResult(
            revocable(result, (end) => {
              const untrack = connections.add(actor.keyId, secretHash, end);
              let released = false;
              return () => {
                untrack();
                if (!released) release(actor.keyId);
                released = true;
              };
            }),
          );
        },
      };
    },
  };
}

/** `source`, ended early by the `end` handed to `track`; then it yields one AUTH_TOKEN_INVALID error and is done. */
function revocable(
  source: AsyncIterable<ExecutionResult>,
  track: (end: () => void) => () => void,
): AsyncIterableIterator<ExecutionResult> {
  const it = source[Symbol.asyncIterator]();
  let revoked = false;
  let finished = false;
  const untrack = track(() => {
    revoked = true;
    void it.return?.(); // a next() waiting for an event resolves done at once
  });
  const finish = () => {
    finished = true;
    untrack();
  };
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next() {
      if (finished) return { value: undefined, done: true };
      let r: IteratorResult<ExecutionResult>;
      try {
        r = await it.next();
      } catch (err) {
        finish();
        throw err;
      }
      if (!r.done) return r;
      finish();
      return revoked ? { value: { errors: [maskError(new AuthTokenInvalidError())] }, done: false } : r;
    },
    async return() {
      finish();
      return (await it.return?.()) ?? { value: undefined, done: true };
    },
  };
}
