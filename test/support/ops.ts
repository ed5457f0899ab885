/*
 * The GraphQL documents the tests send, each declared once. A selection covers what the
 * tests read of the answer; where a test asserts a whole answer with toEqual, it picks
 * the fields it names first (pick() in api.ts). Documents whose shape is the point of one
 * test (hostile queries, cost and size probes, the quickstart's literal steps) stay in
 * that test. test/unit/ops.test.ts checks every document here against the schema, and
 * its cost at the largest page a test asks for against MAX_QUERY_COST.
 *
 * Two constraints shape the selections:
 * - A key without scaiqueue:view may read a message's own fields but not its `queue`
 *   (nor anything through it): PUBLISH and CLAIM select no `queue`, for the tests that
 *   publish or claim with publish- or consume-only keys.
 * - A list multiplies what it selects by its page (`first`, a batch's length): MESSAGES
 *   costs 35 a message, so a page of 500 stays under MAX_QUERY_COST's default 20,000;
 *   MESSAGE_STATES is the light list for counting and paging.
 */

// ---- messages ---------------------------------------------------------------------------

/** A message's own fields: what any key that may see the message can select. */
const OWN_FIELDS = `id state messageType contentType labels priorityTier priorityScore correlationId causationId parentId
  idempotencyKey deadline ttlSeconds delayUntil attempts claimedBy claimedAt claimExpiresAt failureReason response hitlSpec body
  createdAt completedAt erasedAt`;
/** A message as a key with view sees it: its own fields and its queue. */
export const MESSAGE_FIELDS = `${OWN_FIELDS} queue { id slug }`;
/** What a page of messages selects of each (see the cost note above). */
const LISTED_FIELDS = `id queue { id } state messageType labels priorityTier priorityScore correlationId causationId parentId attempts
  failureReason response hitlSpec body createdAt completedAt erasedAt`;

export const PUBLISH = `mutation($i: PublishInput!) { publish(input: $i) { duplicate message { ${OWN_FIELDS} } } }`;
/** publish, answering the message with its queue (where a routing rule put it): needs view. */
export const PUBLISH_WITH_QUEUE = `mutation($i: PublishInput!) { publish(input: $i) { duplicate message { ${MESSAGE_FIELDS} } } }`;
export const PUBLISH_BATCH = `mutation($is: [PublishInput!]!) { publishBatch(inputs: $is) { duplicate message { id state } } }`;
export const CLAIM = `mutation($i: ClaimInput!) {
  claim(input: $i) { id claimToken attempts state messageType body priorityTier priorityScore correlationId claimedBy claimExpiresAt } }`;
export const COMPLETE = `mutation($i: CompleteInput!) { complete(input: $i) { id state response completedAt } }`;
export const COMPLETE_BATCH = `mutation($is: [CompleteInput!]!) { completeBatch(inputs: $is) { id state } }`;
export const FAIL = `mutation($i: FailInput!) { fail(input: $i) { id state attempts failureReason } }`;
export const RELEASE = `mutation($i: ReleaseInput!) { release(input: $i) { id state attempts } }`;
export const EXTEND = `mutation($i: ExtendInput!) { extend(input: $i) { id state claimExpiresAt } }`;

/** A queue's depth, or (with `g`) one consumer group's of a BROADCAST queue. */
export const DEPTH = `query($q: ID!, $g: String) { queueDepth(queueId: $q, consumerGroup: $g) { pending claimed delayed } }`;
export const MESSAGE = `query($id: ID!) { message(id: $id) { ${MESSAGE_FIELDS} } }`;
/** A page of messages, filtered by any of queue, scope, correlation id and state. */
export const MESSAGES = `query($q: ID, $s: ID, $c: String, $state: MessageState, $first: Int, $after: String) {
  messages(queueId: $q, scopeId: $s, correlationId: $c, state: $state, first: $first, after: $after) {
    edges { node { ${LISTED_FIELDS} } } pageInfo { hasNextPage endCursor } } }`;
