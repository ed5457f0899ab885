import { describe, expect, test as base } from "../support/test.js";
import { code, uniq, type SteppedClock, type TestServer } from "../support/server.js";
import { subscribe } from "../support/subscription.js";
import { messagesOf, pick, systemQueue } from "../support/api.js";
import { CLAIM, COMPLETE, DEPTH, EVENTS, EXTEND, FAIL, MESSAGE, MESSAGES, PUBLISH, RELEASE } from "../support/ops.js";

const BASE_MS = 1000;

function claimsOn(s: TestServer, clock: SteppedClock) {
  async function claimOne(queueId: string, extra: Record<string, unknown> = {}) {
    const r = await s.gql(CLAIM, { i: { queueId, ...extra } });
    expect(r.errors).toBeUndefined();
    return r.data.claim[0] as { id: string; claimToken: string; attempts: number } | undefined;
  }
  return {
    claimOne,
    /** Steps the clock 50 ms at a time until the message can be claimed; returns the wait. */
    async waitUntilClaimable(queueId: string, maxMs: number) {
      const start = clock.now();
      for (;;) {
        const m = await claimOne(queueId);
        if (m) return { m, waitedMs: clock.now() - start };
        if (clock.now() - start > maxMs) throw new Error(`not claimable within ${maxMs} ms`);
        clock.advance(50);
      }
    },
  };
}

const test = base.extend("claims", ({ server, clock }) => claimsOn(server, clock));
test.override({ serverEnv: { RETRY_BACKOFF_BASE_MS: String(BASE_MS), RETRY_BACKOFF_MAX_MS: "60000" }, stepped: true });

const deadLetterCopies = async (s: TestServer, scopeId: string, correlationId: string) =>
  messagesOf(s, { q: await systemQueue(s, scopeId, "_dead_letter"), c: correlationId });

describe("fail", () => {
  test("retries with growing backoff until maxRetries, then dead-letters with a copy in _dead_letter", async ({ claims: { claimOne, waitUntilClaimable }, server: s, scope, newQueue }) => {
    const queueId = await newQueue({ maxRetries: 4 });
    const correlationId = `job-${uniq()}`;
    const published = await s.gql(PUBLISH, { i: { queueId, body: { job: 1 }, correlationId } });
    const id = published.data.publish.message.id;
    const client = s.wsClient();
    const events = subscribe(client, EVENTS, { q: queueId, t: ["scaiqueue.message.failed", "scaiqueue.message.dead_lettered"] });
    expect(await events.quiet(200)).toBe(true);

    let m = (await claimOne(queueId))!;
    const gaps: number[] = [];
    for (let attempt = 1; attempt <= 4; attempt++) {
      expect(m).toMatchObject({ id, attempts: attempt });
      const failed = await s.gql(FAIL, { i: { messageId: id, claimToken: m.claimToken, reason: `boom ${attempt}` } });
      expect(failed.errors).toBeUndefined();
      if (attempt < 4) {
        expect(failed.data.fail).toMatchObject({ state: "PENDING", attempts: attempt, failureReason: `boom ${attempt}` });
        expect((await events.next()).messageEvents).toMatchObject({ type: "scaiqueue.message.failed", state: "PENDING", failureReason: `boom ${attempt}` });
        const next = await waitUntilClaimable(queueId, 10 * BASE_MS * 2 ** attempt);
        gaps.push(next.waitedMs);
        m = next.m;
      } else {
        expect(failed.data.fail).toMatchObject({ state: "DEAD_LETTERED", attempts: 4, failureReason: "boom 4" });
      }
    }
    // equal jitter: the k-th wait lies in [base·2^(k−1)/2, base·2^(k−1)], so the waits grow
    gaps.forEach((g, k) => {
      expect(g).toBeGreaterThanOrEqual((BASE_MS * 2 ** k) / 2 - 50);
      expect(g).toBeLessThanOrEqual(BASE_MS * 2 ** k + 50);
    });
    expect(gaps[2]!).toBeGreaterThan(gaps[0]!);
    expect((await events.next()).messageEvents).toMatchObject({ type: "scaiqueue.message.dead_lettered", state: "DEAD_LETTERED", failureReason: "boom 4" });
    events.close();
    await client.dispose();

    expect((await s.gql(DEPTH, { q: queueId })).data.queueDepth).toEqual({ pending: 0, claimed: 0, delayed: 0 });
    expect(await claimOne(queueId)).toBeUndefined();
    const dlq = await deadLetterCopies(s, scope, correlationId);
    expect(dlq).toEqual([
      expect.objectContaining({ state: "PENDING", causationId: id, parentId: id, correlationId, failureReason: "boom 4", body: { job: 1 } }),
    ]);
    // the dead-letter queue is an ordinary queue to consume from
    const dlqId = await systemQueue(s, scope, "_dead_letter");
    expect((await claimOne(dlqId))?.id).toBe(dlq[0]!.id);
  });

  test("dead-letters at once when retryable is false", async ({ claims: { claimOne }, server: s, scope, newQueue }) => {
    const queueId = await newQueue({ maxRetries: 5 });
    const correlationId = `fatal-${uniq()}`;
    await s.gql(PUBLISH, { i: { queueId, body: {}, correlationId } });
    const m = (await claimOne(queueId))!;
    const failed = await s.gql(FAIL, { i: { messageId: m.id, claimToken: m.claimToken, reason: "bad input", retryable: false } });
    expect(failed.data.fail).toMatchObject({ state: "DEAD_LETTERED", attempts: 1 });
    expect(await deadLetterCopies(s, scope, correlationId)).toHaveLength(1);
  });

  test("refuses a wrong token, a pending message and a lapsed claim, changing nothing", async ({ claims: { claimOne }, server: s, clock, newQueue }) => {
    const queueId = await newQueue({ visibilityTimeoutS: 5 });
    await s.gql(PUBLISH, { i: { queueId, body: {} } });
    const pending = await s.gql(MESSAGES, { q: queueId });
    const id = pending.data.messages.edges[0].node.id;
    expect(code(await s.gql(FAIL, { i: { messageId: id, reason: "x" } }))).toBe("SCAIQUEUE_INVALID_STATE");
    const m = (await claimOne(queueId))!;
    expect(code(await s.gql(FAIL, { i: { messageId: id, claimToken: "not-the-token", reason: "x" } }))).toBe("SCAIQUEUE_NOT_CLAIM_OWNER");
    expect(code(await s.gql(RELEASE, { i: { messageId: id, claimToken: "not-the-token" } }))).toBe("SCAIQUEUE_NOT_CLAIM_OWNER");
    expect(code(await s.gql(EXTEND, { i: { messageId: id, claimToken: "not-the-token", extendByS: 5 } }))).toBe("SCAIQUEUE_NOT_CLAIM_OWNER");
    clock.advance(5000);
    expect(code(await s.gql(FAIL, { i: { messageId: id, claimToken: m.claimToken, reason: "late" } }))).toBe("SCAIQUEUE_NOT_CLAIM_OWNER");
    const row = await s.gql(MESSAGE, { id });
    expect(pick(row.data.message, "state", "attempts", "failureReason")).toEqual({ state: "CLAIMED", attempts: 1, failureReason: null });
    expect(code(await s.gql(FAIL, { i: { messageId: `${id}x`, reason: "x" } }))).toBe("SCAIQUEUE_MESSAGE_NOT_FOUND");
  });
});

