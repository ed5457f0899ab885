import { describe, expect, test as base } from "../support/test.js";
import { code, ok, uniq, type GqlResult, type TestServer } from "../support/server.js";
import { adminKeyId, createQueue, createScope, messagesOf, systemQueue } from "../support/api.js";
import {
  AUDIT_LOG, CHANGE_STATE, CLAIM, COMPLETE, CREATE_RULE, DELETE_RULE, DEPTH, FAIL, MESSAGE, PUBLISH_BATCH, PUBLISH_WITH_QUEUE, RULES, TRACE, UPDATE_RULE,
} from "../support/ops.js";

// Routing rules (contract §6): every action and trigger, the condition language, rule
// order, validation when a rule is saved, the circuit breaker and permissions.

type Msg = {
  id: string;
  state: string;
  queue: { id: string; slug: string };
  messageType: string | null;
  labels: Record<string, unknown>;
  priorityTier: string;
  priorityScore: number;
  body: any;
  correlationId: string | null;
  causationId: string | null;
  parentId: string | null;
};

/** Rules, publishes and reads on one server; a rule applies scope-wide, so each test makes its scope with pipeline(). */
function routingOn(s: TestServer) {
  return {
    /** A scope of its own with `n` FIFO queues. */
    async pipeline(n: number, extra: Record<string, unknown>[] = []) {
      const scopeId = await createScope(s);
      const queues: string[] = [];
      for (let i = 0; i < n; i++) queues.push(await createQueue(s, scopeId, extra[i] ?? {}));
      return { scopeId, queues };
    },
    rule: async (scopeId: string, r: Record<string, unknown>) =>
      (await ok(s.gql(CREATE_RULE, { i: { scopeId, name: `rule-${uniq(3)}`, ...r } }))).createRoutingRule,
    publish: async (queueId: string, extra: Record<string, unknown> = {}): Promise<Msg> =>
      (await ok(s.gql(PUBLISH_WITH_QUEUE, { i: { queueId, body: {}, ...extra } }))).publish.message,
    message: async (id: string): Promise<Msg> => (await ok(s.gql(MESSAGE, { id }))).message,
    inQueue: (queueId: string): Promise<Msg[]> => messagesOf(s, { q: queueId, first: 200 }),
    depth: async (queueId: string) => (await ok(s.gql(DEPTH, { q: queueId }))).queueDepth,
    rules: async (scopeId: string) => (await ok(s.gql(RULES, { s: scopeId }))).routingRules,
    systemQueue: (scopeId: string, slug: string) => systemQueue(s, scopeId, slug),
    async claimOne(queueId: string) {
      const m = (await ok(s.gql(CLAIM, { i: { queueId } }))).claim[0];
      expect(m).toBeDefined();
      return m as { id: string; claimToken: string };
    },
  };
}

const test = base.extend("routing", ({ server }) => routingOn(server));

/** The child a rule made of `source`: same correlation, caused by and parented to it. */
function expectChildOf(child: Msg, source: Msg, queueId: string) {
  expect(child).toMatchObject({ state: "PENDING", queue: { id: queueId }, correlationId: source.correlationId, causationId: source.id, parentId: source.id });
  expect(child.id).not.toBe(source.id);
}

