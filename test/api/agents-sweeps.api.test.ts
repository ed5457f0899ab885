import { describe, expect, test } from "../support/test.js";
import { ok, steppedClock, suiteServer, uniq, type SteppedClock, type TestServer } from "../support/server.js";
import { subscribe } from "../support/subscription.js";
import { createQueue, createScope, messagesOf, pick, systemQueue } from "../support/api.js";
import { CLAIM, COMPLETE, COMPLETED, DEPTH, FAIL, MESSAGE, PUBLISH, PUBLISH_BATCH, TRACE } from "../support/ops.js";

// The dead-letter monitor, priority aging and the archiver, with stepped clocks.
// Server `s` (`server`) archives after an hour keeping bodies; server `lean` also drops
// them. `peer` is a second process of `s`'s deployment (same database, Redis prefix and clock).

const HOUR = 3600_000;

test.override({ serverEnv: { ARCHIVE_AFTER_S: "3600", PRIORITY_AGING_STEP_S: "60" }, stepped: true });
const leanClock = steppedClock();
const leanServer = suiteServer({ ARCHIVE_AFTER_S: "3600", ARCHIVE_DROP_BODIES: "true" }, { clock: leanClock });

/** Publish/claim/finish helpers bound to one server. */
function on(t: TestServer, c: SteppedClock) {
  const h = {
    async publish(queueId: string, extra: Record<string, unknown> = {}): Promise<string> {
      return (await ok(t.gql(PUBLISH, { i: { queueId, body: { job: uniq(3) }, ...extra } }))).publish.message.id;
    },
    async claim(queueId: string, extra: Record<string, unknown> = {}): Promise<{ id: string; claimToken: string }[]> {
      return (await ok(t.gql(CLAIM, { i: { queueId, ...extra } }))).claim;
    },
    message: async (id: string) => (await ok(t.gql(MESSAGE, { id }))).message,
    async completed(queueId: string, extra: Record<string, unknown> = {}): Promise<string> {
      const id = await h.publish(queueId, extra);
      const [m] = await h.claim(queueId);
      expect(m!.id).toBe(id);
      await ok(t.gql(COMPLETE, { i: { messageId: id, claimToken: m!.claimToken, response: { answer: 42 } } }));
      return id;
    },
    async deadLettered(queueId: string): Promise<string> {
      const id = await h.publish(queueId);
      const [m] = await h.claim(queueId);
      expect(m!.id).toBe(id);
      const r = await ok(t.gql(FAIL, { i: { messageId: id, claimToken: m!.claimToken, reason: "poison", retryable: false } }));
      expect(r.fail.state).toBe("DEAD_LETTERED");
      return id;
    },
    async expired(queueId: string): Promise<string> {
      const id = await h.publish(queueId, { ttlSeconds: 1 });
      c.advance(1000);
      await t.sweep("expiry_enforcer", c.now());
      expect((await h.message(id)).state).toBe("EXPIRED");
      return id;
    },
  };
  return h;
}

describe("dead_letter_monitor", () => {
  test("returns how many messages were dead-lettered since its last sweep", async ({ server: s, clock }) => {
    const h = on(s, clock);
    const scopeId = await createScope(s);
    const queueId = await createQueue(s, scopeId, { maxRetries: 1, visibilityTimeoutS: 5 });
    await s.sweep("dead_letter_monitor", clock.now());
    clock.advance(1);

    await h.deadLettered(queueId);
    await h.deadLettered(queueId);
    // and one by a lapse at maxRetries
    const lapsing = await h.publish(queueId);
    await h.claim(queueId);
    clock.advance(5_000);
    await s.sweep("visibility_timeout_enforcer", clock.now());
    expect((await h.message(lapsing)).state).toBe("DEAD_LETTERED");

    // windows end SETTLE (2 s) back, so a dead-lettering is counted once it is that old
    clock.advance(2_001);
    expect(await s.sweep("dead_letter_monitor", clock.now())).toBe(3);
    clock.advance(1_000);
    expect(await s.sweep("dead_letter_monitor", clock.now())).toBe(0);
    clock.advance(1_000);
    await h.deadLettered(queueId);
    clock.advance(2_001);
    expect(await s.sweep("dead_letter_monitor", clock.now())).toBe(1);
  });

  // finishedAt is taken before the write commits: a message stamped at the very time of a
  // sweep but landing after it must still be counted by the next one.
  test("counts a message dead-lettered after its last sweep within the same millisecond", async ({ server: s, clock }) => {
    const h = on(s, clock);
    const scopeId = await createScope(s);
    const queueId = await createQueue(s, scopeId);
    clock.advance(1_000);
    await s.sweep("dead_letter_monitor", clock.now());
    await h.deadLettered(queueId); // after the sweep, at the same clock reading
    clock.advance(2_001);
    expect(await s.sweep("dead_letter_monitor", clock.now())).toBe(1);
  });
});

