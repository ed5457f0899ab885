import { describe, expect, test as base } from "../support/test.js";
import { code, ok, uniq, type TestServer } from "../support/server.js";
import { createQueue, createScope, messagesOf as listed, pick, systemQueue as systemQueueOf } from "../support/api.js";
import { AUDIT_LOG, CLAIM, COMPLETE, DEPTH, ERASURE_JOB as JOB, ERASURE_JOBS as JOBS, FAIL, MESSAGE, PUBLISH, START_ERASURE as START, TRACE } from "../support/ops.js";
import { gdprEraser } from "../../src/agents/gdpr-eraser.js";
import { HOLD_GRACE_MS } from "../../src/domain/erasure/run.js";

/*
 * GDPR erasure end to end: jobs started over HTTP, run by the gdpr_eraser agent's
 * runOnce (agents are off in tests), checked through the public API.
 */

// What the tests publish about their data subject; none of it may survive an erasure.
const PERSONAL = ["Alice Example", "alice@example.com", "+44 20 7946 0958", "221B Baker Street", "Alice's card was declined"];

/** The erasure jobs, messages and records of one server. */
function erasureOn(s: TestServer) {
  const systemQueue = (scopeId: string, slug: string) => systemQueueOf(s, scopeId, slug);
  const messagesOf = (filter: { queueId?: string; scopeId?: string }): Promise<any[]> => listed(s, { q: filter.queueId, s: filter.scopeId, first: 500 });
  const job = async (id: string): Promise<any> => (await ok(s.gql(JOB, { id }))).erasureJob;
  return {
    systemQueue,
    messagesOf,
    job,
    message: async (id: string): Promise<any> => (await ok(s.gql(MESSAGE, { id }))).message,
    publish: async (queueId: string, input: Record<string, unknown>): Promise<string> =>
      (await ok(s.gql(PUBLISH, { i: { queueId, ...input } }))).publish.message.id,
    async claimOne(queueId: string): Promise<{ id: string; claimToken: string; body: unknown }> {
      const [m] = (await ok(s.gql(CLAIM, { i: { queueId } }))).claim;
      return m;
    },
    start: async (input: Record<string, unknown>, key = s.adminKey): Promise<any> => (await ok(s.gql(START, { i: input }, key))).startErasure,
    /** Sweeps the eraser until the job is over (it never needs more than a few sweeps here). */
    async runToEnd(id: string, now = Date.now()): Promise<any> {
      for (let i = 0; i < 10; i++) {
        await s.sweep("gdpr_eraser", now);
        const j = await job(id);
        if (j.state === "COMPLETED" || j.state === "FAILED") return j;
      }
      throw new Error(`erasure ${id} did not finish`);
    },
    /** The messages of one of a scope's record queues, oldest first. */
    recordsOf: async (scopeId: string, slug: "_audit" | "_corrections"): Promise<any[]> => messagesOf({ queueId: await systemQueue(scopeId, slug) }),
  };
}

const test = base.extend("gdpr", { scope: "file" }, ({ server }) => erasureOn(server));

function expectTombstone(m: any) {
  expect(m.body).toEqual({ erased: true });
  expect(m.labels).toEqual({});
  expect(m.response).toBeNull();
  expect(m.failureReason).toBeNull();
  expect(m.hitlSpec).toBeNull();
  expect(m.erasedAt).not.toBeNull();
}

function expectNoPersonalData(value: unknown) {
  const text = JSON.stringify(value);
  for (const p of PERSONAL) expect(text).not.toContain(p);
}

/** A message without the fields an erasure empties: what must stay as it was. */
const frame = ({ body, labels, response, failureReason, hitlSpec, erasedAt, ...rest }: any) => rest;

