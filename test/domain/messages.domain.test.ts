import { describe, expect, newActor, test } from "../support/domain.js";
import { uniq } from "../support/server.js";
import { publish } from "../../src/domain/messages/publish.js";
import { claim } from "../../src/domain/messages/claim.js";
import { complete } from "../../src/domain/messages/complete.js";
import { extend, fail, release } from "../../src/domain/messages/fail-release-extend.js";
import { getMessage } from "../../src/domain/messages/read.js";
import { IdempotencyConflictError, InvalidStateError, MessageNotFoundError, NotClaimOwnerError, QueueNotFoundError, ValidationError } from "../../src/errors.js";

/*
 * The message operations called on the deps, as a resolver calls them: no HTTP, no
 * GraphQL, the errors as the classes the domain throws (src/errors.ts). The deps read a
 * stepped clock, so claims lapse and backoffs end when a test says so.
 */

/** The error a call was refused with (it must be refused). */
async function refusal(p: Promise<unknown>): Promise<Error & { code?: string; details?: { field: string }[] }> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected the operation to be refused");
}

describe("publish, claim and complete", () => {
  test("a published message is handed out once, its attempt counted, and completed with its response", async ({ deps, actor, clock, newQueue }) => {
    const queueId = await newQueue({ visibilityTimeoutS: 30 });
    const [published] = await publish(deps, actor, [{ queueId, body: { n: 1 }, correlationId: "order-1" }], "input");
    expect(published!.duplicate).toBe(false);
    expect(published!.message).toMatchObject({ queueId, state: "PENDING", attempts: 0, body: { n: 1 }, correlationId: "order-1" });
    const id = published!.message.id;

    const claimed = await claim(deps, actor, { queueId, consumerId: "worker-1" });
    expect(claimed.map((c) => c.message.id)).toEqual([id]);
    const [{ message, claimToken }] = claimed as [(typeof claimed)[number]];
    expect(message).toMatchObject({ state: "CLAIMED", attempts: 1, claimedBy: "worker-1" });
    expect(message.claimExpiresAt!.getTime()).toBe(clock.now() + 30_000);
    expect(claimToken).toEqual(expect.any(String));
    expect(await claim(deps, actor, { queueId })).toEqual([]); // handed out once

    const [done] = await complete(deps, actor, [{ messageId: id, claimToken, response: { ok: true } }], "input");
    expect(done).toMatchObject({ id, state: "COMPLETED", response: { ok: true } });
    expect(await getMessage(deps, actor, id)).toMatchObject({ state: "COMPLETED", attempts: 1, response: { ok: true }, completedAt: expect.any(Date) });
  });

  test("claim hands out in publish order, a batch in its own order, batchSize at a time", async ({ deps, actor, newQueue }) => {
    const queueId = await newQueue({ ordering: "FIFO" });
    await publish(deps, actor, [{ queueId, body: { n: 1 } }], "input");
    await publish(deps, actor, [2, 3, 4].map((n) => ({ queueId, body: { n } })), "inputs");
    const bodies = async (batchSize: number) => (await claim(deps, actor, { queueId, batchSize })).map((c) => c.message.body);
    expect(await bodies(2)).toEqual([{ n: 1 }, { n: 2 }]);
    expect(await bodies(5)).toEqual([{ n: 3 }, { n: 4 }]);
    expect(await bodies(5)).toEqual([]);
  });

  test("an idempotency key makes a repeat a duplicate of the first; another body under it is refused, and so is its whole batch", async ({ deps, actor, newQueue }) => {
    const queueId = await newQueue();
    const key = `order-${uniq()}`;
    const [first] = await publish(deps, actor, [{ queueId, body: { order: 7, items: [1, 2] }, idempotencyKey: key }], "input");
    // the same body with its keys in another order is the same body
    const [again] = await publish(deps, actor, [{ queueId, body: { items: [1, 2], order: 7 }, idempotencyKey: key }], "input");
    expect(again).toMatchObject({ duplicate: true, message: { id: first!.message.id } });

    const conflict = await refusal(publish(deps, actor, [{ queueId, body: { fresh: true } }, { queueId, body: { order: 8 }, idempotencyKey: key }], "inputs"));
    expect(conflict).toBeInstanceOf(IdempotencyConflictError);
    expect(conflict.code).toBe("SCAIQUEUE_IDEMPOTENCY_CONFLICT");
    expect(conflict.details).toEqual([{ field: "inputs.1.idempotencyKey", message: expect.any(String) }]);
    // one message in the queue: the first publish's, not the refused batch's fresh one
    expect((await claim(deps, actor, { queueId, batchSize: 10 })).map((c) => c.message.id)).toEqual([first!.message.id]);
  });

  test("publish checks every input before it writes: a bad item is named by its index, another tenant's queue is not found", async ({ deps, actor, newQueue }) => {
    const queueId = await newQueue();
    const bad = await refusal(publish(deps, actor, [{ queueId, body: 1 }, { queueId, body: 2, priorityScore: 1001 }], "inputs"));
    expect(bad).toBeInstanceOf(ValidationError);
    expect(bad.details!.map((d) => d.field)).toEqual(["inputs.1.priorityScore"]);
    const single = await refusal(publish(deps, actor, [{ queueId, body: 1, priorityScore: -1 }], "input"));
    expect(single.details!.map((d) => d.field)).toEqual(["input.priorityScore"]);
    expect(await claim(deps, actor, { queueId, batchSize: 10 })).toEqual([]); // nothing was written

    const stranger = await newActor(deps, `other-${uniq()}`);
    expect(await refusal(publish(deps, stranger, [{ queueId, body: 1 }], "input"))).toBeInstanceOf(QueueNotFoundError);
    expect((await refusal(claim(deps, stranger, { queueId }))).code).toBe("SCAIQUEUE_QUEUE_NOT_FOUND");
  });
});

