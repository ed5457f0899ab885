import { describe, expect, test as base } from "../support/test.js";
import { ok, code, uniq, type TestServer } from "../support/server.js";
import { subscribe } from "../support/subscription.js";
import { messagesOf } from "../support/api.js";
import { CLAIM, COMPLETE, DEPTH, EVENTS, EXTEND, FAIL, MESSAGE, PUBLISH, SCOPE } from "../support/ops.js";

// The visibility-timeout enforcer, the expiry enforcer and the delayed promoter, driven
// with a stepped clock: the API and the agents read it, tests call s.sweep(agent, now).

/** Publish, claim, complete and reads on one server. */
function messagesOn(s: TestServer) {
  return {
    async publish(queueId: string, extra: Record<string, unknown> = {}): Promise<string> {
      return (await ok(s.gql(PUBLISH, { i: { queueId, body: { n: uniq(3) }, ...extra } }))).publish.message.id;
    },
    async claim(queueId: string, extra: Record<string, unknown> = {}): Promise<{ id: string; claimToken: string; attempts: number }[]> {
      return (await ok(s.gql(CLAIM, { i: { queueId, ...extra } }))).claim;
    },
    message: async (id: string) => (await ok(s.gql(MESSAGE, { id }))).message,
    depth: async (q: string) => (await ok(s.gql(DEPTH, { q }))).queueDepth,
    complete: (messageId: string, claimToken: string) => s.gql(COMPLETE, { i: { messageId, claimToken, response: { ok: true } } }),
    async deadLetterQueueOf(scope: string): Promise<string> {
      const queues = (await ok(s.gql(SCOPE, { id: scope }))).scope.queues as { id: string; slug: string; system: boolean }[];
      const dlq = queues.find((q) => q.slug === "_dead_letter");
      expect(dlq?.system).toBe(true);
      return dlq!.id;
    },
  };
}

const test = base.extend("api", ({ server }) => messagesOn(server));
test.override({ stepped: true });

const iso = (ms: number) => new Date(ms).toISOString();