describe("actions on MESSAGE_PUBLISHED", () => {
  test("ROUTE moves the message: a child in the target with the rule's changes, the original ARCHIVED, inside the publish", async ({ routing: { pipeline, rule, publish, message, inQueue, depth, claimOne }, server: s }) => {
    const { scopeId, queues: [intake, premium] } = await pipeline(2);
    await rule(scopeId, {
      condition: { field: "labels.customer_tier", op: "eq", value: "premium" },
      action: { type: "ROUTE", targetQueueId: premium, setLabels: { routed: "yes" }, setPriorityTier: "HIGH" },
    });
    const correlationId = `order-${uniq()}`;
    const original = await publish(intake!, { body: { order: 1 }, labels: { customer_tier: "premium" }, correlationId, messageType: "order.created", priorityScore: 7 });
    // the publish answers the original message, already routed away
    expect(original).toMatchObject({ state: "ARCHIVED", queue: { id: intake }, labels: { customer_tier: "premium" }, priorityTier: "NORMAL", correlationId });
    // the same publish again (idempotency key): the original answers, no second child
    const key = { body: { order: 3 }, labels: { customer_tier: "premium" }, correlationId: `order-${uniq()}`, idempotencyKey: "order-3" };
    const keyed = await publish(intake!, key);
    expect((await ok(s.gql(PUBLISH_WITH_QUEUE, { i: { queueId: intake, ...key } }))).publish).toMatchObject({ duplicate: true, message: { id: keyed.id, state: "ARCHIVED" } });
    const basic = await publish(intake!, { body: { order: 2 }, labels: { customer_tier: "basic" } });
    expect(basic.state).toBe("PENDING");

    const [child, keyedChild, ...more] = await inQueue(premium!);
    expect(more).toEqual([]);
    expectChildOf(child!, original, premium!);
    expectChildOf(keyedChild!, keyed, premium!);
    expect(child).toMatchObject({
      body: { order: 1 },
      labels: { customer_tier: "premium", routed: "yes" },
      priorityTier: "HIGH",
      priorityScore: 7,
      messageType: "order.created",
    });
    expect((await message(original.id)).state).toBe("ARCHIVED");
    expect((await inQueue(intake!)).map((m) => [m.id, m.state])).toEqual([
      [original.id, "ARCHIVED"],
      [keyed.id, "ARCHIVED"],
      [basic.id, "PENDING"],
    ]);
    expect(await depth(intake!)).toMatchObject({ pending: 1, claimed: 0 });
    expect(await depth(premium!)).toMatchObject({ pending: 2, claimed: 0 });
    expect((await claimOne(premium!)).id).toBe(child!.id);

    // the chain's events, in order: the source published and routed, then its child published
    const events = (await ok(s.gql(TRACE, { s: scopeId, c: correlationId }))).trace;
    expect(events.map((e: { type: string; messageId: string; queueId: string }) => [e.type, e.messageId, e.queueId])).toEqual([
      ["scaiqueue.message.published", original.id, intake],
      ["scaiqueue.message.routed", original.id, intake],
      ["scaiqueue.message.published", child!.id, premium],
      ["scaiqueue.message.claimed", child!.id, premium],
    ]);
  });

  test("COPY publishes a changed child into the target and leaves the original as it was", async ({ routing: { pipeline, rule, publish, message, inQueue, depth } }) => {
    const { scopeId, queues: [source, audit] } = await pipeline(2);
    await rule(scopeId, {
      condition: { field: "messageType", op: "eq", value: "payment" },
      action: { type: "COPY", targetQueueId: audit, setLabels: { copy: true }, patch: { card: null, audited: true } },
    });
    const correlationId = `pay-${uniq()}`;
    const original = await publish(source!, { messageType: "payment", body: { amount: 5, card: "4111" }, correlationId, labels: { a: "1" } });
    expect(original).toMatchObject({ state: "PENDING", body: { amount: 5, card: "4111" }, labels: { a: "1" } });
    const [copy, ...more] = await inQueue(audit!);
    expect(more).toEqual([]);
    expectChildOf(copy!, original, audit!);
    expect(copy).toMatchObject({ body: { amount: 5, audited: true }, labels: { a: "1", copy: true } });
    expect(copy!.body).not.toHaveProperty("card");
    expect(await message(original.id)).toEqual(original);
    expect(await depth(source!)).toMatchObject({ pending: 1 });
    expect(await depth(audit!)).toMatchObject({ pending: 1 });
  });

  test("TRANSFORM changes the message itself: labels, tier and a merge patch that removes, replaces and merges keys", async ({ routing: { pipeline, rule, publish, message, inQueue, claimOne } }) => {
    const { scopeId, queues: [q] } = await pipeline(1, [{ ordering: "PRIORITY" }]);
    await rule(scopeId, {
      condition: { field: "labels.stage", op: "eq", value: "raw" },
      action: { type: "TRANSFORM", setLabels: { stage: "clean", by: "rule" }, setPriorityTier: "LOW", patch: { secret: null, meta: { v: 2 }, extra: [1, 2] } },
    });
    const m = await publish(q!, { labels: { stage: "raw", keep: "me" }, body: { secret: "x", meta: { v: 1, source: "web" }, name: "n" } });
    expect(m).toMatchObject({ state: "PENDING", queue: { id: q }, labels: { stage: "clean", by: "rule", keep: "me" }, priorityTier: "LOW" });
    expect(m.body).toEqual({ meta: { v: 2, source: "web" }, name: "n", extra: [1, 2] });
    expect(await message(m.id)).toEqual(m);
    expect(await inQueue(q!)).toHaveLength(1);
    // the changed tier is its place in the PRIORITY queue: a NORMAL message published later goes first
    const normal = await publish(q!, { labels: { stage: "done" } });
    expect((await claimOne(q!)).id).toBe(normal.id);
    expect((await claimOne(q!)).id).toBe(m.id);
  });

  test("ESCALATE without a target raises the tier one step in place (CRITICAL stays), or to setPriorityTier", async ({ routing: { pipeline, rule, publish, inQueue } }) => {
    const { scopeId, queues: [q, urgent] } = await pipeline(2);
    await rule(scopeId, { sourceQueueId: q, condition: { field: "labels.late", op: "eq", value: true }, action: { type: "ESCALATE" } });
    await rule(scopeId, { sourceQueueId: urgent, condition: { field: "labels.late", op: "eq", value: true }, action: { type: "ESCALATE", setPriorityTier: "CRITICAL" } });
    const tiers: [string, string][] = [["BACKGROUND", "LOW"], ["LOW", "NORMAL"], ["NORMAL", "HIGH"], ["HIGH", "CRITICAL"], ["CRITICAL", "CRITICAL"]];
    for (const [from, to] of tiers) {
      const m = await publish(q!, { priorityTier: from, labels: { late: true } });
      expect(m, from).toMatchObject({ state: "PENDING", queue: { id: q }, priorityTier: to });
    }
    expect(await publish(q!, { priorityTier: "LOW", labels: { late: false } })).toMatchObject({ priorityTier: "LOW" });
    expect(await publish(urgent!, { priorityTier: "LOW", labels: { late: true } })).toMatchObject({ state: "PENDING", priorityTier: "CRITICAL" });
    expect(await inQueue(q!)).toHaveLength(6);
  });

  test("ESCALATE with a target routes like ROUTE, the child one tier up", async ({ routing: { pipeline, rule, publish, inQueue, depth } }) => {
    const { scopeId, queues: [q, escalations] } = await pipeline(2);
    await rule(scopeId, { condition: { field: "body.sla.breached", op: "eq", value: true }, action: { type: "ESCALATE", targetQueueId: escalations, setLabels: { escalated: "1" } } });
    const correlationId = `sla-${uniq()}`;
    const m = await publish(q!, { body: { sla: { breached: true } }, priorityTier: "LOW", correlationId });
    expect(m).toMatchObject({ state: "ARCHIVED", priorityTier: "LOW" });
    const [child, ...more] = await inQueue(escalations!);
    expect(more).toEqual([]);
    expectChildOf(child!, m, escalations!);
    expect(child).toMatchObject({ priorityTier: "NORMAL", labels: { escalated: "1" }, body: { sla: { breached: true } } });
    expect(await depth(q!)).toMatchObject({ pending: 0 });
  });

  test("ARCHIVE ends the message ARCHIVED: nothing to claim", async ({ routing: { pipeline, rule, publish, depth, claimOne }, server: s }) => {
    const { scopeId, queues: [q] } = await pipeline(1);
    await rule(scopeId, { condition: { field: "labels.spam", op: "exists" }, action: { type: "ARCHIVE" } });
    const spam = await publish(q!, { labels: { spam: "yes" } });
    expect(spam).toMatchObject({ state: "ARCHIVED", queue: { id: q } });
    expect(await depth(q!)).toMatchObject({ pending: 0 });
    expect((await ok(s.gql(CLAIM, { i: { queueId: q } }))).claim).toEqual([]);
    const ham = await publish(q!);
    expect(ham.state).toBe("PENDING");
    expect((await claimOne(q!)).id).toBe(ham.id);
  });

  test("routing into the queue the message is already in is a no-op, and no later rule acts", async ({ routing: { pipeline, rule, publish, inQueue } }) => {
    const { scopeId, queues: [q, other] } = await pipeline(2);
    await rule(scopeId, { position: 0, condition: { field: "labels.x", op: "eq", value: "1" }, action: { type: "ROUTE", targetQueueId: q } });
    await rule(scopeId, { position: 1, condition: { field: "labels.x", op: "eq", value: "1" }, action: { type: "ROUTE", targetQueueId: other } });
    const m = await publish(q!, { labels: { x: "1" } });
    expect(m).toMatchObject({ state: "PENDING", queue: { id: q } });
    expect(await inQueue(q!)).toHaveLength(1);
    expect(await inQueue(other!)).toEqual([]);
  });

  test("children are routed on: A → B → C within one publish, each hop caused by the one before", async ({ routing: { pipeline, rule, publish, inQueue } }) => {
    const { scopeId, queues: [a, b, c] } = await pipeline(3);
    await rule(scopeId, { sourceQueueId: a, condition: { all: [] }, action: { type: "ROUTE", targetQueueId: b, setLabels: { hop: 1 } } });
    await rule(scopeId, { sourceQueueId: b, condition: { field: "labels.hop", op: "eq", value: 1 }, action: { type: "ROUTE", targetQueueId: c, setLabels: { hop: 2 } } });
    const correlationId = `chain-${uniq()}`;
    const m = await publish(a!, { correlationId });
    const [inB] = await inQueue(b!);
    const [inC] = await inQueue(c!);
    expect(m.state).toBe("ARCHIVED");
    expect(inB).toMatchObject({ state: "ARCHIVED", causationId: m.id, correlationId });
    expect(inC).toMatchObject({ state: "PENDING", causationId: inB!.id, parentId: inB!.id, correlationId, labels: { hop: 2 } });
  });

  test("messages of system queues are never routed: completing a _dead_letter copy triggers no rule", async ({ routing: { pipeline, rule, publish, message, inQueue, systemQueue, claimOne }, server: s }) => {
    const { scopeId, queues: [q, done] } = await pipeline(2);
    await rule(scopeId, { trigger: "MESSAGE_COMPLETED", condition: { field: "labels.go", op: "eq", value: "1" }, action: { type: "COPY", targetQueueId: done } });
    const m = await publish(q!, { labels: { go: "1" }, correlationId: `dlq-${uniq()}` });
    const claimed = await claimOne(q!);
    await ok(s.gql(FAIL, { i: { messageId: claimed.id, claimToken: claimed.claimToken, reason: "fatal", retryable: false } }));
    const deadLetter = await systemQueue(scopeId, "_dead_letter");
    const copy = await claimOne(deadLetter);
    expect(await message(copy.id)).toMatchObject({ causationId: m.id, labels: { go: "1" } });
    await ok(s.gql(COMPLETE, { i: { messageId: copy.id, claimToken: copy.claimToken } }));
    expect(await message(copy.id)).toMatchObject({ state: "COMPLETED", queue: { id: deadLetter } });
    expect(await inQueue(done!)).toEqual([]);
    // the same completion in an ordinary queue does trigger it
    await publish(q!, { labels: { go: "1" } });
    const again = await claimOne(q!);
    await ok(s.gql(COMPLETE, { i: { messageId: again.id, claimToken: again.claimToken } }));
    expect(await inQueue(done!)).toHaveLength(1);
  });
});

