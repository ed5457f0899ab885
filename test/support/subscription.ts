import type { Client } from "graphql-ws";
import { track, untrack } from "./resources.js";

export type Subscription<T> = {
  /** The next payload, or a rejection after `timeoutMs`. */
  next(timeoutMs?: number): Promise<T>;
  /** Resolves true if nothing arrives within `ms`. */
  quiet(ms: number): Promise<boolean>;
  /** Payloads received and not yet taken by next(). */
  buffered(): T[];
  close(): void;
};

/**
 * Subscribes and buffers every result, so a test can take them one at a time with a
 * timeout (after enisdenjo/graphql-ws tests/utils/tclient.ts). Errors reject next().
 */
export function subscribe<T = any>(client: Client, query: string, variables?: Record<string, unknown>): Subscription<T> {
  const buffer: T[] = [];
  const waiters: { resolve: (v: T) => void; reject: (e: unknown) => void }[] = [];
  let failure: unknown = null;
  const fail = (err: unknown) => {
    failure = err;
    for (const w of waiters.splice(0)) w.reject(err);
  };
  const unsubscribe = client.subscribe<T>(
    { query, variables },
    {
      next: (r) => {
        if (r.errors?.length) return fail(new SubscriptionError(r.errors as never));
        const w = waiters.shift();
        if (w) w.resolve(r.data as T);
        else buffer.push(r.data as T);
      },
      error: (err) => fail(Array.isArray(err) ? new SubscriptionError(err) : err),
      complete: () => {},
    },
  );
  const sub: Subscription<T> = {
    next(timeoutMs = 5000) {
      if (buffer.length) return Promise.resolve(buffer.shift()!);
      if (failure) return Promise.reject(failure);
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no subscription event within ${timeoutMs} ms`)), timeoutMs);
        waiters.push({
          resolve: (v) => (clearTimeout(timer), resolve(v)),
          reject: (e) => (clearTimeout(timer), reject(e)),
        });
      });
    },
    async quiet(ms) {
      await new Promise((r) => setTimeout(r, ms));
      return buffer.length === 0 && !failure;
    },
    buffered: () => buffer,
    close() {
      untrack(sub);
      unsubscribe();
    },
  };
  return track(sub, `subscription ${query.slice(0, 60)}`, () => sub.close());
}

export class SubscriptionError extends Error {
  constructor(readonly errors: { message: string; extensions?: { code?: string } }[]) {
    super(errors.map((e) => `${e.extensions?.code}: ${e.message}`).join("; "));
    this.name = "SubscriptionError";
  }
  get code(): string | undefined {
    return this.errors[0]?.extensions?.code;
  }
}