/** MESSAGES with only ids and states: for counting and paging through thousands. */
export const MESSAGE_STATES = `query($q: ID, $s: ID, $c: String, $state: MessageState, $first: Int, $after: String) {
  messages(queueId: $q, scopeId: $s, correlationId: $c, state: $state, first: $first, after: $after) {
    edges { node { id state } } pageInfo { hasNextPage endCursor } } }`;
export const TRACE = `query($s: ID!, $c: String!) {
  trace(scopeId: $s, correlationId: $c) { eventId type messageId queueId state failureReason response message { id state body labels erasedAt } } }`;
/**
 * Everything of a tenant a write could touch, to compare before and after a refused one:
 * its scopes, their queues and depths, and its messages (of scope `s`, or all of them).
 */
export const SNAPSHOT = `query($s: ID) {
  scopes { id slug state queues { id slug state depth { pending claimed delayed } } }
  messages(scopeId: $s, first: 500) { edges { node { id queue { id } state attempts response } } } }`;
export const AUDIT_LOG = `query($s: ID!, $c: String, $a: String, $first: Int) {
  auditLog(scopeId: $s, correlationId: $c, action: $a, first: $first) { action actor scopeId queueId messageId correlationId details } }`;

// ---- subscriptions ----------------------------------------------------------------------

/** A waiter: every completion of the correlation id, earlier ones first. */
export const COMPLETED = `subscription($c: String!) {
  messageCompleted(correlationId: $c) { eventId type messageId queueId scopeId correlationId state response failureReason occurredAt } }`;
/** COMPLETED with the message as of its completion (one more read per event). */
export const COMPLETED_WITH_MESSAGE = `subscription($c: String!) {
  messageCompleted(correlationId: $c) { eventId type messageId correlationId state response message { id state response } } }`;
/** A queue's lifecycle events, of the given types only when `t` is given. */
export const EVENTS = `subscription($q: ID, $t: [String!]) {
  messageEvents(queueId: $q, types: $t) { eventId type messageId queueId state response failureReason
    message { id state body labels correlationId attempts claimedBy claimExpiresAt createdAt completedAt response priorityTier queue { id } } } }`;
/** A queue's depth at once, then each change. */
export const DEPTH_CHANGES = `subscription($q: ID!) { queueDepth(queueId: $q) { pending claimed delayed } }`;

// ---- scopes and queues ------------------------------------------------------------------

export const TYPENAME = `{ __typename }`;
/** The scopes a key sees: what tests send to find out whether a key still works. */
export const SCOPES = `{ scopes { id } }`;
/** A scope by id or by slug, with its queues (their depths are SCOPE_DEPTHS: reading one is work). */
export const SCOPE = `query($id: ID, $slug: String) { scope(id: $id, slug: $slug) { id slug displayName description state queues { id slug system } } }`;
export const SCOPE_DEPTHS = `query($id: ID!) { scope(id: $id) { queues { id slug depth { pending claimed delayed } } } }`;
export const QUEUE = `query($id: ID!) {
  queue(id: $id) { id slug displayName ordering consumerMode state visibilityTimeoutS maxRetries maxDepth overflowPolicy system scope { id } } }`;
export const CREATE_SCOPE = `mutation($i: CreateScopeInput!) { createScope(input: $i) { id slug displayName description state } }`;
export const CREATE_QUEUE = `mutation($i: CreateQueueInput!) {
  createQueue(input: $i) { id slug displayName ordering consumerMode state visibilityTimeoutS maxRetries maxDepth overflowPolicy system } }`;

export type LifecycleAction = "pause" | "resume" | "drain" | "archive" | "unarchive";
/** pauseScope, resumeQueue, … : the state changes of a scope or a queue. */
export const CHANGE_STATE = (action: LifecycleAction, kind: "Scope" | "Queue") => `mutation($id: ID!) { ${action}${kind}(id: $id) { id state } }`;

// ---- API keys ---------------------------------------------------------------------------