describe("triggers after an event", () => {
  test("COMPLETED, FAILED (retries left) and DEAD_LETTERED rules act after their event only, each on its own message", async ({ routing: { pipeline, rule, publish, message, inQueue, depth, systemQueue, claimOne }, server: s }) => {
    const { scopeId, queues: [work, done, retry, graveyard] } = await pipeline(4, [{ maxRetries: 5 }]);
    await rule(scopeId, { trigger: "MESSAGE_COMPLETED", sourceQueueId: work, condition: { all: [] }, action: { type: "COPY", targetQueueId: done, setLabels: { stage: "done" } } });
    await rule(scopeId, { trigger: "MESSAGE_FAILED", sourceQueueId: work, condition: { all: [] }, action: { type: "ROUTE", targetQueueId: retry } });
    await rule(scopeId, { trigger: "MESSAGE_DEAD_LETTERED", sourceQueueId: work, condition: { all: [] }, action: { type: "ROUTE", targetQueueId: graveyard } });
    const corr = () => `job-${uniq()}`;

    // a published message triggers none of them
    const ok1 = await publish(work!, { body: { n: 1 }, correlationId: corr() });
    expect(ok1.state).toBe("PENDING");
    for (const q of [done, retry, graveyard]) expect(await inQueue(q!)).toEqual([]);

    // COMPLETED + COPY: the original stays COMPLETED, a child appears
    let c = await claimOne(work!);
    expect((await ok(s.gql(COMPLETE, { i: { messageId: c.id, claimToken: c.claimToken, response: { ok: true } } }))).complete.state).toBe("COMPLETED");
    const [copy] = await inQueue(done!);
    expectChildOf(copy!, ok1, done!);
    expect(copy).toMatchObject({ body: { n: 1 }, labels: { stage: "done" } });
    expect((await message(ok1.id)).state).toBe("COMPLETED");
    expect(await inQueue(retry!)).toEqual([]);

    // FAILED with retries left + ROUTE: the message, pending again and backing off, moves on
    const flaky = await publish(work!, { body: { n: 2 }, correlationId: corr() });
    c = await claimOne(work!);
    expect(c.id).toBe(flaky.id);
    expect((await ok(s.gql(FAIL, { i: { messageId: c.id, claimToken: c.claimToken, reason: "timeout" } }))).fail.state).toBe("PENDING");
    expect((await message(flaky.id)).state).toBe("ARCHIVED");
    const [retried] = await inQueue(retry!);
    expectChildOf(retried!, flaky, retry!);
    expect(await depth(work!)).toMatchObject({ pending: 0, claimed: 0 });
    expect(await depth(retry!)).toMatchObject({ pending: 1 });
    expect(await inQueue(graveyard!)).toEqual([]);

    // DEAD_LETTERED (retryable: false) + ROUTE: the dead message moves on; the _dead_letter copy stays
    const fatal = await publish(work!, { body: { n: 3 }, correlationId: corr() });
    c = await claimOne(work!);
    expect(c.id).toBe(fatal.id);
    expect((await ok(s.gql(FAIL, { i: { messageId: c.id, claimToken: c.claimToken, reason: "bad input", retryable: false } }))).fail.state).toBe("DEAD_LETTERED");
    expect((await message(fatal.id)).state).toBe("ARCHIVED");
    const [buried, ...moreBuried] = await inQueue(graveyard!);
    expect(moreBuried).toEqual([]);
    expectChildOf(buried!, fatal, graveyard!);
    expect(await inQueue(retry!)).toHaveLength(1); // a dead letter is not a MESSAGE_FAILED
    expect(await inQueue(done!)).toHaveLength(1);
    const dlq = await inQueue(await systemQueue(scopeId, "_dead_letter"));
    expect(dlq).toEqual([expect.objectContaining({ causationId: fatal.id, correlationId: fatal.correlationId })]);
  });

  test("ARCHIVE and TRANSFORM after a completion change the completed message", async ({ routing: { pipeline, rule, publish, message, claimOne }, server: s }) => {
    const { scopeId, queues: [q] } = await pipeline(1);
    await rule(scopeId, { trigger: "MESSAGE_COMPLETED", condition: { field: "labels.keep", op: "exists", value: false }, action: { type: "ARCHIVE" } });
    await rule(scopeId, { trigger: "MESSAGE_COMPLETED", condition: { all: [] }, action: { type: "TRANSFORM", setLabels: { reviewed: true } } });
    const gone = await publish(q!);
    const kept = await publish(q!, { labels: { keep: "1" } });
    for (const id of [gone.id, kept.id]) {
      const c = await claimOne(q!);
      expect(c.id).toBe(id);
      await ok(s.gql(COMPLETE, { i: { messageId: c.id, claimToken: c.claimToken } }));
    }
    expect((await message(gone.id)).state).toBe("ARCHIVED");
    expect(await message(kept.id)).toMatchObject({ state: "COMPLETED", labels: { keep: "1", reviewed: true } });
  });
});