describe("dead_letter_monitor across processes", () => {
  // The runner hands each sweep to whichever process takes the lease; the mark of how far
  // the monitor has got lives in Redis, so processes taking turns count a message once.
  test("counts each dead-lettered message once when the processes take turns", async ({ server: s, peer, clock }) => {
    const h = on(s, clock);
    const queueId = await createQueue(s, await createScope(s));
    clock.advance(1_000);
    await s.sweep("dead_letter_monitor", clock.now());
    clock.advance(20_000);
    await peer.sweep("dead_letter_monitor", clock.now());
    clock.advance(1_000);
    await h.deadLettered(queueId);
    clock.advance(2_001);
    expect(await peer.sweep("dead_letter_monitor", clock.now())).toBe(1);
    clock.advance(10_000);
    expect(await s.sweep("dead_letter_monitor", clock.now())).toBe(0);
  });
});

describe("priority_aging (PRIORITY_AGING_STEP_S=60)", () => {
  const STEP = 60_000;
  const MIX = [
    ["c0", "CRITICAL"],
    ["h0", "HIGH"],
    ["n0", "NORMAL"],
    ["l0", "LOW"],
    ["b0", "BACKGROUND"],
  ] as const;
  const LATER = [
    ["n1", "NORMAL"],
    ["l1", "LOW"],
    ["b1", "BACKGROUND"],
  ] as const;

  /** Claims one at a time until the queue answers []; returns the names in claim order. */
  async function drain(s: TestServer, queueId: string, names: Map<string, string>): Promise<string[]> {
    const order: string[] = [];
    for (;;) {
      const got = (await ok(s.gql(CLAIM, { i: { queueId } }))).claim as { id: string }[];
      if (!got.length) return order;
      order.push(names.get(got[0]!.id) ?? got[0]!.id);
    }
  }

  test("raises waiting LOW/BACKGROUND messages one tier per step, never above NORMAL", async ({ server: s, clock }) => {
    const h = on(s, clock);
    const scopeId = await createScope(s);
    const [baseline, oneStep, twoSteps, manySteps] = await Promise.all(
      [1, 2, 3, 4].map(() => createQueue(s, scopeId, { ordering: "PRIORITY" })),
    );
    const queues = [baseline!, oneStep!, twoSteps!, manySteps!];
    const names = new Map<string, string>();
    const publishAll = async (batch: readonly (readonly [string, string])[], to = queues) => {
      for (const [name, priorityTier] of batch) {
        for (const q of to) names.set(await h.publish(q, { priorityTier }), name);
        clock.advance(1); // one millisecond apart, so publish order is unambiguous
      }
    };
    const t0 = clock.now();
    await publishAll(MIX);
    clock.set(t0 + STEP / 2);
    await publishAll(LATER);

    // without a sweep: tier, then publish time
    clock.set(t0 + STEP + 1_000);
    expect(await drain(s, baseline!, names)).toEqual(["c0", "h0", "n0", "n1", "l0", "l1", "b0", "b1"]);

    // one step: b0 (waited 61 s) ranks as LOW, ahead of the younger l1; b1 (31 s) does not move
    await s.sweep("priority_aging", clock.now());
    expect(await drain(s, oneStep!, names)).toEqual(["c0", "h0", "n0", "n1", "l0", "b0", "l1", "b1"]);

    // two steps: l0 and b0 (121 s) rank as NORMAL, by publish time; l1 and b1 (91 s) as LOW
    clock.set(t0 + 2 * STEP + 1_000);
    await s.sweep("priority_aging", clock.now());
    expect(await drain(s, twoSteps!, names)).toEqual(["c0", "h0", "n0", "l0", "b0", "n1", "l1", "b1"]);

    // ten steps: everything old is NORMAL at most; a fresh HIGH still goes first, a fresh NORMAL last
    clock.set(t0 + 10 * STEP);
    await s.sweep("priority_aging", clock.now());
    await publishAll([["h2", "HIGH"], ["n2", "NORMAL"]], [manySteps!]);
    await s.sweep("priority_aging", clock.now());
    expect(await drain(s, manySteps!, names)).toEqual(["c0", "h0", "h2", "n0", "l0", "b0", "n1", "l1", "b1", "n2"]);
  });

  test("ages a BACKGROUND message even behind 1000 younger LOW ones (low tiers cannot starve)", async ({ server: s, clock }) => {
    const h = on(s, clock);
    const scopeId = await createScope(s);
    const queueId = await createQueue(s, scopeId, { ordering: "PRIORITY" });
    const old = await h.publish(queueId, { priorityTier: "BACKGROUND" });
    clock.advance(STEP - 5_000);
    for (let batch = 0; batch < 2; batch++) {
      const inputs = Array.from({ length: 500 }, (_, i) => ({ queueId, body: { i }, priorityTier: "LOW" }));
      await ok(s.gql(PUBLISH_BATCH, { is: inputs }));
    }
    clock.advance(5_001); // the BACKGROUND one waited a step; the LOW ones 5 s
    await s.sweep("priority_aging", clock.now());
    // as LOW now, it is older than every other LOW message
    expect((await ok(s.gql(CLAIM, { i: { queueId } }))).claim.map((m: { id: string }) => m.id)).toEqual([old]);
  });
});