describe("erasure by label value", () => {
  let scopeId: string;
  let orders: string;
  let billing: string;
  const subject = `cust-${uniq()}`;
  const chain = `order-${uniq()}`;
  const ids: Record<string, string> = {};
  let before: any[];
  let traceBefore: any[];
  let depthsBefore: unknown[];
  let jobId: string;

  test.beforeAll(async ({ server: s, gdpr: { systemQueue, messagesOf, publish, claimOne } }) => {
    scopeId = await createScope(s);
    orders = await createQueue(s, scopeId);
    billing = await createQueue(s, scopeId);
    const labels = { customer_id: subject, tier: "gold" };
    // completed, with a response that quotes the person
    ids.completed = await publish(orders, { body: { name: "Alice Example", email: "alice@example.com" }, labels, correlationId: chain });
    const c = await claimOne(orders);
    await ok(s.gql(COMPLETE, { i: { messageId: c.id, claimToken: c.claimToken, response: { called: "+44 20 7946 0958" } } }));
    // dead-lettered, so a copy of its body sits in _dead_letter, and its reason names the person
    ids.deadLettered = await publish(billing, { body: { address: "221B Baker Street" }, labels, correlationId: chain });
    const d = await claimOne(billing);
    await ok(s.gql(FAIL, { i: { messageId: d.id, claimToken: d.claimToken, reason: "Alice's card was declined", retryable: false } }));
    // still pending: whoever claims it later gets the tombstone
    ids.pending = await publish(billing, { body: { name: "Alice Example" }, labels: { customer_id: subject }, correlationId: chain });
    // another customer's, in the same queues and chain: untouched
    ids.other = await publish(orders, { body: { name: "Bob Other" }, labels: { customer_id: `${subject}-2`, tier: "gold" }, correlationId: chain });
    ids.otherType = await publish(orders, { body: { name: "Carol Number" }, labels: { customer_id: 42 } });

    const copies = (await messagesOf({ queueId: await systemQueue(scopeId, "_dead_letter") })).filter((m) => m.causationId === ids.deadLettered);
    expect(copies).toHaveLength(1);
    ids.copy = copies[0].id;
    expect(copies[0].body).toEqual({ address: "221B Baker Street" });

    before = await messagesOf({ scopeId });
    traceBefore = (await ok(s.gql(TRACE, { s: scopeId, c: chain }))).trace;
    depthsBefore = await Promise.all([orders, billing].map(async (q) => (await ok(s.gql(DEPTH, { q }))).queueDepth));
    expect(JSON.stringify(before)).toContain("Alice Example");
  });

  test("starts PENDING and completes with tombstones in place of the content", async ({ gdpr: { message, start, runToEnd } }) => {
    const started = await start({ scopeId, label: { key: "customer_id", value: subject } });
    expect(started).toMatchObject({ state: "PENDING", matched: 0, erased: 0, selector: { label: { key: "customer_id", value: subject } }, startedAt: null });
    jobId = started.id;

    const done = await runToEnd(jobId);
    // the completed and dead-lettered originals, the dead-letter copy, the pending one
    expect(done).toMatchObject({ state: "COMPLETED", matched: 4, erased: 4, waitingForClaims: 0, error: null, scope: { id: scopeId } });
    expect(done.startedAt).not.toBeNull();
    expect(done.finishedAt).not.toBeNull();

    for (const key of ["completed", "deadLettered", "copy", "pending"]) expectTombstone(await message(ids[key]!));
  });

  test("keeps every row with its id, state, queue, chain and times; other messages are untouched", async ({ gdpr: { systemQueue, messagesOf }, server: s }) => {
    // the job's own records (in _audit and _corrections) are the only new messages
    const all = await messagesOf({ scopeId });
    const records = [await systemQueue(scopeId, "_audit"), await systemQueue(scopeId, "_corrections")];
    expect(all.filter((m) => records.includes(m.queue.id))).toHaveLength(2);
    const after = all.filter((m) => !records.includes(m.queue.id));
    expect(after.map((m) => m.id)).toEqual(before.map((m) => m.id));
    expect(after.map(frame)).toEqual(before.map(frame));
    const byId = new Map(after.map((m) => [m.id, m]));
    expect(byId.get(ids.completed!)).toMatchObject({ state: "COMPLETED", correlationId: chain });
    expect(byId.get(ids.deadLettered!)).toMatchObject({ state: "DEAD_LETTERED", correlationId: chain });
    expect(byId.get(ids.copy!)).toMatchObject({ state: "PENDING", causationId: ids.deadLettered, parentId: ids.deadLettered, correlationId: chain });
    expect(byId.get(ids.pending!)).toMatchObject({ state: "PENDING" });

    for (const key of ["other", "otherType"]) {
      const was = before.find((m) => m.id === ids[key]);
      expect(byId.get(ids[key]!)).toEqual(was);
      expect(was.erasedAt).toBeNull();
    }
    const depthsAfter = await Promise.all([orders, billing].map(async (q) => (await ok(s.gql(DEPTH, { q }))).queueDepth));
    expect(depthsAfter).toEqual(depthsBefore);
    expectNoPersonalData(after.filter((m) => m.id !== ids.other && m.id !== ids.otherType));
  });

  test("keeps the chain's trace whole, with no content left in it or in _events", async ({ gdpr: { systemQueue, messagesOf }, server: s }) => {
    const traceAfter = (await ok(s.gql(TRACE, { s: scopeId, c: chain }))).trace;
    const shape = (e: any) => [e.eventId, e.type, e.messageId, e.queueId, e.state];
    expect(traceAfter.map(shape)).toEqual(traceBefore.map(shape));
    expect(traceAfter.map((e: any) => e.type)).toEqual(
      expect.arrayContaining(["scaiqueue.message.published", "scaiqueue.message.claimed", "scaiqueue.message.completed", "scaiqueue.message.dead_lettered"]),
    );
    expect(JSON.stringify(traceBefore)).toContain("Alice's card was declined");
    expectNoPersonalData(traceAfter.filter((e: any) => e.messageId !== ids.other));
    const events = await messagesOf({ queueId: await systemQueue(scopeId, "_events") });
    expect(events.length).toBeGreaterThan(0);
    expectNoPersonalData(events);
  });

  test("hands the tombstone to a worker that claims a pending message afterwards", async ({ gdpr: { claimOne } }) => {
    const m = await claimOne(billing);
    expect(m).toMatchObject({ id: ids.pending, body: { erased: true } });
  });

  test("records the job in _audit and the erased ids in _corrections, without personal data", async ({ gdpr: { recordsOf }, server: s }) => {
    const audit = await recordsOf(scopeId, "_audit");
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ causationId: jobId, state: "PENDING" });
    expect(audit[0].body).toMatchObject({ jobId, state: "COMPLETED", selector: { label: { key: "customer_id", value: subject } }, matched: 4, erased: 4 });
    expect(audit[0].body.requestedBy).toMatch(/^[0-9a-f-]{36}$/);

    const corrections = await recordsOf(scopeId, "_corrections");
    expect(corrections).toHaveLength(1);
    expect(corrections[0]).toMatchObject({ causationId: jobId });
    expect([...corrections[0].body.erasedMessageIds].sort()).toEqual([ids.completed, ids.deadLettered, ids.copy, ids.pending].sort());
    expectNoPersonalData([audit, corrections]);

    // the mutation itself is in the audit log, like every other
    const log = (await ok(s.gql(AUDIT_LOG, { s: scopeId, a: "startErasure" }))).auditLog;
    expect(log.map((e: any) => pick(e, "action", "details"))).toEqual([{ action: "startErasure", details: { id: jobId } }]);
  });

  test("is safe to rerun: nothing new is erased, nothing changes, no new corrections", async ({ gdpr: { systemQueue, messagesOf, start, runToEnd, recordsOf }, server: s }) => {
    const messages = await messagesOf({ scopeId });
    const again = await start({ scopeId, label: { key: "customer_id", value: subject } });
    // erased messages have no labels left, so the label finds nothing now
    expect(await runToEnd(again.id)).toMatchObject({ state: "COMPLETED", matched: 0, erased: 0 });
    const byChain = await start({ scopeId, correlationId: chain });
    // the chain still names them, but they are erased already; only Bob's is new
    expect(await runToEnd(byChain.id)).toMatchObject({ state: "COMPLETED", matched: 5, erased: 1 });
    const third = await start({ scopeId, correlationId: chain });
    expect(await runToEnd(third.id)).toMatchObject({ state: "COMPLETED", matched: 5, erased: 0 });

    const after = await messagesOf({ scopeId });
    const was = new Set(messages.map((m) => m.id));
    expect(after.filter((m) => was.has(m.id) && m.id !== ids.other)).toEqual(messages.filter((m) => m.id !== ids.other));
    const records = [await systemQueue(scopeId, "_audit"), await systemQueue(scopeId, "_corrections")];
    expect(after.filter((m) => !was.has(m.id)).every((m) => records.includes(m.queue.id))).toBe(true);
    expect((await recordsOf(scopeId, "_corrections")).map((c) => c.body.erasedMessageIds)).toEqual([
      expect.any(Array),
      [ids.other],
    ]);
    const audit = (await recordsOf(scopeId, "_audit")).map((a) => [a.body.jobId, a.body.erased]);
    expect(audit).toEqual([[jobId, 4], [again.id, 0], [byChain.id, 1], [third.id, 0]]);
    expect((await ok(s.gql(JOBS, { s: scopeId }))).erasureJobs.map((j: any) => j.id)).toEqual([third.id, byChain.id, again.id, jobId]);
  });
});

