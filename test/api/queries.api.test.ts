import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, uniq, type GqlResult, type TestServer } from "../support/server.js";
import { createQueue, createScope, pick } from "../support/api.js";
import { CHANGE_STATE, CLAIM, CREATE_SCOPE, MESSAGE, MESSAGES, PUBLISH, QUEUE, SCOPE, SCOPES } from "../support/ops.js";

let s: TestServer;
let statements: string[] = [];
beforeAll(async () => {
  s = await startTestServer({}, { onQuery: (sql) => statements.push(sql) });
});
afterAll(() => s?.stop());

/** Runs one operation and returns how many SQL statements it caused. */
async function countStatements(query: string, variables?: Record<string, unknown>) {
  statements = [];
  const r = await s.gql(query, variables);
  expect(r.errors).toBeUndefined();
  // key lookups are cached per process; count only the statements of the operation itself
  return { result: r, count: statements.filter((q) => !q.includes("api_keys")).length };
}

describe("reads", () => {
  it("batch nested lookups: statements do not grow with the number of scopes, queues or messages", async () => {
    const NESTED = `{ scopes { id queues { id scope { slug } depth { pending } } } }`;
    await createScope(s);
    await s.gql(SCOPES); // warm the key cache
    const one = await countStatements(NESTED);
    for (let i = 0; i < 5; i++) await createQueue(s, await createScope(s));
    const six = await countStatements(NESTED);
    expect(six.result.data.scopes).toHaveLength(6);
    expect(six.count).toBe(one.count);
    // scopes, their queues, one look for staged events and one grouped count for the MariaDB-served _events queues
    expect(six.count).toBeLessThanOrEqual(5);

    const scopeId = await createScope(s);
    const queueId = await createQueue(s, scopeId);
    for (let i = 0; i < 20; i++) await s.gql(PUBLISH, { i: { queueId, body: { i } } });
    const page = await countStatements(`query($q: ID!) { messages(queueId: $q, first: 20) { edges { node { id queue { slug scope { slug } } } } } }`, { q: queueId });
    expect(page.result.data.messages.edges).toHaveLength(20);
    expect(page.count).toBeLessThanOrEqual(3);
  });

  it("finds scopes by id and slug, queues and messages by id, and answers null for unknown ids", async () => {
    const slug = `find-${uniq()}`;
    const created = await s.gql(CREATE_SCOPE, { i: { slug, displayName: "Find me", description: "d" } });
    const scopeId = created.data.createScope.id;
    const bySlug = await s.gql(SCOPE, { slug });
    expect(pick(bySlug.data.scope, "id", "slug", "displayName", "description", "state")).toEqual({ id: scopeId, slug, displayName: "Find me", description: "d", state: "ACTIVE" });
    const byId = await s.gql(SCOPE, { id: scopeId });
    expect(byId.data.scope.slug).toBe(slug);
    const queueId = await createQueue(s, scopeId, { ordering: "PRIORITY", maxRetries: 3, maxDepth: 10 });
    const q = await s.gql(QUEUE, { id: queueId });
    expect(pick(q.data.queue, "ordering", "consumerMode", "state", "visibilityTimeoutS", "maxRetries", "maxDepth", "overflowPolicy", "system", "scope")).toEqual({
      ordering: "PRIORITY", consumerMode: "COMPETING", state: "ACTIVE", visibilityTimeoutS: 30, maxRetries: 3,
      maxDepth: 10, overflowPolicy: "REJECT", system: false, scope: { id: scopeId },
    });
    const unknown = "01a22820-0000-7000-8000-000000000000";
    const nulls = await s.gql(`query($i: ID!) { scope(id: $i) { id } queue(id: $i) { id } message(id: $i) { id } }`, { i: unknown });
    expect(nulls.data).toEqual({ scope: null, queue: null, message: null });
    const garbage = await s.gql(MESSAGE, { id: "not-an-id" });
    expect(garbage.data).toEqual({ message: null });
  });

  it("pages through messages with filters by queue, scope, correlation id and state", async () => {
    const scopeId = await createScope(s);
    const a = await createQueue(s, scopeId);
    const b = await createQueue(s, scopeId);
    const c = `corr-${uniq()}`;
    for (let i = 0; i < 7; i++) await s.gql(PUBLISH, { i: { queueId: i % 2 ? a : b, body: { i }, correlationId: i < 3 ? c : null } });
    const bodies = async (vars: Record<string, unknown>) => {
      const out: number[] = [];
      let after: string | null = null;
      for (;;) {
        const r: GqlResult = await s.gql(MESSAGES, { ...vars, first: 2, after });
        out.push(...r.data.messages.edges.map((e: any) => e.node.body.i));
        if (!r.data.messages.pageInfo.hasNextPage) return out;
        after = r.data.messages.pageInfo.endCursor;
      }
    };
    expect(await bodies({ s: scopeId })).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(await bodies({ q: a })).toEqual([1, 3, 5]);
    expect(await bodies({ c })).toEqual([0, 1, 2]);
    expect(await bodies({ q: b, c })).toEqual([0, 2]);
    const bad = await s.gql(MESSAGES, { after: "zzz" });
    expect(bad.errors?.[0]?.extensions?.code).toBe("VALIDATION_ERROR");
  });

  it("pauses and resumes: a paused queue or scope refuses publishes and hands out nothing", async () => {
    const scopeId = await createScope(s);
    const queueId = await createQueue(s, scopeId);
    await s.gql(PUBLISH, { i: { queueId, body: { before: true } } });
    const paused = await s.gql(CHANGE_STATE("pause", "Queue"), { id: queueId });
    expect(paused.data.pauseQueue.state).toBe("PAUSED");
    expect((await s.gql(PUBLISH, { i: { queueId, body: {} } })).errors?.[0]?.extensions?.code).toBe("SCAIQUEUE_QUEUE_PAUSED");
    expect((await s.gql(CLAIM, { i: { queueId } })).data.claim).toEqual([]);
    await s.gql(CHANGE_STATE("resume", "Queue"), { id: queueId });
    await s.gql(CHANGE_STATE("pause", "Scope"), { id: scopeId });
    expect((await s.gql(PUBLISH, { i: { queueId, body: {} } })).errors?.[0]?.extensions?.code).toBe("SCAIQUEUE_SCOPE_PAUSED");
    expect((await s.gql(CLAIM, { i: { queueId } })).data.claim).toEqual([]);
    await s.gql(CHANGE_STATE("resume", "Scope"), { id: scopeId });
    expect((await s.gql(CLAIM, { i: { queueId } })).data.claim).toHaveLength(1);
  });
});