describe("conditions", () => {
  test("every operator, all / any / not, tier ranks, body paths, queue.slug and dotted label keys: one message matches, one does not", async ({ routing: { pipeline, rule, inQueue }, server: s }) => {
    const sourceSlug = `src-${uniq()}`;
    const { scopeId, queues: [src, other, hit] } = await pipeline(3, [{ slug: sourceSlug }]);
    const cases: { name: string; condition: unknown; yes: Record<string, unknown>; no: Record<string, unknown> | null }[] = [
      { name: "eq", condition: { field: "labels.tier", op: "eq", value: "premium" }, yes: { labels: { tier: "premium" } }, no: { labels: { tier: "basic" } } },
      { name: "eq number", condition: { field: "body.n", op: "eq", value: 3 }, yes: { body: { n: 3 } }, no: { body: { n: "3" } } },
      { name: "ne", condition: { field: "messageType", op: "ne", value: "ping" }, yes: { messageType: "pong" }, no: { messageType: "ping" } },
      { name: "in", condition: { field: "labels.region", op: "in", value: ["eu", "us"] }, yes: { labels: { region: "us" } }, no: { labels: { region: "apac" } } },
      { name: "nin", condition: { field: "labels.region", op: "nin", value: ["eu", "us"] }, yes: { labels: { region: "apac" } }, no: { labels: { region: "eu" } } },
      { name: "gt", condition: { field: "priorityScore", op: "gt", value: 500 }, yes: { priorityScore: 501 }, no: { priorityScore: 500 } },
      { name: "gte", condition: { field: "priorityScore", op: "gte", value: 500 }, yes: { priorityScore: 500 }, no: { priorityScore: 499 } },
      { name: "lt", condition: { field: "body.amount", op: "lt", value: 10 }, yes: { body: { amount: 9.5 } }, no: { body: { amount: 10 } } },
      { name: "lte", condition: { field: "body.amount", op: "lte", value: 10 }, yes: { body: { amount: 10 } }, no: { body: { amount: 10.01 } } },
      { name: "gt on strings", condition: { field: "body.code", op: "gt", value: "m" }, yes: { body: { code: "z" } }, no: { body: { code: "a" } } },
      { name: "gt: a number never matches a string", condition: { field: "body.amount", op: "gt", value: 5 }, yes: { body: { amount: 6 } }, no: { body: { amount: "9" } } },
      { name: "exists", condition: { field: "body.refund", op: "exists" }, yes: { body: { refund: 0 } }, no: { body: { refund: null } } },
      { name: "exists true", condition: { field: "labels.flag", op: "exists", value: true }, yes: { labels: { flag: false } }, no: {} },
      { name: "exists false", condition: { field: "labels.flag", op: "exists", value: false }, yes: {}, no: { labels: { flag: "x" } } },
      { name: "matches", condition: { field: "body.email", op: "matches", value: "@example\\.com$" }, yes: { body: { email: "a@example.com" } }, no: { body: { email: "a@example.org" } } },
      { name: "matches (unicode)", condition: { field: "body.name", op: "matches", value: "^\\p{Lu}" }, yes: { body: { name: "Élodie" } }, no: { body: { name: "élodie" } } },
      // exponential for a backtracking engine on the "no" subject; RE2 answers in linear time
      { name: "matches (nested quantifiers)", condition: { field: "body.s", op: "matches", value: "^(a+)+$" }, yes: { body: { s: "a".repeat(5000) } }, no: { body: { s: `${"a".repeat(5000)}!` } } },
      { name: "matches a non-string", condition: { field: "body.n", op: "matches", value: "^1" }, yes: { body: { n: "12" } }, no: { body: { n: 12 } } },
      // by rank CRITICAL > HIGH > NORMAL: as text, "CRITICAL" < "NORMAL"
      { name: "priorityTier gt", condition: { field: "priorityTier", op: "gt", value: "NORMAL" }, yes: { priorityTier: "CRITICAL" }, no: { priorityTier: "NORMAL" } },
      { name: "priorityTier gte", condition: { field: "priorityTier", op: "gte", value: "HIGH" }, yes: { priorityTier: "HIGH" }, no: { priorityTier: "LOW" } },
      { name: "priorityTier lt", condition: { field: "priorityTier", op: "lt", value: "NORMAL" }, yes: { priorityTier: "BACKGROUND" }, no: { priorityTier: "HIGH" } },
      { name: "priorityTier lte", condition: { field: "priorityTier", op: "lte", value: "LOW" }, yes: { priorityTier: "LOW" }, no: { priorityTier: "NORMAL" } },
      { name: "priorityTier eq", condition: { field: "priorityTier", op: "eq", value: "HIGH" }, yes: { priorityTier: "HIGH" }, no: {} },
      { name: "body path with [index]", condition: { field: "body.items[1].sku", op: "eq", value: "B2" }, yes: { body: { items: [{ sku: "A1" }, { sku: "B2" }] } }, no: { body: { items: [{ sku: "B2" }] } } },
      { name: "nested body path", condition: { field: "body.customer.address.country", op: "eq", value: "NL" }, yes: { body: { customer: { address: { country: "NL" } } } }, no: { body: { customer: { country: "NL" } } } },
      { name: "body path into an array root", condition: { field: "body[0]", op: "eq", value: "first" }, yes: { body: ["first"] }, no: { body: { 0: "first" } } },
      { name: "whole body", condition: { field: "body", op: "eq", value: { a: 1 } }, yes: { body: { a: 1 } }, no: { body: { a: 1, b: 2 } } },
      { name: "queue.slug", condition: { field: "queue.slug", op: "eq", value: sourceSlug }, yes: {}, no: { queueId: other } },
      { name: "label key with dots", condition: { field: "labels.app.kubernetes.io/name", op: "eq", value: "api" }, yes: { labels: { "app.kubernetes.io/name": "api" } }, no: { labels: { app: "api" } } },
      {
        name: "all",
        condition: { all: [{ field: "labels.a", op: "eq", value: "1" }, { field: "priorityScore", op: "gte", value: 10 }] },
        yes: { labels: { a: "1" }, priorityScore: 10 },
        no: { labels: { a: "1" }, priorityScore: 9 },
      },
      // matches everything: there is no message it leaves alone
      { name: "all of nothing", condition: { all: [] }, yes: {}, no: null },
      {
        name: "any",
        condition: { any: [{ field: "labels.a", op: "eq", value: "1" }, { field: "labels.b", op: "eq", value: "2" }] },
        yes: { labels: { b: "2" } },
        no: { labels: { a: "2", b: "1" } },
      },
      { name: "not", condition: { not: { field: "labels.env", op: "eq", value: "prod" } }, yes: { labels: { env: "dev" } }, no: { labels: { env: "prod" } } },
      {
        name: "nested combinators",
        condition: {
          all: [
            { any: [{ field: "messageType", op: "eq", value: "order" }, { field: "messageType", op: "eq", value: "refund" }] },
            { not: { any: [{ field: "labels.test", op: "exists" }, { field: "body.total", op: "lt", value: 0 }] } },
          ],
        },
        yes: { messageType: "refund", body: { total: 1 } },
        no: { messageType: "refund", body: { total: -1 } },
      },
    ];
    const r = await rule(scopeId, { condition: { all: [{ not: { all: [] } }] }, action: { type: "ROUTE", targetQueueId: hit } });
    let routed = 0;
    for (const c of cases) {
      await ok(s.gql(UPDATE_RULE, { id: r.id, i: { scopeId, name: c.name, condition: c.condition, action: { type: "ROUTE", targetQueueId: hit } } }));
      // one batch, routed row by row: the non-matching message first, then the matching one
      const batch = [c.no, c.yes].filter((x) => x !== null).map((x) => ({ queueId: src, ...x, body: x.body ?? {} }));
      const states = (await ok(s.gql(PUBLISH_BATCH, { is: batch }))).publishBatch.map((p: { message: Msg }) => p.message.state);
      expect(states, c.name).toEqual(c.no ? ["PENDING", "ARCHIVED"] : ["ARCHIVED"]);
      routed++;
    }
    expect(await inQueue(hit!)).toHaveLength(routed);
  });
});