describe("complete refuses what is not the caller's live claim, and writes nothing", () => {
  test("a message not claimed, an unknown one, another tenant's, a wrong or lapsed token, a message named twice", async ({ deps, actor, clock, newQueue }) => {
    const queueId = await newQueue({ visibilityTimeoutS: 10 });
    const ids = (await publish(deps, actor, [1, 2, 3].map((n) => ({ queueId, body: { n } })), "inputs")).map((p) => p.message.id);
    const [held] = await claim(deps, actor, { queueId });
    const pendingId = ids[2]!;

    const pending = await refusal(complete(deps, actor, [{ messageId: pendingId }], "input"));
    expect(pending).toBeInstanceOf(InvalidStateError);
    expect(pending.code).toBe("SCAIQUEUE_INVALID_STATE");
    expect(await refusal(complete(deps, actor, [{ messageId: "01900000-0000-7000-8000-000000000000" }], "input"))).toBeInstanceOf(MessageNotFoundError);
    const stranger = await newActor(deps, `other-${uniq()}`);
    expect((await refusal(complete(deps, stranger, [{ messageId: held!.message.id, claimToken: held!.claimToken }], "input"))).code).toBe("SCAIQUEUE_MESSAGE_NOT_FOUND");
    const wrong = await refusal(complete(deps, actor, [{ messageId: held!.message.id, claimToken: "not-the-token" }], "input"));
    expect(wrong).toBeInstanceOf(NotClaimOwnerError);
    expect(wrong.code).toBe("SCAIQUEUE_NOT_CLAIM_OWNER");
    const twice = await refusal(complete(deps, actor, [held!, held!].map((h) => ({ messageId: h.message.id, claimToken: h.claimToken })), "inputs"));
    expect(twice).toBeInstanceOf(ValidationError);
    expect(twice.details!.map((d) => d.field)).toEqual(["inputs"]);
    // a batch with one bad item completes none of it
    const [other] = await claim(deps, actor, { queueId });
    expect(await refusal(complete(deps, actor, [{ messageId: other!.message.id, claimToken: other!.claimToken }, { messageId: pendingId }], "inputs"))).toBeInstanceOf(InvalidStateError);
    expect((await getMessage(deps, actor, other!.message.id))!.state).toBe("CLAIMED");

    // the claim is over at its expiry, whatever the token
    clock.advance(10_000);
    expect((await refusal(complete(deps, actor, [{ messageId: held!.message.id, claimToken: held!.claimToken }], "input"))).code).toBe("SCAIQUEUE_NOT_CLAIM_OWNER");
    expect((await getMessage(deps, actor, held!.message.id))!.state).toBe("CLAIMED");
  });

  test("without a token it completes the claims the same key took, and refuses another key's", async ({ deps, actor, newQueue }) => {
    const queueId = await newQueue();
    await publish(deps, actor, [{ queueId, body: 1 }, { queueId, body: 2 }], "inputs");
    const colleague = await newActor(deps, actor); // another key of the same tenant
    const [mine] = await claim(deps, actor, { queueId });
    const [theirs] = await claim(deps, colleague, { queueId });
    const [done] = await complete(deps, actor, [{ messageId: mine!.message.id }], "input");
    expect(done).toMatchObject({ id: mine!.message.id, state: "COMPLETED" });
    expect(await refusal(complete(deps, actor, [{ messageId: theirs!.message.id }], "input"))).toBeInstanceOf(NotClaimOwnerError);
    expect((await getMessage(deps, actor, theirs!.message.id))!.state).toBe("CLAIMED");
  });
});