describe("visibility_timeout_enforcer", () => {
  test("brings a lapsed claim back as pending, counted, with a failed event; the old token is refused", async ({ api: { publish, claim, message, depth, complete }, server: s, clock, newQueue }) => {
    const queueId = await newQueue({ visibilityTimeoutS: 30 });
    const client = s.wsClient();
    const events = subscribe(client, EVENTS, { q: queueId, t: ["scaiqueue.message.failed"] });
    expect(await events.quiet(300)).toBe(true);

    const id = await publish(queueId);
    const [first] = await claim(queueId);
    expect(first).toMatchObject({ id, attempts: 1 });

    // the claim is over at claimExpiresAt exactly, even before the enforcer has run
    clock.advance(30_000);
    expect(code(await complete(id, first!.claimToken))).toBe("SCAIQUEUE_NOT_CLAIM_OWNER");
    expect((await message(id)).state).toBe("CLAIMED");

    expect(await s.sweep("visibility_timeout_enforcer", clock.now())).toBeGreaterThanOrEqual(1);
    const back = await message(id);
    expect(back).toMatchObject({ state: "PENDING", attempts: 1 });
    expect(back.failureReason).toMatch(/visibility timeout/);
    expect(await depth(queueId)).toEqual({ pending: 1, claimed: 0, delayed: 0 });

    const event = (await events.next()).messageEvents;
    expect(event).toMatchObject({ type: "scaiqueue.message.failed", messageId: id, state: "PENDING", message: { attempts: 1 } });
    expect(event.failureReason).toMatch(/visibility timeout/);

    const [second] = await claim(queueId);
    expect(second).toMatchObject({ id, attempts: 2 });
    expect(second!.claimToken).not.toBe(first!.claimToken);
    expect(code(await complete(id, first!.claimToken))).toBe("SCAIQUEUE_NOT_CLAIM_OWNER");
    expect((await ok(complete(id, second!.claimToken))).complete.state).toBe("COMPLETED");
    expect(await depth(queueId)).toEqual({ pending: 0, claimed: 0, delayed: 0 });

    events.close();
    await client.dispose();
  });

  test("dead-letters a lapse at attempts >= maxRetries, with a copy in the scope's _dead_letter queue", async ({ api: { publish, claim, message, depth, complete, deadLetterQueueOf }, server: s, clock, scope, newQueue }) => {
    const queueId = await newQueue({ visibilityTimeoutS: 5, maxRetries: 2 });
    const correlationId = `lapse-${uniq()}`;
    const id = await publish(queueId, { correlationId, body: { job: "lapse" } });

    // attempt 1 lapses with a retry left: pending again
    await claim(queueId);
    clock.advance(5_000);
    await s.sweep("visibility_timeout_enforcer", clock.now());
    expect((await message(id)).state).toBe("PENDING");

    // attempt 2 lapses at maxRetries: dead-lettered
    const [again] = await claim(queueId);
    expect(again!.attempts).toBe(2);
    clock.advance(5_000);
    await s.sweep("visibility_timeout_enforcer", clock.now());
    const dead = await message(id);
    expect(dead).toMatchObject({ state: "DEAD_LETTERED", attempts: 2 });
    expect(dead.failureReason).toMatch(/visibility timeout/);
    expect(await depth(queueId)).toEqual({ pending: 0, claimed: 0, delayed: 0 });
    expect(code(await complete(id, again!.claimToken))).toBe("SCAIQUEUE_INVALID_STATE");

    const dlq = await deadLetterQueueOf(scope);
    const copies = (await messagesOf(s, { q: dlq, first: 500 })).filter((m: any) => m.causationId === id);
    expect(copies).toHaveLength(1);
    expect(copies[0]).toMatchObject({ state: "PENDING", correlationId, causationId: id, body: { job: "lapse" } });
    expect(copies[0].failureReason).toMatch(/visibility timeout/);
  });

  test("leaves a live claim alone", async ({ api: { publish, claim, message, depth, complete }, server: s, clock, newQueue }) => {
    const queueId = await newQueue({ visibilityTimeoutS: 60 });
    const id = await publish(queueId);
    const [c] = await claim(queueId);
    clock.advance(59_000);
    await s.sweep("visibility_timeout_enforcer", clock.now());
    expect(await message(id)).toMatchObject({ state: "CLAIMED", attempts: 1 });
    expect(await depth(queueId)).toEqual({ pending: 0, claimed: 1, delayed: 0 });
    expect((await ok(complete(id, c!.claimToken))).complete.state).toBe("COMPLETED");
  });

  test("respects extend: a sweep after the original timeout leaves the claim live and completable", async ({ api: { publish, claim, message, depth, complete }, server: s, clock, newQueue }) => {
    const queueId = await newQueue({ visibilityTimeoutS: 10 });
    const id = await publish(queueId);
    const [c] = await claim(queueId);
    clock.advance(5_000);
    const extended = (await ok(s.gql(EXTEND, { i: { messageId: id, claimToken: c!.claimToken, extendByS: 60 } }))).extend;
    expect(new Date(extended.claimExpiresAt).getTime()).toBe(clock.now() + 60_000);

    clock.advance(10_000); // 15 s after the claim: past the original 10 s, inside the extension
    await s.sweep("visibility_timeout_enforcer", clock.now());
    expect(await message(id)).toMatchObject({ state: "CLAIMED", attempts: 1 });
    expect((await ok(complete(id, c!.claimToken))).complete.state).toBe("COMPLETED");
    expect(await depth(queueId)).toEqual({ pending: 0, claimed: 0, delayed: 0 });
  });
});