describe("erasure by correlation id and by source id", () => {
  test("erases one chain across queues, compared exactly (another case is another chain)", async ({ gdpr: { message, publish, start, runToEnd, recordsOf }, server: s }) => {
    const scopeId = await createScope(s);
    const a = await createQueue(s, scopeId);
    const b = await createQueue(s, scopeId);
    const chain = `Chain-${uniq()}`;
    const inChain = [
      await publish(a, { body: { email: "alice@example.com" }, correlationId: chain }),
      await publish(b, { body: { phone: "+44 20 7946 0958" }, correlationId: chain, labels: { step: "2" } }),
    ];
    const otherCase = await publish(a, { body: { email: "someone@example.com" }, correlationId: chain.toLowerCase() });
    const unrelated = await publish(b, { body: { email: "someone@example.com" } });

    const j = await start({ scopeId, correlationId: chain });
    expect(await runToEnd(j.id)).toMatchObject({ state: "COMPLETED", matched: 2, erased: 2 });
    for (const id of inChain) expectTombstone(await message(id));
    for (const id of [otherCase, unrelated]) expect(await message(id)).toMatchObject({ body: { email: "someone@example.com" }, erasedAt: null });
    const [correction] = await recordsOf(scopeId, "_corrections");
    expect([...correction.body.erasedMessageIds].sort()).toEqual([...inChain].sort());
  });

  test("takes sourceId as the source_id label", async ({ gdpr: { message, publish, start, runToEnd }, server: s }) => {
    const scopeId = await createScope(s);
    const q = await createQueue(s, scopeId);
    const source = `user-${uniq()}`;
    const theirs = await publish(q, { body: { name: "Alice Example" }, labels: { source_id: source, source_type: "user" } });
    const others = await publish(q, { body: { name: "Bob Other" }, labels: { source_id: `${source}0`, source_type: "user" } });
    const j = await start({ scopeId, sourceId: source });
    expect(j.selector).toEqual({ sourceId: source });
    expect(await runToEnd(j.id)).toMatchObject({ state: "COMPLETED", matched: 1, erased: 1 });
    expectTombstone(await message(theirs));
    expect(await message(others)).toMatchObject({ body: { name: "Bob Other" }, erasedAt: null });
  });
});

