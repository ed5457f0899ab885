import type { TestServer } from "./server.js";
import { uniq } from "./server.js";

/** Creates a scope with a random slug through the API; returns its id. */
export async function createScope(s: TestServer, key = s.adminKey): Promise<string> {
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
  s: TestServer,
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