describe("rule order", () => {
  test("the first matching rule by position wins; disabled rules are skipped; update reorders; delete answers true then false", async ({ routing: { pipeline, rule, publish, inQueue, rules }, server: s }) => {
    const { scopeId, queues: [src, b, c, d] } = await pipeline(4);
    const when = { field: "labels.go", op: "eq", value: "1" };
    const route = (q: string) => ({ type: "ROUTE", targetQueueId: q });
    await rule(scopeId, { name: "never", position: 0, condition: { field: "labels.go", op: "eq", value: "2" }, action: route(d!) });
    const later = await rule(scopeId, { name: "later", position: 10, condition: when, action: route(b!) });
    const first = await rule(scopeId, { name: "first", position: 5, condition: when, action: route(c!) });
    await rule(scopeId, { name: "tie", position: 10, condition: when, action: route(d!) });
    // a rule of another trigger ahead of them all does not act on publish
    await rule(scopeId, { name: "completed", position: 0, trigger: "MESSAGE_COMPLETED", condition: { all: [] }, action: route(d!) });
    const where = async () => {
      const m = await publish(src!, { labels: { go: "1" } });
      expect(m.state).toBe("ARCHIVED");
      return Promise.all([b, c, d].map(async (q) => (await inQueue(q!)).length));
    };

    expect((await rules(scopeId)).map((r: { name: string }) => r.name)).toEqual(["never", "completed", "first", "later", "tie"]);
    expect(await where()).toEqual([0, 1, 0]);

    await ok(s.gql(UPDATE_RULE, { id: first.id, i: { scopeId, name: "first", position: 5, enabled: false, condition: when, action: route(c!) } }));
    expect(await where()).toEqual([1, 1, 0]); // "later" before "tie": same position, created first

    const moved = (await ok(s.gql(UPDATE_RULE, { id: first.id, i: { scopeId, name: "first", position: 20, condition: when, action: route(c!) } }))).updateRoutingRule;
    expect(moved).toMatchObject({ id: first.id, position: 20, enabled: true });
    expect((await rules(scopeId)).map((r: { name: string }) => r.name)).toEqual(["never", "completed", "later", "tie", "first"]);
    expect(await where()).toEqual([2, 1, 0]);

    expect((await ok(s.gql(DELETE_RULE, { id: later.id }))).deleteRoutingRule).toBe(true);
    expect((await ok(s.gql(DELETE_RULE, { id: later.id }))).deleteRoutingRule).toBe(false);
    expect((await ok(s.gql(DELETE_RULE, { id: "not-an-id" }))).deleteRoutingRule).toBe(false);
    expect(await where()).toEqual([2, 1, 1]);
    expect((await rules(scopeId)).map((r: { id: string }) => r.id)).not.toContain(later.id);

    // every change is in the audit log, by the admin key; the deletes that found nothing are not
    const adminKey = await adminKeyId(s);
    const audit = (await ok(s.gql(AUDIT_LOG, { s: scopeId, first: 1000 }))).auditLog;
    const count = (action: string) => audit.filter((e: { action: string }) => e.action === action).length;
    expect([count("createRoutingRule"), count("updateRoutingRule"), count("deleteRoutingRule")]).toEqual([5, 2, 1]);
    expect(new Set(audit.map((e: { actor: string }) => e.actor))).toEqual(new Set([adminKey]));
    expect(audit.find((e: { action: string }) => e.action === "deleteRoutingRule").details).toEqual({ id: later.id, name: "later" });
  });

  test("a rule's source queue restricts it to that queue; the saved rule reads back as given", async ({ routing: { pipeline, rule, publish, inQueue } }) => {
    const { scopeId, queues: [a, other, target] } = await pipeline(3);
    const r = await rule(scopeId, { name: "from a", sourceQueueId: a, condition: { field: "labels.go", op: "exists" }, action: { type: "COPY", targetQueueId: target, setPriorityTier: "HIGH" } });
    expect(r).toMatchObject({
      name: "from a",
      position: 0,
      enabled: true,
      trigger: "MESSAGE_PUBLISHED",
      sourceQueue: { id: a },
      condition: { field: "labels.go", op: "exists" },
      action: { type: "COPY", targetQueueId: target, setPriorityTier: "HIGH" },
    });
    await publish(a!, { labels: { go: "1" } });
    await publish(other!, { labels: { go: "1" } });
    const copies = await inQueue(target!);
    expect(copies).toHaveLength(1);
    expect(copies[0]).toMatchObject({ priorityTier: "HIGH" });
    expect((await inQueue(other!))[0]).toMatchObject({ state: "PENDING", priorityTier: "NORMAL" });
  });
});

