import type { TestServer } from "./server.js";
import { uniq } from "./server.js";

/** What the fixtures need of a server: a test server, or an `npm start` process's endpoint. */
export type Api = Pick<TestServer, "gql" | "adminKey">;

/** Creates a scope with a random slug through the API; returns its id. */
export async function createScope(s: Api, key = s.adminKey): Promise<string> {
  const r = await s.gql(
    `mutation($i: CreateScopeInput!) { createScope(input: $i) { id } }`,
    { i: { slug: `scope-${uniq()}`, displayName: "Test scope" } },
    key,
  );
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
  const r = await s.gql(
    `mutation($i: CreateQueueInput!) { createQueue(input: $i) { id } }`,
    { i: { scopeId, slug: `queue-${uniq()}`, displayName: "Test queue", ...extra } },
    key,
  );
  if (!r.data?.createQueue) throw new Error(`createQueue failed: ${JSON.stringify(r.errors)}`);
  return r.data.createQueue.id;
}

export const PUBLISH = `mutation($i: PublishInput!) { publish(input: $i) { duplicate message { id state correlationId attempts } } }`;
export const PUBLISH_BATCH = `mutation($is: [PublishInput!]!) { publishBatch(inputs: $is) { duplicate message { id } } }`;
export const CLAIM = `mutation($i: ClaimInput!) { claim(input: $i) { id claimToken attempts state body priorityTier priorityScore } }`;
export const COMPLETE = `mutation($i: CompleteInput!) { complete(input: $i) { id state response completedAt } }`;
export const COMPLETE_BATCH = `mutation($is: [CompleteInput!]!) { completeBatch(inputs: $is) { id state } }`;
export const DEPTH = `query($q: ID!) { queueDepth(queueId: $q) { pending claimed delayed } }`;

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
  let after: string | null = null;
  for (;;) {
    const r: any = await s.gql(`query($q: ID!, $a: String) { messages(queueId: $q, first: 500, after: $a) { edges { node { state } } pageInfo { hasNextPage endCursor } } }`, { q: queueId, a: after });
    for (const e of r.data.messages.edges) counts[e.node.state] = (counts[e.node.state] ?? 0) + 1;
    if (!r.data.messages.pageInfo.hasNextPage) return counts;
    after = r.data.messages.pageInfo.endCursor;
  }
}
