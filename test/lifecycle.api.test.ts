import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ok, code, startTestServer, uniq, type TestServer } from "./support/server.js";
import { CLAIM, PUBLISH, createQueue, createScope } from "./support/fixtures.js";
import { PERMISSIONS } from "../src/domain/actor.js";

// pause / resume / drain / archive / unarchive of scopes and queues, through the API.

const ACTIONS = ["pause", "resume", "drain", "archive", "unarchive"] as const;
type Action = (typeof ACTIONS)[number];
type Kind = "Scope" | "Queue";

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(() => s?.stop());

const change = (kind: Kind, action: Action, id: string, key = s.adminKey) =>
  s.gql(`mutation($id: ID!) { ${action}${kind}(id: $id) { id state } }`, { id }, key);
async function changed(kind: Kind, action: Action, id: string): Promise<string> {
  return (await ok(change(kind, action, id)))[`${action}${kind}`].state;
}
async function stateOf(kind: Kind, id: string): Promise<string> {
  return (await ok(s.gql(`query($id: ID!) { ${kind.toLowerCase()}(id: $id) { state } }`, { id })))[kind.toLowerCase()].state;
}
const publish = (queueId: string) => s.gql(PUBLISH, { i: { queueId, body: { n: uniq(3) } } });
async function published(queueId: string): Promise<string> {
  return (await ok(publish(queueId))).publish.message.id;
}
async function claimIds(queueId: string, batchSize = 1): Promise<string[]> {
  return (await ok(s.gql(CLAIM, { i: { queueId, batchSize } }))).claim.map((m: { id: string }) => m.id);
}

/** A fresh scope and queue; `kind` says which of the two the test changes. */
async function world(kind: Kind) {
  const scopeId = await createScope(s);
  const queueId = await createQueue(s, scopeId);
  return { scopeId, queueId, target: kind === "Scope" ? scopeId : queueId };
}

for (const kind of ["Scope", "Queue"] as const) {
  const PAUSED = kind === "Scope" ? "SCAIQUEUE_SCOPE_PAUSED" : "SCAIQUEUE_QUEUE_PAUSED";
  const NOT_FOUND = kind === "Scope" ? "SCAIQUEUE_SCOPE_NOT_FOUND" : "SCAIQUEUE_QUEUE_NOT_FOUND";

  describe(`${kind} lifecycle`, () => {
    it("pause refuses publishes and hands out nothing; resume brings both back", async () => {
      const w = await world(kind);
      const waiting = await published(w.queueId);
      expect(await changed(kind, "pause", w.target)).toBe("PAUSED");
      expect(await stateOf(kind, w.target)).toBe("PAUSED");
      expect(code(await publish(w.queueId))).toBe(PAUSED);
      expect(await claimIds(w.queueId)).toEqual([]);

      expect(await changed(kind, "resume", w.target)).toBe("ACTIVE");
      const later = await published(w.queueId);
      expect(await claimIds(w.queueId, 10)).toEqual([waiting, later]);
    });

    it("drain refuses publishes but keeps serving claims until empty", async () => {
      const w = await world(kind);
      const [a, b, c] = [await published(w.queueId), await published(w.queueId), await published(w.queueId)];
      expect(await changed(kind, "drain", w.target)).toBe("DRAINING");
      expect(code(await publish(w.queueId))).toBe(PAUSED);
      expect(await claimIds(w.queueId)).toEqual([a]);
      expect(await claimIds(w.queueId, 5)).toEqual([b, c]);
      expect(await claimIds(w.queueId)).toEqual([]);
      expect(await stateOf(kind, w.target)).toBe("DRAINING"); // stays DRAINING until told otherwise
      expect(await changed(kind, "resume", w.target)).toBe("ACTIVE");
      const d = await published(w.queueId);
      expect(await claimIds(w.queueId)).toEqual([d]);
    });

    it("archive refuses publishes and claims; only unarchive (to PAUSED) leads back to ACTIVE", async () => {
      const w = await world(kind);
      const waiting = await published(w.queueId);
      expect(await changed(kind, "archive", w.target)).toBe("ARCHIVED");
      expect(code(await publish(w.queueId))).toBe(PAUSED);
      expect(await claimIds(w.queueId)).toEqual([]);

      expect(code(await change(kind, "resume", w.target))).toBe("SCAIQUEUE_INVALID_STATE");
      expect(code(await change(kind, "drain", w.target))).toBe("SCAIQUEUE_INVALID_STATE");
      expect(await stateOf(kind, w.target)).toBe("ARCHIVED");

      expect(await changed(kind, "unarchive", w.target)).toBe("PAUSED");
      expect(code(await publish(w.queueId))).toBe(PAUSED);
      expect(await claimIds(w.queueId)).toEqual([]);
      expect(await changed(kind, "resume", w.target)).toBe("ACTIVE");
      expect(await claimIds(w.queueId)).toEqual([waiting]);
      await published(w.queueId);
    });

    it("unarchive of one that is not archived answers INVALID_STATE", async () => {
      const w = await world(kind);
      for (const [via, state] of [[null, "ACTIVE"], ["pause", "PAUSED"], ["drain", "DRAINING"]] as const) {
        if (via) await changed(kind, via, w.target);
        expect(code(await change(kind, "unarchive", w.target)), state).toBe("SCAIQUEUE_INVALID_STATE");
        expect(await stateOf(kind, w.target)).toBe(state);
      }
    });

    it("archive works from every state, and pause or drain move between the live states", async () => {
      const w = await world(kind);
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
      for (const [action, state] of path) expect(await changed(kind, action, w.target), action).toBe(state);
    });

    it("each action needs scaiqueue:manage; without it nothing changes", async () => {
      const w = await world(kind);
      const key = await s.newKey("default", PERMISSIONS.filter((p) => p !== "scaiqueue:manage"));
      for (const action of ACTIONS) {
        expect(code(await change(kind, action, w.target, key)), action).toBe("AUTHZ_PERMISSION_DENIED");
        expect(await stateOf(kind, w.target)).toBe("ACTIVE");
      }
      await changed(kind, "archive", w.target);
      for (const action of ACTIONS) {
        expect(code(await change(kind, action, w.target, key)), action).toBe("AUTHZ_PERMISSION_DENIED");
        expect(await stateOf(kind, w.target)).toBe("ARCHIVED");
      }
      // a manage-only key is enough
      const manager = await s.newKey("default", ["scaiqueue:manage"]);
      expect((await ok(change(kind, "unarchive", w.target, manager)))[`unarchive${kind}`].state).toBe("PAUSED");
    });

    it("another tenant's one answers NOT_FOUND and stays as it was", async () => {
      const w = await world(kind);
      const stranger = await s.newKey(`other-${uniq()}`);
      for (const action of ACTIONS) {
        expect(code(await change(kind, action, w.target, stranger)), action).toBe(NOT_FOUND);
        expect(await stateOf(kind, w.target)).toBe("ACTIVE");
      }
      // and a well-formed id that names nothing at all
      for (const action of ACTIONS) {
        expect(code(await change(kind, action, "01900000-0000-7000-8000-000000000000")), action).toBe(NOT_FOUND);
      }
    });
  });
}