describe("refused hops", () => {
  test("the circuit breaker stops an A → B → A loop after 16 hops: one record in _integrity, nothing lost or duplicated", async ({ routing: { pipeline, rule, publish, inQueue, depth, systemQueue } }) => {
    const { scopeId, queues: [a, b] } = await pipeline(2);
    await rule(scopeId, { sourceQueueId: a, condition: { all: [] }, action: { type: "ROUTE", targetQueueId: b } });
    await rule(scopeId, { sourceQueueId: b, condition: { all: [] }, action: { type: "ROUTE", targetQueueId: a } });
    const correlationId = `loop-${uniq()}`;
    const m = await publish(a!, { correlationId, body: { loop: true } });
    expect(m.state).toBe("ARCHIVED");
    const chain = [...(await inQueue(a!)), ...(await inQueue(b!))];
    expect(chain).toHaveLength(17);
    const live = chain.filter((x) => x.state === "PENDING");
    expect(live).toHaveLength(1);
    expect(chain.filter((x) => x.state === "ARCHIVED")).toHaveLength(16);
    expect(live[0]).toMatchObject({ queue: { id: a }, correlationId, body: { loop: true } });
    expect(await depth(a!)).toMatchObject({ pending: 1 });
    expect(await depth(b!)).toMatchObject({ pending: 0 });
    // every hop is caused by the one before: one unbroken chain from the original
    const byCause = new Map(chain.map((x) => [x.causationId, x]));
    let at: Msg | undefined = m;
    for (let hop = 0; hop < 16; hop++) at = byCause.get(at!.id);
    expect(at?.id).toBe(live[0]!.id);

    const records = await inQueue(await systemQueue(scopeId, "_integrity"));
    expect(records).toEqual([
      expect.objectContaining({ messageType: "scaiqueue.integrity.routing_refused", correlationId, causationId: live[0]!.id, body: expect.objectContaining({ messageId: live[0]!.id }) }),
    ]);
  });

  test("a hop into a paused queue is refused and recorded; the message stays where it is", async ({ routing: { pipeline, rule, publish, inQueue, systemQueue }, server: s }) => {
    const { scopeId, queues: [a, paused] } = await pipeline(2);
    await rule(scopeId, { condition: { all: [] }, action: { type: "ROUTE", targetQueueId: paused } });
    await ok(s.gql(CHANGE_STATE("pause", "Queue"), { id: paused }));
    const m = await publish(a!, { correlationId: `p-${uniq()}` });
    expect(m).toMatchObject({ state: "PENDING", queue: { id: a } });
    expect(await inQueue(paused!)).toEqual([]);
    const records = await inQueue(await systemQueue(scopeId, "_integrity"));
    expect(records).toEqual([expect.objectContaining({ messageType: "scaiqueue.integrity.routing_refused", causationId: m.id, correlationId: m.correlationId })]);
  });
});