describe("copies are what the service made, not what a publisher said", () => {
  test("a message whose publisher gave an erased message as its parentId keeps its content; the dead-letter copy does not", async ({ gdpr: { systemQueue, messagesOf, message, publish, claimOne, start, runToEnd }, server: s }) => {
    const scopeId = await createScope(s);
    const queueId = await createQueue(s, scopeId, { maxRetries: 1 });
    const subject = `subject-${uniq()}`;
    const erased = await publish(queueId, { body: { name: "Alice Example" }, labels: { subject } });
    // a publisher names the subject's message as the parent of its own, unrelated one
    const unrelated = await publish(queueId, { body: { report: "quarterly" }, parentId: erased });
    const m = await claimOne(queueId);
    expect(m.id).toBe(erased);
    await ok(s.gql(FAIL, { i: { messageId: erased, claimToken: m.claimToken, reason: "no", retryable: false } }));
    const copy = (await messagesOf({ queueId: await systemQueue(scopeId, "_dead_letter") })).find((x) => x.parentId === erased);
    expect(copy).toMatchObject({ body: { name: "Alice Example" } });

    const jobId = (await start({ scopeId, label: { key: "subject", value: subject } })).id;
    expect(await runToEnd(jobId)).toMatchObject({ state: "COMPLETED", erased: 2 });
    expectTombstone(await message(erased));
    expectTombstone(await message(copy.id));
    expect(await message(unrelated)).toMatchObject({ body: { report: "quarterly" }, parentId: erased, erasedAt: null });
  });
});