describe("fail, release and extend", () => {
  test("fail with retries left makes the message pending again after its backoff; at maxRetries, or not retryable, it is dead-lettered", async ({ deps, actor, clock, newQueue }) => {
    const queueId = await newQueue({ maxRetries: 2 });
    const [p] = await publish(deps, actor, [{ queueId, body: { job: 1 } }], "input");
    const [first] = await claim(deps, actor, { queueId });
    const failed = await fail(deps, actor, { messageId: p!.message.id, claimToken: first!.claimToken, reason: "boom" });
    expect(failed).toMatchObject({ id: p!.message.id, state: "PENDING", attempts: 1, failureReason: "boom" });

    // the first retry waits between half of RETRY_BACKOFF_BASE_MS and all of it
    const base = deps.retry.backoffBaseMs;
    clock.advance(base / 2 - 1);
    expect(await claim(deps, actor, { queueId })).toEqual([]);
    clock.advance(base / 2 + 1);
    const [second] = await claim(deps, actor, { queueId });
    expect(second!.message).toMatchObject({ id: p!.message.id, attempts: 2 });

    const dead = await fail(deps, actor, { messageId: p!.message.id, claimToken: second!.claimToken, reason: "boom again" });
    expect(dead).toMatchObject({ state: "DEAD_LETTERED", attempts: 2, failureReason: "boom again" });
    clock.advance(deps.retry.backoffMaxMs);
    expect(await claim(deps, actor, { queueId })).toEqual([]);

    // retryable: false dead-letters at once, retries left or not; a message not claimed cannot fail
    const other = await newQueue({ maxRetries: 5 });
    const [q1, q2] = await publish(deps, actor, [{ queueId: other, body: {} }, { queueId: other, body: {} }], "inputs");
    expect((await refusal(fail(deps, actor, { messageId: q2!.message.id, reason: "x" }))).code).toBe("SCAIQUEUE_INVALID_STATE");
    const [c] = await claim(deps, actor, { queueId: other });
    expect(c!.message.id).toBe(q1!.message.id);
    expect(await fail(deps, actor, { messageId: c!.message.id, claimToken: c!.claimToken, reason: "bad input", retryable: false })).toMatchObject({
      state: "DEAD_LETTERED",
      attempts: 1,
    });
  });

  test("release hands the message back without counting the try, claimable again after delayS", async ({ deps, actor, clock, newQueue }) => {
    const queueId = await newQueue();
    await publish(deps, actor, [{ queueId, body: {} }], "input");
    const [first] = await claim(deps, actor, { queueId });
    const released = await release(deps, actor, { messageId: first!.message.id, claimToken: first!.claimToken, delayS: 30 });
    expect(released).toMatchObject({ id: first!.message.id, state: "PENDING", attempts: 0 });
    clock.advance(29_999);
    expect(await claim(deps, actor, { queueId })).toEqual([]);
    clock.advance(1);
    const [again] = await claim(deps, actor, { queueId });
    expect(again!.message).toMatchObject({ id: first!.message.id, attempts: 1 });
    expect(again!.claimToken).not.toBe(first!.claimToken);
    expect((await refusal(release(deps, actor, { messageId: first!.message.id, claimToken: first!.claimToken }))).code).toBe("SCAIQUEUE_NOT_CLAIM_OWNER");
  });

  test("extend moves the claim's expiry to now + extendByS, so it outlives the visibility timeout; another token is refused", async ({ deps, actor, clock, newQueue }) => {
    const queueId = await newQueue({ visibilityTimeoutS: 10 });
    await publish(deps, actor, [{ queueId, body: {} }], "input");
    const [c] = await claim(deps, actor, { queueId });
    clock.advance(8_000);
    expect(await refusal(extend(deps, actor, { messageId: c!.message.id, claimToken: "not-the-token", extendByS: 60 }))).toBeInstanceOf(NotClaimOwnerError);
    const extended = await extend(deps, actor, { messageId: c!.message.id, claimToken: c!.claimToken, extendByS: 20 });
    expect(extended).toMatchObject({ id: c!.message.id, state: "CLAIMED" });
    expect(extended.claimExpiresAt!.getTime()).toBe(clock.now() + 20_000);
    clock.advance(15_000); // 23 s after the claim: past the 10 s it had, inside the extension
    expect(await claim(deps, actor, { queueId })).toEqual([]);
    const [done] = await complete(deps, actor, [{ messageId: c!.message.id, claimToken: c!.claimToken }], "input");
    expect(done).toMatchObject({ state: "COMPLETED", attempts: 1 });
  });
});