const KEY_FIELDS = `id name permissions rateLimit { perSecond burst isDefault } createdAt rotatedAt previousSecretExpiresAt revokedAt`;
export const API_KEYS = `{ apiKeys { ${KEY_FIELDS} } }`;
export const CREATE_API_KEY = `mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret apiKey { ${KEY_FIELDS} } } }`;
export const UPDATE_API_KEY = `mutation($id: ID!, $i: UpdateApiKeyInput!) { updateApiKey(id: $id, input: $i) { ${KEY_FIELDS} } }`;
export const REVOKE_API_KEY = `mutation($id: ID!) { revokeApiKey(id: $id) { ${KEY_FIELDS} } }`;
export const ROTATE_API_KEY = `mutation($id: ID!, $g: Int) { rotateApiKey(id: $id, graceS: $g) { secret apiKey { ${KEY_FIELDS} } } }`;

// ---- routing rules ----------------------------------------------------------------------

const RULE_FIELDS = `id name position enabled trigger sourceQueue { id } condition action`;
export const CREATE_RULE = `mutation($i: RoutingRuleInput!) { createRoutingRule(input: $i) { ${RULE_FIELDS} } }`;
export const UPDATE_RULE = `mutation($id: ID!, $i: RoutingRuleInput!) { updateRoutingRule(id: $id, input: $i) { ${RULE_FIELDS} } }`;
export const DELETE_RULE = `mutation($id: ID!) { deleteRoutingRule(id: $id) }`;
export const RULES = `query($s: ID!) { routingRules(scopeId: $s) { ${RULE_FIELDS} } }`;

// ---- message schemas --------------------------------------------------------------------

export const REGISTER_SCHEMA = `mutation($s: ID!, $n: String!, $v: String!, $schema: JSON!) {
  registerMessageSchema(scopeId: $s, name: $n, version: $v, schema: $schema) { id name version schema scope { id } } }`;
export const BIND_SCHEMA = `mutation($q: ID!, $n: String!, $v: String!) {
  bindQueueSchema(queueId: $q, name: $n, version: $v) { id messageSchema { name version } } }`;
export const MESSAGE_SCHEMAS = `query($s: ID!) { messageSchemas(scopeId: $s) { name version schema } }`;

// ---- human review -----------------------------------------------------------------------

export const REGISTER_PATTERN = `mutation($s: ID!, $n: String!, $v: String!, $spec: JSON!) {
  registerHitlPattern(scopeId: $s, name: $n, version: $v, spec: $spec) { id name version spec } }`;
export const PREVIEW_PATTERN = `query($s: ID!, $n: String!, $v: String, $p: JSON!) { previewHitlPattern(scopeId: $s, name: $n, version: $v, params: $p) }`;
export const PUBLISH_HITL = `mutation($q: ID!, $n: String!, $v: String, $p: JSON!, $c: String, $l: JSON) {
  publishHitl(queueId: $q, pattern: $n, version: $v, params: $p, correlationId: $c, labels: $l) {
    duplicate message { id state messageType body hitlSpec correlationId } } }`;
export const SUBMIT_REVIEW = `mutation($m: ID!, $t: String, $d: String!, $i: JSON) {
  submitReview(messageId: $m, claimToken: $t, decision: $d, inputs: $i) { id state response } }`;
export const HITL_PATTERNS = `query($s: ID!) { hitlPatterns(scopeId: $s) { name version } }`;

// ---- erasure ----------------------------------------------------------------------------

const JOB_FIELDS = `id scope { id } state selector matched erased waitingForClaims requestedBy error createdAt startedAt finishedAt`;
export const START_ERASURE = `mutation($i: ErasureInput!) { startErasure(input: $i) { ${JOB_FIELDS} } }`;
export const ERASURE_JOB = `query($id: ID!) { erasureJob(id: $id) { ${JOB_FIELDS} } }`;
export const ERASURE_JOBS = `query($s: ID!) { erasureJobs(scopeId: $s) { id state } }`;