describe("invalid rules", () => {
  test("each kind of bad rule answers VALIDATION_ERROR naming the bad part, and nothing is saved", async ({ routing: { pipeline, rule, publish, rules, systemQueue }, server: s }) => {
    const { scopeId, queues: [a, b] } = await pipeline(2);
    const elsewhere = await pipeline(1);
    const deadLetter = await systemQueue(scopeId, "_dead_letter");
    const base = { scopeId, name: "bad", condition: { field: "labels.a", op: "eq", value: "1" }, action: { type: "ROUTE", targetQueueId: b } };
    const kept = await rule(scopeId, { name: "kept", condition: base.condition, action: base.action });
    const leaf = { field: "labels.a", op: "eq", value: "1" };
    let deep: unknown = leaf;
    for (let i = 0; i < 11; i++) deep = { not: deep };

    const cases: [string, Record<string, unknown>, string][] = [
      ["bad op", { condition: { all: [leaf, { field: "labels.a", op: "like", value: "x" }] } }, "input.condition.all[1].op"],
      ["missing value", { condition: { field: "labels.a", op: "eq" } }, "input.condition.value"],
      ["in with a non-list", { condition: { any: [{ field: "labels.a", op: "in", value: "x" }] } }, "input.condition.any[0].value"],
      ["nin with an empty list", { condition: { field: "labels.a", op: "nin", value: [] } }, "input.condition.value"],
      ["gt with an object", { condition: { field: "body.n", op: "gt", value: { n: 1 } } }, "input.condition.value"],
      ["gt with an unknown tier", { condition: { field: "priorityTier", op: "gt", value: "URGENT" } }, "input.condition.value"],
      ["exists with a string", { condition: { field: "labels.a", op: "exists", value: "yes" } }, "input.condition.value"],
      ["bad regex", { condition: { field: "body.s", op: "matches", value: "(unclosed" } }, "input.condition.value"],
      // RE2 (linear time) has no backreferences or lookarounds
      ["backreference", { condition: { not: { field: "body.s", op: "matches", value: "(a)\\1" } } }, "input.condition.not.value"],
      ["lookahead", { condition: { field: "body.s", op: "matches", value: "a(?=b)" } }, "input.condition.value"],
      ["pattern too long", { condition: { field: "body.s", op: "matches", value: "a".repeat(201) } }, "input.condition.value"],
      ["unknown field", { condition: { field: "headers.host", op: "eq", value: "x" } }, "input.condition.field"],
      ["bad body path", { condition: { field: "body.items[x]", op: "eq", value: "x" } }, "input.condition.field"],
      ["unknown key", { condition: { field: "labels.a", op: "eq", value: "1", negate: true } }, "input.condition"],
      ["combinator with company", { condition: { all: [leaf], field: "labels.a" } }, "input.condition"],
      ["all with a non-list", { condition: { all: leaf } }, "input.condition.all"],
      ["non-object condition", { condition: "labels.a == 1" }, "input.condition"],
      ["list as condition", { condition: [leaf] }, "input.condition"],
      ["non-object inside not", { condition: { not: 5 } }, "input.condition.not"],
      ["too deep nesting", { condition: deep }, `input.condition${".not".repeat(11)}`],
      ["unknown action type", { action: { type: "FORWARD", targetQueueId: b } }, "input.action.type"],
      ["non-object action", { action: "ROUTE" }, "input.action"],
      ["unknown action key", { action: { type: "ROUTE", targetQueueId: b, delayS: 5 } }, "input.action"],
      ["ROUTE without target", { action: { type: "ROUTE" } }, "input.action.targetQueueId"],
      ["COPY without target", { action: { type: "COPY", setLabels: { x: "1" } } }, "input.action.targetQueueId"],
      ["TRANSFORM without changes", { action: { type: "TRANSFORM" } }, "input.action"],
      ["TRANSFORM with a target", { action: { type: "TRANSFORM", targetQueueId: b, setLabels: { x: "1" } } }, "input.action.targetQueueId"],
      ["ARCHIVE with changes", { action: { type: "ARCHIVE", setLabels: { x: "1" } } }, "input.action.setLabels"],
      ["bad setPriorityTier", { action: { type: "ESCALATE", setPriorityTier: "URGENT" } }, "input.action.setPriorityTier"],
      ["bad setLabels", { action: { type: "TRANSFORM", setLabels: { "bad key!": "x" } } }, "input.action.setLabels"],
      ["patch not an object", { action: { type: "TRANSFORM", patch: [1] } }, "input.action.patch"],
      ["target in another scope", { action: { type: "ROUTE", targetQueueId: elsewhere.queues[0] } }, "input.action.targetQueueId"],
      ["system queue as target", { action: { type: "COPY", targetQueueId: deadLetter } }, "input.action.targetQueueId"],
      ["target that does not exist", { action: { type: "ROUTE", targetQueueId: "0190f0f0-0000-7000-8000-000000000000" } }, "input.action.targetQueueId"],
      ["target that is no id", { action: { type: "ROUTE", targetQueueId: "queue-b" } }, "input.action.targetQueueId"],
      ["system queue as source", { sourceQueueId: deadLetter }, "input.sourceQueueId"],
      ["source in another scope", { sourceQueueId: elsewhere.queues[0] }, "input.sourceQueueId"],
      ["empty name", { name: "" }, "input.name"],
    ];
    for (const [what, change, field] of cases) {
      const r = await s.gql(CREATE_RULE, { i: { ...base, ...change } });
      expect(code(r), what).toBe("VALIDATION_ERROR");
      expect(r.errors![0]!.extensions!.details!.map((d) => d.field), what).toContain(field);
    }
    // an update is checked the same way, and a refused one leaves the rule as it was
    for (const [what, change, field] of [cases[0]!, cases.find(([w]) => w === "target in another scope")!]) {
      const u = await s.gql(UPDATE_RULE, { id: kept.id, i: { ...base, ...change } });
      expect(code(u), what).toBe("VALIDATION_ERROR");
      expect(u.errors![0]!.extensions!.details!.map((d) => d.field), what).toContain(field);
    }
    expect(code(await s.gql(CREATE_RULE, { i: { ...base, scopeId: "0190f0f0-0000-7000-8000-000000000000" } }))).toBe("SCAIQUEUE_SCOPE_NOT_FOUND");
    expect(code(await s.gql(CREATE_RULE, { i: { ...base, scopeId: "no-such-scope" } }))).toBe("SCAIQUEUE_SCOPE_NOT_FOUND");
    // not a trigger at all: refused by GraphQL itself, with the same code
    expect(code(await s.gql(CREATE_RULE, { i: { ...base, trigger: "MESSAGE_CLAIMED" } }))).toBe("VALIDATION_ERROR");

    expect(await rules(scopeId)).toEqual([kept]);
    // and the kept rule still routes
    expect((await publish(a!, { labels: { a: "1" } })).state).toBe("ARCHIVED");
  });
});

