import { describe, expect, test } from "../support/test.js";
import { code, type TestServer } from "../support/server.js";
import { deadLetterDepth } from "../support/api.js";
import { CLAIM, COMPLETE, DEPTH, MESSAGE, PUBLISH, PUBLISH_BATCH } from "../support/ops.js";

/*
 * What the lane interface gives BROADCAST queues by construction (domain/messages/lanes):
 * a consumer group is a lane like a COMPETING queue, so maxDepth and expiry reach it.
 */

test.override({ serverEnv: { DATABASE_POOL_SIZE: "16" }, stepped: true });

async function join(s: TestServer, queueId: string, groups: string[]) {
  for (const g of groups) expect((await s.gql(CLAIM, { i: { queueId, consumerGroup: g } })).data.claim).toEqual([]);
}
const depth = async (s: TestServer, queueId: string, g: string) => (await s.gql(DEPTH, { q: queueId, g })).data.queueDepth;
const claimIn = async (s: TestServer, queueId: string, g: string) =>
  (await s.gql(CLAIM, { i: { queueId, consumerGroup: g } })).data.claim as { id: string; claimToken: string }[];
const publish = (s: TestServer, queueId: string, extra: Record<string, unknown> = {}) => s.gql(PUBLISH, { i: { queueId, body: {}, ...extra } });
const stateOf = async (s: TestServer, id: string) => (await s.gql(MESSAGE, { id })).data.message as { state: string; failureReason: string | null };
const EMPTY = { pending: 0, claimed: 0, delayed: 0 };

describe("an expired BROADCAST message", () => {
  test("ends its open deliveries in every group: none is handed out, none comes back after its claim lapses", async ({ server: s, clock, newQueue }) => {
    const queueId = await newQueue({ consumerMode: "BROADCAST", visibilityTimeoutS: 30 });
    await join(s, queueId, ["holds", "waits", "done"]);
    const id = (await publish(s, queueId, { ttlSeconds: 5 })).data.publish.message.id;
    const [held] = await claimIn(s, queueId, "holds");
    expect(held!.id).toBe(id);
    const [done] = await claimIn(s, queueId, "done");
    expect((await s.gql(COMPLETE, { i: { messageId: id, claimToken: done!.claimToken } })).data.complete.state).toBe("COMPLETED");

    clock.advance(6_000);
    expect(await s.sweep("expiry_enforcer", clock.now())).toBe(1);
    expect((await stateOf(s, id)).state).toBe("EXPIRED");
    expect(await depth(s, queueId, "waits")).toEqual(EMPTY);
    expect(await depth(s, queueId, "holds")).toEqual(EMPTY);
    expect(await claimIn(s, queueId, "waits")).toEqual([]);
    expect(code(await s.gql(COMPLETE, { i: { messageId: id, claimToken: held!.claimToken } }))).toBe("SCAIQUEUE_INVALID_STATE");

    // the holder's claim lapses: it is not brought back
    clock.advance(31_000);
    expect(await s.sweep("visibility_timeout_enforcer", clock.now())).toBe(0);
    expect(await depth(s, queueId, "holds")).toEqual(EMPTY);
    expect(await claimIn(s, queueId, "holds")).toEqual([]);
  });
});

describe("maxDepth on a BROADCAST queue bounds each consumer group", () => {
  test("REJECT: a publish is refused while any group is full, and accepted once that group has room", async ({ server: s, newQueue }) => {
    const queueId = await newQueue({ consumerMode: "BROADCAST", maxDepth: 3, overflowPolicy: "REJECT" });
    await join(s, queueId, ["fast", "slow"]);
    for (let i = 0; i < 3; i++) expect((await publish(s, queueId)).errors).toBeUndefined();
    const [m] = await claimIn(s, queueId, "fast");
    await s.gql(COMPLETE, { i: { messageId: m!.id, claimToken: m!.claimToken } });
    expect(await depth(s, queueId, "fast")).toEqual({ pending: 2, claimed: 0, delayed: 0 });
    expect(code(await publish(s, queueId))).toBe("SCAIQUEUE_QUEUE_FULL");

    // a claimed delivery still counts; a completed one frees its place
    const [n] = await claimIn(s, queueId, "slow");
    expect(code(await publish(s, queueId))).toBe("SCAIQUEUE_QUEUE_FULL");
    await s.gql(COMPLETE, { i: { messageId: n!.id, claimToken: n!.claimToken } });
    expect((await publish(s, queueId)).errors).toBeUndefined();
    expect(await depth(s, queueId, "slow")).toEqual({ pending: 3, claimed: 0, delayed: 0 });
    expect(await depth(s, queueId, "fast")).toEqual({ pending: 3, claimed: 0, delayed: 0 });
  });

  test("DEAD_LETTER: newcomers that do not fit every group are dead-lettered, with copies", async ({ server: s, scope, newQueue }) => {
    const queueId = await newQueue({ consumerMode: "BROADCAST", maxDepth: 2, overflowPolicy: "DEAD_LETTER" });
    await join(s, queueId, ["a", "b"]);
    const dlqBefore = await deadLetterDepth(s, scope);
    const ids = (await s.gql(PUBLISH_BATCH, { is: [1, 2, 3].map((n) => ({ queueId, body: { n } })) })).data.publishBatch.map(
      (p: { message: { id: string } }) => p.message.id,
    );
    expect((await Promise.all(ids.map((id: string) => stateOf(s, id)))).map((m) => m.state)).toEqual(["PENDING", "PENDING", "DEAD_LETTERED"]);
    expect((await stateOf(s, ids[2])).failureReason).toMatch(/maxDepth of 2/);
    for (const g of ["a", "b"]) expect(await depth(s, queueId, g)).toEqual({ pending: 2, claimed: 0, delayed: 0 });
    expect(await deadLetterDepth(s, scope)).toBe(dlqBefore + 1);
  });

  test("DROP_OLDEST: the oldest message no group is working on is dropped in every group", async ({ server: s, newQueue }) => {
    const queueId = await newQueue({ consumerMode: "BROADCAST", maxDepth: 2, overflowPolicy: "DROP_OLDEST" });
    await join(s, queueId, ["a", "b"]);
    const first = (await publish(s, queueId)).data.publish.message.id;
    const second = (await publish(s, queueId)).data.publish.message.id;
    const [working] = await claimIn(s, queueId, "a");
    expect(working!.id).toBe(first);

    const third = (await publish(s, queueId)).data.publish.message.id;
    expect(await stateOf(s, second)).toMatchObject({ state: "EXPIRED", failureReason: expect.stringMatching(/DROP_OLDEST/) });
    expect((await stateOf(s, first)).state).toBe("PENDING");
    expect(await depth(s, queueId, "a")).toEqual({ pending: 1, claimed: 1, delayed: 0 });
    expect(await depth(s, queueId, "b")).toEqual({ pending: 2, claimed: 0, delayed: 0 });
    expect((await claimIn(s, queueId, "b")).map((m) => m.id)).toEqual([first]);
    expect((await claimIn(s, queueId, "b")).map((m) => m.id)).toEqual([third]);
    expect((await s.gql(COMPLETE, { i: { messageId: first, claimToken: working!.claimToken } })).errors).toBeUndefined();
  });
});