describe("message_archiver (ARCHIVE_AFTER_S=3600)", () => {
  test("archives _events messages past the retention whatever their state, and trace still reads them", async ({ server: s, clock }) => {
    const h = on(s, clock);
    const scopeId = await createScope(s);
    const queueId = await createQueue(s, scopeId);
    const correlationId = `events-${uniq()}`;
    // ahead of the wall clock, so the event ids (UUIDv7) carry these stepped times
    const t0 = clock.set(Math.max(clock.now(), Date.now()) + HOUR);
    const first = await h.publish(queueId, { correlationId });
    clock.set(t0 + HOUR / 2);
    const second = await h.publish(queueId, { correlationId });
    const events = await systemQueue(s, scopeId, "_events");
    const feed = async () => (await messagesOf(s, { q: events })).map((m) => [m.body.messageId, m.state]);
    expect(await feed()).toEqual([
      [first, "PENDING"],
      [second, "PENDING"],
    ]);
    clock.set(t0 + HOUR + 1_000);
    // a sweep takes at most SWEEP_BATCH rows, and earlier tests left old events in other scopes
    while ((await s.sweep("message_archiver", clock.now())) > 0);
    expect(await feed()).toEqual([
      [first, "ARCHIVED"],
      [second, "PENDING"],
    ]);
    const trace = (await ok(s.gql(TRACE, { s: scopeId, c: correlationId }))).trace;
    expect(trace.map((e: any) => pick(e, "type", "messageId"))).toEqual([
      { type: "scaiqueue.message.published", messageId: first },
      { type: "scaiqueue.message.published", messageId: second },
    ]);
  });

  test("archives finished messages older than the retention and leaves the rest", async ({ server: s, clock }) => {
    const h = on(s, clock);
    const scopeId = await createScope(s);
    const queueId = await createQueue(s, scopeId, { maxRetries: 3 });
    const correlationId = `arch-${uniq()}`;
    const t0 = clock.now();
    const completed = await h.completed(queueId, { correlationId });
    const deadLettered = await h.deadLettered(queueId);
    const expired = await h.expired(queueId); // finished at t0 + 1 s
    const claimed = await h.publish(queueId);
    expect((await h.claim(queueId, { visibilityTimeoutS: 43_200 })).map((m) => m.id)).toEqual([claimed]);
    const pending = await h.publish(queueId);
    clock.set(t0 + HOUR / 2);
    const young = await h.completed(await createQueue(s, scopeId));

    clock.set(t0 + HOUR + 1_000);
    expect(await s.sweep("message_archiver", clock.now())).toBeGreaterThanOrEqual(3);
    const states = async () =>
      Object.fromEntries(
        await Promise.all(
          Object.entries({ completed, deadLettered, expired, pending, claimed, young }).map(async ([k, id]) => [k, (await h.message(id)).state]),
        ),
      );
    expect(await states()).toEqual({
      completed: "ARCHIVED",
      deadLettered: "ARCHIVED",
      expired: "ARCHIVED",
      pending: "PENDING",
      claimed: "CLAIMED",
      young: "COMPLETED",
    });
    // bodies and responses are kept by default
    expect(await h.message(completed)).toMatchObject({ body: expect.any(Object), response: { answer: 42 } });
    expect(Object.keys((await h.message(completed)).body)).toEqual(["job"]);

    clock.set(t0 + HOUR + HOUR / 2 + 1_000);
    await s.sweep("message_archiver", clock.now());
    expect((await states()).young).toBe("ARCHIVED");
    expect(await ok(s.gql(DEPTH, { q: queueId }))).toEqual({ queueDepth: { pending: 1, claimed: 1, delayed: 0 } });

    // a waiter that subscribes after archiving still gets the completion
    const client = s.wsClient();
    const waiter = subscribe(client, COMPLETED, { c: correlationId });
    expect((await waiter.next()).messageCompleted).toMatchObject({
      type: "scaiqueue.message.completed",
      messageId: completed,
      correlationId,
      response: { answer: 42 },
    });
    waiter.close();
    await client.dispose();
  });

  test("with ARCHIVE_DROP_BODIES=true, body becomes {} and response null; waiters still get the completion", async () => {
    const lean = leanServer();
    const h = on(lean, leanClock);
    const scopeId = await createScope(lean);
    const queueId = await createQueue(lean, scopeId);
    const correlationId = `lean-${uniq()}`;
    const completed = await h.completed(queueId, { correlationId, body: { big: "x".repeat(1000) } });
    const deadLettered = await h.deadLettered(queueId);
    const expired = await h.expired(queueId);
    const pending = await h.publish(queueId, { body: { keep: true } });

    leanClock.advance(HOUR + 1_000);
    expect(await lean.sweep("message_archiver", leanClock.now())).toBeGreaterThanOrEqual(3);
    expect(await h.message(completed)).toMatchObject({ state: "ARCHIVED", body: {}, response: null, completedAt: expect.any(String) });
    expect(await h.message(deadLettered)).toMatchObject({ state: "ARCHIVED", body: {}, response: null });
    expect(await h.message(expired)).toMatchObject({ state: "ARCHIVED", body: {}, response: null });
    expect(await h.message(pending)).toMatchObject({ state: "PENDING", body: { keep: true } });

    const client = lean.wsClient();
    const waiter = subscribe(client, COMPLETED, { c: correlationId });
    expect((await waiter.next()).messageCompleted).toMatchObject({ type: "scaiqueue.message.completed", messageId: completed, correlationId });
    expect(await waiter.quiet(200)).toBe(true);
    waiter.close();
    await client.dispose();
  });
});