describe("release", () => {
  test("hands the message back without counting the try, after delayS", async ({ claims: { claimOne }, server: s, clock, newQueue }) => {
    const queueId = await newQueue({ maxRetries: 1 });
    await s.gql(PUBLISH, { i: { queueId, body: {} } });
    const first = (await claimOne(queueId))!;
    const released = await s.gql(RELEASE, { i: { messageId: first.id, claimToken: first.claimToken, delayS: 30 } });
    expect(released.data.release).toMatchObject({ state: "PENDING", attempts: 0 });
    expect((await s.gql(DEPTH, { q: queueId })).data.queueDepth).toEqual({ pending: 1, claimed: 0, delayed: 1 });
    clock.advance(29_000);
    expect(await claimOne(queueId)).toBeUndefined();
    clock.advance(1_000);
    const again = (await claimOne(queueId))!;
    expect(again).toMatchObject({ id: first.id, attempts: 1 });
    // maxRetries 1 and the release did not count: a failure now is the first, and the last
    const failed = await s.gql(FAIL, { i: { messageId: again.id, claimToken: again.claimToken, reason: "x" } });
    expect(failed.data.fail.state).toBe("DEAD_LETTERED");
  });
});

describe("extend", () => {
  test("keeps a slow worker's claim alive past the original timeout", async ({ claims: { claimOne }, server: s, clock, newQueue }) => {
    const queueId = await newQueue({ visibilityTimeoutS: 10 });
    await s.gql(PUBLISH, { i: { queueId, body: {} } });
    const m = (await claimOne(queueId))!;
    clock.advance(8_000);
    const extended = await s.gql(EXTEND, { i: { messageId: m.id, claimToken: m.claimToken, extendByS: 20 } });
    expect(extended.data.extend.state).toBe("CLAIMED");
    expect(new Date(extended.data.extend.claimExpiresAt).getTime()).toBe(clock.now() + 20_000);
    clock.advance(15_000); // 23 s after the claim: past the original 10 s
    await s.sweep("visibility_timeout_enforcer", clock.now()); // (other tests' lapsed claims may come back)
    const still = await s.gql(MESSAGE, { id: m.id });
    expect(pick(still.data.message, "state", "attempts")).toEqual({ state: "CLAIMED", attempts: 1 });
    expect(await claimOne(queueId)).toBeUndefined();
    const done = await s.gql(COMPLETE, { i: { messageId: m.id, claimToken: m.claimToken } });
    expect(done.data.complete.state).toBe("COMPLETED");
  });
});

