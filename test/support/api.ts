import type { TestServer } from "./server.js";
import { ok, uniq } from "./server.js";
import { API_KEYS, CREATE_QUEUE, CREATE_SCOPE, MESSAGES, MESSAGE_STATES, PUBLISH_BATCH, SCOPE, SCOPE_DEPTHS } from "./ops.js";

/* Helpers that work through the API, on a test server or an `npm start` process's endpoint. */

/** What the helpers need of a server: a test server, or an `npm start` process's endpoint. */
export type Api = Pick<TestServer, "gql" | "adminKey">;

/** Creates a scope with a random slug through the API; returns its id. */
export async function createScope(s: Api, key = s.adminKey): Promise<string> {
  const r = await s.gql(CREATE_SCOPE, { i: { slug: `scope-${uniq()}`, displayName: "Test scope" } }, key);
  if (!r.data?.createScope) throw new Error(`createScope failed: ${JSON.stringify(r.errors)}`);
  return r.data.createScope.id;
}

/** Creates a queue in `scopeId` (FIFO COMPETING unless told otherwise); returns its id. */
export async function createQueue(
  s: Api,
  scopeId: string,
  extra: Record<string, unknown> = {},
  key = s.adminKey,
): Promise<string> {
  const r = await s.gql(CREATE_QUEUE, { i: { scopeId, slug: `queue-${uniq()}`, displayName: "Test queue", ...extra } }, key);
  if (!r.data?.createQueue) throw new Error(`createQueue failed: ${JSON.stringify(r.errors)}`);
  return r.data.createQueue.id;
}

/** Publishes `n` messages (body `{ n: i }`) in batches of 500; returns their ids in order. */
export async function publishMany(s: Api, queueId: string, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i += 500) {
    const r = await s.gql(PUBLISH_BATCH, { is: Array.from({ length: Math.min(500, n - i) }, (_, j) => ({ queueId, body: { n: i + j } })) });
    if (!r.data?.publishBatch) throw new Error(`publishBatch failed: ${JSON.stringify(r.errors)}`);
    ids.push(...r.data.publishBatch.map((p: { message: { id: string } }) => p.message.id));
  }
  return ids;
}

/** How many of a queue's messages are in each state, read page by page through `messages`. */
export async function stateCounts(s: Api, queueId: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  let after: string | undefined;
  for (;;) {
    const r = await ok(s.gql(MESSAGE_STATES, { q: queueId, first: 500, after }));
    for (const e of r.messages.edges) counts[e.node.state] = (counts[e.node.state] ?? 0) + 1;
    if (!r.messages.pageInfo.hasNextPage) return counts;
    after = r.messages.pageInfo.endCursor;
  }
}

/** The messages of one page of MESSAGES (variables: q, s, c, state, first, after), oldest first. */
export async function messagesOf(s: Api, filter: Record<string, unknown>, key = s.adminKey): Promise<any[]> {
  return (await ok(s.gql(MESSAGES, filter, key))).messages.edges.map((e: { node: unknown }) => e.node);
}

/** The id of one of a scope's system queues (`_dead_letter`, `_events`, `_integrity`, `_audit`, `_corrections`). */
export async function systemQueue(s: Api, scopeId: string, slug: string): Promise<string> {
  const queues: { id: string; slug: string; system: boolean }[] = (await ok(s.gql(SCOPE, { id: scopeId }))).scope.queues;
  const q = queues.find((x) => x.slug === slug);
  if (!q?.system) throw new Error(`scope ${scopeId} has no system queue ${slug}`);
  return q.id;
}

/** How many messages wait in the scope's `_dead_letter` queue. */
export async function deadLetterDepth(s: Api, scopeId: string): Promise<number> {
  const queues: { slug: string; depth: { pending: number } }[] = (await ok(s.gql(SCOPE_DEPTHS, { id: scopeId }))).scope.queues;
  return queues.find((q) => q.slug === "_dead_letter")!.depth.pending;
}

/** The id of the tenant's key holding scaiqueue:manage that the tests act with (the bootstrap key). */
export async function adminKeyId(s: Api): Promise<string> {
  const keys: { id: string; permissions: string[] }[] = (await ok(s.gql(API_KEYS))).apiKeys;
  return keys.find((k) => k.permissions.includes("scaiqueue:manage"))!.id;
}

/** The named fields of `o` only: for a toEqual on the part of an answer a test checks. */
export function pick<T extends object, K extends keyof T>(o: T, ...keys: K[]): Pick<T, K> {
  return Object.fromEntries(keys.map((k) => [k, o[k]])) as Pick<T, K>;
}