describe("permissions", () => {
  test("changing rules needs manage, listing them needs view; another tenant sees none of them", async ({ routing: { pipeline, rule, publish, rules }, server: s }) => {
    const { scopeId, queues: [a, b] } = await pipeline(2);
    const input = { scopeId, name: "r", condition: { all: [] }, action: { type: "ROUTE", targetQueueId: b } };
    const publishOnly = await s.newKey("default", ["scaiqueue:publish"]);
    const viewOnly = await s.newKey("default", ["scaiqueue:view"]);
    const stranger = await s.newKey(`other-${uniq()}`);
    const denied = (r: GqlResult) => expect(code(r)).toBe("AUTHZ_PERMISSION_DENIED");

    denied(await s.gql(CREATE_RULE, { i: input }, publishOnly));
    denied(await s.gql(CREATE_RULE, { i: input }, viewOnly));
    denied(await s.gql(RULES, { s: scopeId }, publishOnly));
    expect((await ok(s.gql(RULES, { s: scopeId }, viewOnly))).routingRules).toEqual([]);

    const r = await rule(scopeId, { name: "r", condition: input.condition, action: input.action });
    denied(await s.gql(UPDATE_RULE, { id: r.id, i: { ...input, enabled: false } }, viewOnly));
    denied(await s.gql(DELETE_RULE, { id: r.id }, publishOnly));
    expect((await ok(s.gql(RULES, { s: scopeId }, viewOnly))).routingRules).toEqual([r]);

    expect(code(await s.gql(RULES, { s: scopeId }, stranger))).toBe("SCAIQUEUE_SCOPE_NOT_FOUND");
    expect(code(await s.gql(CREATE_RULE, { i: input }, stranger))).toBe("SCAIQUEUE_SCOPE_NOT_FOUND");
    expect((await ok(s.gql(DELETE_RULE, { id: r.id }, stranger))).deleteRoutingRule).toBe(false);
    expect(code(await s.gql(UPDATE_RULE, { id: r.id, i: input }, stranger))).toBe("VALIDATION_ERROR");
    expect(await rules(scopeId)).toEqual([r]);
    // the rule still acts for its own tenant
    expect((await publish(a!)).state).toBe("ARCHIVED");
  });
});