describe("claims live at erasure", () => {
  test("waits for them, then erases what the claimer wrote back and what was copied from it", async ({ gdpr: { systemQueue, messagesOf, job, message, publish, claimOne, start, recordsOf }, server: s }) => {
    const scopeId = await createScope(s);
    const q = await createQueue(s, scopeId);
    const subject = `cust-${uniq()}`;
    const completing = await publish(q, { body: { name: "Alice Example" }, labels: { customer_id: subject }, correlationId: `c-${uniq()}` });
    const failing = await publish(q, { body: { name: "Alice Example" }, labels: { customer_id: subject } });
    // the workers have read the bodies before the erasure
    const first = await claimOne(q);
    const second = await claimOne(q);
    expect([first.body, second.body]).toEqual([{ name: "Alice Example" }, { name: "Alice Example" }]);

    const j = await start({ scopeId, label: { key: "customer_id", value: subject } });
    const now = Date.now();
    await s.sweep("gdpr_eraser", now);
    expect(await job(j.id)).toMatchObject({ state: "RUNNING", matched: 2, erased: 2, waitingForClaims: 2 });
    expectTombstone(await message(completing));

    // what the workers send back still quotes the person
    await ok(s.gql(COMPLETE, { i: { messageId: completing, claimToken: first.claimToken, response: { called: "+44 20 7946 0958" } } }));
    await ok(s.gql(FAIL, { i: { messageId: failing, claimToken: second.claimToken, reason: "Alice's card was declined", retryable: false } }));
    expect((await message(completing)).response).toEqual({ called: "+44 20 7946 0958" });
    const dlq = await systemQueue(scopeId, "_dead_letter");
    const [copy] = await messagesOf({ queueId: dlq });
    expect(copy).toMatchObject({ parentId: failing, failureReason: "Alice's card was declined", erasedAt: null });

    // seen over now, settled after the grace period
    await s.sweep("gdpr_eraser", now + 1000);
    expect(await job(j.id)).toMatchObject({ state: "RUNNING", waitingForClaims: 2 });
    await s.sweep("gdpr_eraser", now + 1000 + HOLD_GRACE_MS);
    expect(await job(j.id)).toMatchObject({ state: "COMPLETED", matched: 3, erased: 3, waitingForClaims: 0 });

    expect(await message(completing)).toMatchObject({ state: "COMPLETED", body: { erased: true }, response: null });
    expect(await message(failing)).toMatchObject({ state: "DEAD_LETTERED", body: { erased: true }, failureReason: null });
    expectTombstone(await message(copy.id));
    const corrections = (await recordsOf(scopeId, "_corrections")).flatMap((c) => c.body.erasedMessageIds);
    expect(corrections.sort()).toEqual([completing, failing, copy.id].sort());
    expectNoPersonalData([await messagesOf({ scopeId }), await messagesOf({ queueId: await systemQueue(scopeId, "_events") }), await recordsOf(scopeId, "_audit")]);
  });
});

describe("a job left RUNNING", () => {
  test("is resumed from where its row says by any eraser, erasing each message once", async ({ gdpr: { job, message, publish, start, runToEnd, recordsOf }, server: s }) => {
    const scopeId = await createScope(s);
    const q = await createQueue(s, scopeId);
    const subject = `cust-${uniq()}`;
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push(await publish(q, { body: { name: "Alice Example", i }, labels: { customer_id: subject } }));
    await publish(q, { body: { name: "Bob Other" }, labels: { customer_id: "someone-else" } });
    const j = await start({ scopeId, label: { key: "customer_id", value: subject } });

    // a process that got through one small batch and then went away
    const gone = gdprEraser(s.app.deps, { batchSize: 3, batchesPerSweep: 1 });
    await gone.runOnce({ now: Date.now() });
    const halfway = await job(j.id);
    expect(halfway).toMatchObject({ state: "RUNNING", finishedAt: null });
    expect(halfway.startedAt).not.toBeNull();
    // three rows read (the scope's _events rows among them), so some but not all erased
    expect(halfway.erased).toBeGreaterThan(0);
    expect(halfway.erased).toBeLessThan(ids.length);
    expect(halfway.matched).toBe(halfway.erased);

    // the eraser of another process picks it up from the job row
    expect(await runToEnd(j.id)).toMatchObject({ state: "COMPLETED", matched: 7, erased: 7 });
    for (const id of ids) expectTombstone(await message(id));
    const corrections = (await recordsOf(scopeId, "_corrections")).flatMap((c) => c.body.erasedMessageIds);
    expect(corrections.sort()).toEqual([...ids].sort());
    expect(await recordsOf(scopeId, "_audit")).toHaveLength(1);
  });
});