describe("expiry_enforcer", () => {
  test("expires pending messages by ttlSeconds and by deadline, and leaves the rest", async ({ api: { publish, claim, message, depth }, server: s, clock, newQueue }) => {
    const queueId = await newQueue();
    const byTtl = await publish(queueId, { ttlSeconds: 10 });
    const byDeadline = await publish(queueId, { deadline: iso(clock.now() + 20_000) });
    const forever = await publish(queueId);
    expect(await depth(queueId)).toEqual({ pending: 3, claimed: 0, delayed: 0 });

    clock.advance(10_000);
    await s.sweep("expiry_enforcer", clock.now());
    expect((await message(byTtl)).state).toBe("EXPIRED");
    expect((await message(byDeadline)).state).toBe("PENDING");
    expect(await depth(queueId)).toEqual({ pending: 2, claimed: 0, delayed: 0 });

    clock.advance(10_000);
    await s.sweep("expiry_enforcer", clock.now());
    expect((await message(byDeadline)).state).toBe("EXPIRED");
    expect((await message(forever)).state).toBe("PENDING");
    expect(await depth(queueId)).toEqual({ pending: 1, claimed: 0, delayed: 0 });
    expect((await claim(queueId)).map((m) => m.id)).toEqual([forever]);
  });

  test("expires claimed messages; a late complete answers INVALID_STATE", async ({ api: { publish, claim, message, depth, complete }, server: s, clock, newQueue }) => {
    const queueId = await newQueue({ visibilityTimeoutS: 600 });
    const byTtl = await publish(queueId, { ttlSeconds: 10 });
    const byDeadline = await publish(queueId, { deadline: iso(clock.now() + 10_000) });
    const claimed = await claim(queueId, { batchSize: 2 });
    expect(claimed.map((m) => m.id)).toEqual([byTtl, byDeadline]);
    expect(await depth(queueId)).toEqual({ pending: 0, claimed: 2, delayed: 0 });

    clock.advance(10_000);
    expect(await s.sweep("expiry_enforcer", clock.now())).toBeGreaterThanOrEqual(2);
    for (const m of claimed) {
      expect((await message(m.id)).state).toBe("EXPIRED");
      expect(code(await complete(m.id, m.claimToken))).toBe("SCAIQUEUE_INVALID_STATE");
    }
    expect(await depth(queueId)).toEqual({ pending: 0, claimed: 0, delayed: 0 });
  });

  test("does not hand out a message that expired but was not swept yet", async ({ api: { publish, claim, message, depth }, server: s, clock, newQueue }) => {
    const queueId = await newQueue();
    const id = await publish(queueId, { ttlSeconds: 5 });
    clock.advance(5_000);
    expect(await claim(queueId)).toEqual([]);
    await s.sweep("expiry_enforcer", clock.now());
    expect((await message(id)).state).toBe("EXPIRED");
    expect(await depth(queueId)).toEqual({ pending: 0, claimed: 0, delayed: 0 });
  });

  // Contract §4: claim answers [] only "when nothing is claimable".
  test("hands out the next live message when the one ahead of it expired unswept", async ({ api: { publish, claim, message }, server: s, clock, newQueue }) => {
    const queueId = await newQueue();
    const stale = await publish(queueId, { ttlSeconds: 5 });
    const live = await publish(queueId);
    clock.advance(5_000);
    expect((await claim(queueId)).map((m) => m.id)).toEqual([live]);
    await s.sweep("expiry_enforcer", clock.now());
    expect((await message(stale)).state).toBe("EXPIRED");
  });

  // Contract §5: messages whose deadline passed before completion become EXPIRED.
  test("does not let a claim complete a message after its deadline, before the sweep", async ({ api: { publish, claim, message, complete }, server: s, clock, newQueue }) => {
    const queueId = await newQueue({ visibilityTimeoutS: 600 });
    const id = await publish(queueId, { deadline: iso(clock.now() + 10_000) });
    const [c] = await claim(queueId);
    clock.advance(11_000);
    const late = await complete(id, c!.claimToken);
    await s.sweep("expiry_enforcer", clock.now());
    expect((await message(id)).state).toBe("EXPIRED");
    expect(code(late)).toBe("SCAIQUEUE_INVALID_STATE");
  });
});

describe("delayed_promoter", () => {
  test("moves due delayed messages to ready at their delayUntil", async ({ api: { publish, claim, depth }, server: s, clock, newQueue }) => {
    const queueId = await newQueue();
    const id = await publish(queueId, { delayUntil: iso(clock.now() + 10_000) });
    expect(await depth(queueId)).toEqual({ pending: 1, claimed: 0, delayed: 1 });
    expect(await claim(queueId)).toEqual([]);

    clock.advance(9_999);
    await s.sweep("delayed_promoter", clock.now());
    expect(await depth(queueId)).toEqual({ pending: 1, claimed: 0, delayed: 1 });

    clock.advance(1);
    expect(await s.sweep("delayed_promoter", clock.now())).toBeGreaterThanOrEqual(1);
    expect(await depth(queueId)).toEqual({ pending: 1, claimed: 0, delayed: 0 });
    expect((await claim(queueId)).map((m) => m.id)).toEqual([id]);
  });
});

describe("fail and the sweeps", () => {
  test("a failed message waits out its backoff as delayed, then the promoter makes it ready", async ({ api: { publish, claim, message, depth }, server: s, clock, newQueue }) => {
    const queueId = await newQueue();
    const id = await publish(queueId);
    const [c] = await claim(queueId);
    expect((await ok(s.gql(FAIL, { i: { messageId: id, claimToken: c!.claimToken, reason: "boom" } }))).fail.state).toBe("PENDING");
    expect(await depth(queueId)).toEqual({ pending: 1, claimed: 0, delayed: 1 });
    clock.advance(10 * 60_000); // past any backoff (RETRY_BACKOFF_MAX_MS is 5 min)
    await s.sweep("delayed_promoter", clock.now());
    expect(await depth(queueId)).toEqual({ pending: 1, claimed: 0, delayed: 0 });
    expect(await message(id)).toMatchObject({ state: "PENDING", failureReason: "boom", attempts: 1 });
  });
});
