import { describe, expect, test as base } from "../support/test.js";
import { ok, code, uniq, type TestServer } from "../support/server.js";
import { CHANGE_STATE, CLAIM, PUBLISH, QUEUE, SCOPE, type LifecycleAction as Action } from "../support/ops.js";
import { PERMISSIONS } from "../../src/domain/actor.js";

// pause / resume / drain / archive / unarchive of scopes and queues, through the API.

const ACTIONS = ["pause", "resume", "drain", "archive", "unarchive"] as const satisfies Action[];
type Kind = "Scope" | "Queue";

/** The state changes and reads of scopes and queues, and publish and claim, on one server. */
function lifecycleOf(s: TestServer) {
  const change = (kind: Kind, action: Action, id: string, key = s.adminKey) => s.gql(CHANGE_STATE(action, kind), { id }, key);
  const publish = (queueId: string) => s.gql(PUBLISH, { i: { queueId, body: { n: uniq(3) } } });
  return {
    change,
    publish,
    async changed(kind: Kind, action: Action, id: string): Promise<string> {
      return (await ok(change(kind, action, id)))[`${action}${kind}`].state;
    },
    async stateOf(kind: Kind, id: string): Promise<string> {
      const read = kind === "Scope" ? ok(s.gql(SCOPE, { id })).then((d) => d.scope) : ok(s.gql(QUEUE, { id })).then((d) => d.queue);
      return (await read).state;
    },
    async published(queueId: string): Promise<string> {
      return (await ok(publish(queueId))).publish.message.id;
    },
    async claimIds(queueId: string, batchSize = 1): Promise<string[]> {
      return (await ok(s.gql(CLAIM, { i: { queueId, batchSize } }))).claim.map((m: { id: string }) => m.id);
    },
  };
}

const test = base.extend("lifecycle", ({ server }) => lifecycleOf(server));

/** The test's scope and a queue in it; `kind` says which of the two the test changes. */
async function world(kind: Kind, scopeId: string, newQueue: () => Promise<string>) {
  const queueId = await newQueue();
  return { scopeId, queueId, target: kind === "Scope" ? scopeId : queueId };
}