describe("scope and queue together", () => {
  it("a paused scope refuses publishes to its active queues with SCOPE_PAUSED and serves none of them", async () => {
    const scopeId = await createScope(s);
    const [q1, q2] = [await createQueue(s, scopeId), await createQueue(s, scopeId)];
    const m1 = await published(q1!);
    await changed("Scope", "pause", scopeId);
    expect(await stateOf("Queue", q1!)).toBe("ACTIVE");
    expect(code(await publish(q2!))).toBe("SCAIQUEUE_SCOPE_PAUSED");
    expect(await claimIds(q1!)).toEqual([]);
    await changed("Scope", "resume", scopeId);
    expect(await claimIds(q1!)).toEqual([m1]);
  });

  it("a paused queue does not stop its sibling queues", async () => {
    const scopeId = await createScope(s);
    const [q1, q2] = [await createQueue(s, scopeId), await createQueue(s, scopeId)];
    await changed("Queue", "pause", q1!);
    expect(code(await publish(q1!))).toBe("SCAIQUEUE_QUEUE_PAUSED");
    const m2 = await published(q2!);
    expect(await claimIds(q2!)).toEqual([m2]);
  });

  it("a draining scope keeps serving a queue's backlog; an archived queue in it serves nothing", async () => {
    const scopeId = await createScope(s);
    const [q1, q2] = [await createQueue(s, scopeId), await createQueue(s, scopeId)];
    const m1 = await published(q1!);
    const m2 = await published(q2!);
    await changed("Queue", "archive", q2!);
    await changed("Scope", "drain", scopeId);
    expect(code(await publish(q1!))).toBe("SCAIQUEUE_SCOPE_PAUSED");
    expect(await claimIds(q1!)).toEqual([m1]);
    expect(await claimIds(q2!)).toEqual([]);
    await changed("Queue", "unarchive", q2!);
    await changed("Queue", "resume", q2!);
    expect(await claimIds(q2!)).toEqual([m2]);
  });
});