describe("refusals", () => {
  test("refuses bad selectors with VALIDATION_ERROR and writes no job", async ({ gdpr: { recordsOf }, server: s }) => {
    const scopeId = await createScope(s);
    const bad: [Record<string, unknown>, string][] = [
      [{ scopeId }, "input"],
      [{ scopeId, correlationId: "c-1", sourceId: "u-1" }, "input"],
      [{ scopeId, label: { key: "customer_id", value: "x" }, correlationId: "c-1" }, "input"],
      [{ scopeId, label: { key: "no spaces", value: "x" } }, "input.label.key"],
      [{ scopeId, label: { key: "customer_id", value: { nested: true } } }, "input.label.value"],
      [{ scopeId, label: { key: "customer_id", value: "" } }, "input.label.value"],
      [{ scopeId, label: { key: "customer_id", value: "x".repeat(257) } }, "input.label.value"],
      [{ scopeId, correlationId: "" }, "input.correlationId"],
      [{ scopeId, correlationId: "a\u0000b" }, "input.correlationId"],
      [{ scopeId, sourceId: "y".repeat(300) }, "input.sourceId"],
    ];
    for (const [input, field] of bad) {
      const r = await s.gql(START, { i: input });
      expect(code(r), JSON.stringify(input)).toBe("VALIDATION_ERROR");
      expect(r.errors![0]!.extensions!.details!.map((d) => d.field)).toContain(field);
    }
    expect(code(await s.gql(START, { i: { scopeId: "00000000-0000-7000-8000-000000000000", correlationId: "c-1" } }))).toBe("SCAIQUEUE_SCOPE_NOT_FOUND");
    expect((await ok(s.gql(JOBS, { s: scopeId }))).erasureJobs).toEqual([]);
    expect(await recordsOf(scopeId, "_audit")).toEqual([]);
  });

  test("needs manage to start a job and view to read one; other tenants see nothing", async ({ gdpr: { start, runToEnd }, server: s }) => {
    const scopeId = await createScope(s);
    const viewer = await s.newKey("default", ["scaiqueue:view"]);
    const denied = await s.gql(START, { i: { scopeId, correlationId: "c-1" } }, viewer);
    expect(code(denied)).toBe("AUTHZ_PERMISSION_DENIED");
    expect((await ok(s.gql(JOBS, { s: scopeId }))).erasureJobs).toEqual([]);

    const j = await start({ scopeId, correlationId: "c-1" });
    expect((await ok(s.gql(JOB, { id: j.id }, viewer))).erasureJob).toMatchObject({ id: j.id, state: "PENDING" });
    const publisher = await s.newKey("default", ["scaiqueue:publish"]);
    expect(code(await s.gql(JOB, { id: j.id }, publisher))).toBe("AUTHZ_PERMISSION_DENIED");

    const stranger = await s.newKey(`other-${uniq()}`);
    expect((await ok(s.gql(JOB, { id: j.id }, stranger))).erasureJob).toBeNull();
    expect(code(await s.gql(JOBS, { s: scopeId }, stranger))).toBe("SCAIQUEUE_SCOPE_NOT_FOUND");
    expect(code(await s.gql(START, { i: { scopeId, correlationId: "c-1" } }, stranger))).toBe("SCAIQUEUE_SCOPE_NOT_FOUND");
    expect((await ok(s.gql(JOBS, { s: scopeId }))).erasureJobs).toHaveLength(1);
    await runToEnd(j.id);
  });
});