for (const kind of ["Scope", "Queue"] as const) {
  const PAUSED = kind === "Scope" ? "SCAIQUEUE_SCOPE_PAUSED" : "SCAIQUEUE_QUEUE_PAUSED";
  const NOT_FOUND = kind === "Scope" ? "SCAIQUEUE_SCOPE_NOT_FOUND" : "SCAIQUEUE_QUEUE_NOT_FOUND";

  describe(`${kind} lifecycle`, () => {
    test("pause refuses publishes and hands out nothing; resume brings both back", async ({ lifecycle: l, scope, newQueue }) => {
      const w = await world(kind, scope, newQueue);
      const waiting = await l.published(w.queueId);
      expect(await l.changed(kind, "pause", w.target)).toBe("PAUSED");
      expect(await l.stateOf(kind, w.target)).toBe("PAUSED");
      expect(code(await l.publish(w.queueId))).toBe(PAUSED);
      expect(await l.claimIds(w.queueId)).toEqual([]);

      expect(await l.changed(kind, "resume", w.target)).toBe("ACTIVE");
      const later = await l.published(w.queueId);
      expect(await l.claimIds(w.queueId, 10)).toEqual([waiting, later]);
    });

    test("drain refuses publishes but keeps serving claims until empty", async ({ lifecycle: l, scope, newQueue }) => {
      const w = await world(kind, scope, newQueue);
      const [a, b, c] = [await l.published(w.queueId), await l.published(w.queueId), await l.published(w.queueId)];
      expect(await l.changed(kind, "drain", w.target)).toBe("DRAINING");
      expect(code(await l.publish(w.queueId))).toBe(PAUSED);
      expect(await l.claimIds(w.queueId)).toEqual([a]);
      expect(await l.claimIds(w.queueId, 5)).toEqual([b, c]);
      expect(await l.claimIds(w.queueId)).toEqual([]);
      expect(await l.stateOf(kind, w.target)).toBe("DRAINING"); // stays DRAINING until told otherwise
      expect(await l.changed(kind, "resume", w.target)).toBe("ACTIVE");
      const d = await l.published(w.queueId);
      expect(await l.claimIds(w.queueId)).toEqual([d]);
    });

    test("archive refuses publishes and claims; only unarchive (to PAUSED) leads back to ACTIVE", async ({ lifecycle: l, scope, newQueue }) => {
      const w = await world(kind, scope, newQueue);
      const waiting = await l.published(w.queueId);
      expect(await l.changed(kind, "archive", w.target)).toBe("ARCHIVED");
      expect(code(await l.publish(w.queueId))).toBe(PAUSED);
      expect(await l.claimIds(w.queueId)).toEqual([]);

      expect(code(await l.change(kind, "resume", w.target))).toBe("SCAIQUEUE_INVALID_STATE");
      expect(code(await l.change(kind, "drain", w.target))).toBe("SCAIQUEUE_INVALID_STATE");
      expect(await l.stateOf(kind, w.target)).toBe("ARCHIVED");

      expect(await l.changed(kind, "unarchive", w.target)).toBe("PAUSED");
      expect(code(await l.publish(w.queueId))).toBe(PAUSED);
      expect(await l.claimIds(w.queueId)).toEqual([]);
      expect(await l.changed(kind, "resume", w.target)).toBe("ACTIVE");
      expect(await l.claimIds(w.queueId)).toEqual([waiting]);
      await l.published(w.queueId);
    });

    test("unarchive of one that is not archived answers INVALID_STATE", async ({ lifecycle: l, scope, newQueue }) => {
      const w = await world(kind, scope, newQueue);
      for (const [via, state] of [[null, "ACTIVE"], ["pause", "PAUSED"], ["drain", "DRAINING"]] as const) {
        if (via) await l.changed(kind, via, w.target);
        expect(code(await l.change(kind, "unarchive", w.target)), state).toBe("SCAIQUEUE_INVALID_STATE");
        expect(await l.stateOf(kind, w.target)).toBe(state);
      }
    });

    test("archive works from every state, and pause or drain move between the live states", async ({ lifecycle: l, scope, newQueue }) => {
      const w = await world(kind, scope, newQueue);
      const path: [Action, string][] = [
        ["pause", "PAUSED"],
        ["drain", "DRAINING"],
        ["pause", "PAUSED"],
        ["archive", "ARCHIVED"],
        ["archive", "ARCHIVED"],
        ["unarchive", "PAUSED"],
        ["resume", "ACTIVE"],
        ["drain", "DRAINING"],
        ["archive", "ARCHIVED"],
        ["unarchive", "PAUSED"],
        ["drain", "DRAINING"],
        ["resume", "ACTIVE"],
      ];
      for (const [action, state] of path) expect(await l.changed(kind, action, w.target), action).toBe(state);
    });

    test("each action needs scaiqueue:manage; without it nothing changes", async ({ lifecycle: l, server: s, scope, newQueue }) => {
      const w = await world(kind, scope, newQueue);
      const key = await s.newKey("default", PERMISSIONS.filter((p) => p !== "scaiqueue:manage"));
      for (const action of ACTIONS) {
        expect(code(await l.change(kind, action, w.target, key)), action).toBe("AUTHZ_PERMISSION_DENIED");
        expect(await l.stateOf(kind, w.target)).toBe("ACTIVE");
      }
      await l.changed(kind, "archive", w.target);
      for (const action of ACTIONS) {
        expect(code(await l.change(kind, action, w.target, key)), action).toBe("AUTHZ_PERMISSION_DENIED");
        expect(await l.stateOf(kind, w.target)).toBe("ARCHIVED");
      }
      // a manage-only key is enough
      const manager = await s.newKey("default", ["scaiqueue:manage"]);
      expect((await ok(l.change(kind, "unarchive", w.target, manager)))[`unarchive${kind}`].state).toBe("PAUSED");
    });

    test("another tenant's one answers NOT_FOUND and stays as it was", async ({ lifecycle: l, server: s, scope, newQueue }) => {
      const w = await world(kind, scope, newQueue);
      const stranger = await s.newKey(`other-${uniq()}`);
      for (const action of ACTIONS) {
        expect(code(await l.change(kind, action, w.target, stranger)), action).toBe(NOT_FOUND);
        expect(await l.stateOf(kind, w.target)).toBe("ACTIVE");
      }
      // and a well-formed id that names nothing at all
      for (const action of ACTIONS) {
        expect(code(await l.change(kind, action, "01900000-0000-7000-8000-000000000000")), action).toBe(NOT_FOUND);
      }
    });
  });
}

describe("scope and queue together", () => {
  test("a paused scope refuses publishes to its active queues with SCOPE_PAUSED and serves none of them", async ({ lifecycle: l, scope, newQueue }) => {
    const scopeId = scope;
    const [q1, q2] = [await newQueue(), await newQueue()];
    const m1 = await l.published(q1!);
    await l.changed("Scope", "pause", scopeId);
    expect(await l.stateOf("Queue", q1!)).toBe("ACTIVE");
    expect(code(await l.publish(q2!))).toBe("SCAIQUEUE_SCOPE_PAUSED");
    expect(await l.claimIds(q1!)).toEqual([]);
    await l.changed("Scope", "resume", scopeId);
    expect(await l.claimIds(q1!)).toEqual([m1]);
  });

  test("a paused queue does not stop its sibling queues", async ({ lifecycle: l, newQueue }) => {
    const [q1, q2] = [await newQueue(), await newQueue()];
    await l.changed("Queue", "pause", q1!);
    expect(code(await l.publish(q1!))).toBe("SCAIQUEUE_QUEUE_PAUSED");
    const m2 = await l.published(q2!);
    expect(await l.claimIds(q2!)).toEqual([m2]);
  });

  test("a draining scope keeps serving a queue's backlog; an archived queue in it serves nothing", async ({ lifecycle: l, scope, newQueue }) => {
    const scopeId = scope;
    const [q1, q2] = [await newQueue(), await newQueue()];
    const m1 = await l.published(q1!);
    const m2 = await l.published(q2!);
    await l.changed("Queue", "archive", q2!);
    await l.changed("Scope", "drain", scopeId);
    expect(code(await l.publish(q1!))).toBe("SCAIQUEUE_SCOPE_PAUSED");
    expect(await l.claimIds(q1!)).toEqual([m1]);
    expect(await l.claimIds(q2!)).toEqual([]);
    await l.changed("Queue", "unarchive", q2!);
    await l.changed("Queue", "resume", q2!);
    expect(await l.claimIds(q2!)).toEqual([m2]);
  });
});