describe("BROADCAST queues", () => {
  test("each group that joined gets every message; it completes when every group has completed it; claiming needs a group", async ({ deps, actor, newQueue }) => {
    const queueId = await newQueue({ consumerMode: "BROADCAST" });
    const noGroup = await refusal(claim(deps, actor, { queueId }));
    expect(noGroup).toBeInstanceOf(ValidationError);
    expect(noGroup.details!.map((d) => d.field)).toEqual(["input.consumerGroup"]);
    for (const group of ["a", "b"]) expect(await claim(deps, actor, { queueId, consumerGroup: group })).toEqual([]); // they join

    const [p] = await publish(deps, actor, [{ queueId, body: { fan: 1 } }], "input");
    const [forA] = await claim(deps, actor, { queueId, consumerGroup: "a" });
    const [forB] = await claim(deps, actor, { queueId, consumerGroup: "b" });
    expect([forA!.message.id, forB!.message.id]).toEqual([p!.message.id, p!.message.id]);
    expect(await claim(deps, actor, { queueId, consumerGroup: "a" })).toEqual([]);

    await complete(deps, actor, [{ messageId: p!.message.id, claimToken: forA!.claimToken, response: { by: "a" } }], "input");
    expect((await getMessage(deps, actor, p!.message.id))!.state).not.toBe("COMPLETED");
    await complete(deps, actor, [{ messageId: p!.message.id, claimToken: forB!.claimToken, response: { by: "b" } }], "input");
    expect(await getMessage(deps, actor, p!.message.id)).toMatchObject({ state: "COMPLETED", response: { a: { by: "a" }, b: { by: "b" } } });
  });
});
