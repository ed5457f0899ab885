import { describe, expect, test } from "../support/test.js";
import { uniq } from "../support/server.js";
import { subscribe } from "../support/subscription.js";
import { adminKeyId, createQueue, createScope, pick } from "../support/api.js";
import {
  AUDIT_LOG, CLAIM, COMPLETED, HITL_PATTERNS, MESSAGE, PREVIEW_PATTERN as PREVIEW, PUBLISH, PUBLISH_HITL, REGISTER_PATTERN as REGISTER, SUBMIT_REVIEW as SUBMIT,
} from "../support/ops.js";

/* The human-review tutorial (reference §11) end to end, and the refusals around it. */

test.override({ stepped: true });

const MODERATION = {
  sections: [
    { type: "context", title: "Flagged post", content: "{{summary}} (flagged because: {{ flag_reason }})" },
    { type: "decision", field: "decision", options: ["approve", "reject", "needs_more_info"] },
    { type: "input", field: "note", kind: "text", required: true },
    { type: "input", field: "severity", kind: "number", required: false },
  ],
  timeoutS: 86400,
};

describe("human review", () => {
  let scopeId: string;
  let queueId: string;

  test.beforeAll(async ({ server: s }) => {
    scopeId = await createScope(s);
    queueId = await createQueue(s, scopeId, { slug: "reviews" });
    const r = await s.gql(REGISTER, { s: scopeId, n: "moderation-decision", v: "1.0", spec: MODERATION });
    expect(r.errors).toBeUndefined();
    expect(r.data.registerHitlPattern).toMatchObject({ name: "moderation-decision", version: "1.0", spec: MODERATION });
  });

  test("previews a pattern with its placeholders filled, and names a missing parameter", async ({ server: s }) => {
    const r = await s.gql(PREVIEW, { s: scopeId, n: "moderation-decision", p: { summary: "A post about cats", flag_reason: "spam?" } });
    expect(r.errors).toBeUndefined();
    expect(r.data.previewHitlPattern.sections[0]).toEqual({ type: "context", title: "Flagged post", content: "A post about cats (flagged because: spam?)" });
    expect(r.data.previewHitlPattern.sections.slice(1)).toEqual(MODERATION.sections.slice(1));
    const missing = await s.gql(PREVIEW, { s: scopeId, n: "moderation-decision", p: { summary: "x" } });
    expect(missing.errors?.[0]?.extensions?.code).toBe("VALIDATION_ERROR");
    expect(missing.errors![0]!.extensions!.details).toEqual([{ field: "params.flag_reason", message: expect.stringMatching(/missing/) }]);
    const unknown = await s.gql(PREVIEW, { s: scopeId, n: "no-such-pattern", p: {} });
    expect(unknown.errors?.[0]?.extensions?.details?.[0]?.field).toBe("name");
  });

  test("publishes a review, claims it, and submitReview completes it with {decision, inputs} waking the waiter", async ({ server: s }) => {
    const corr = `checkpoint-${uniq()}`;
    const ws = s.wsClient();
    const waiter = subscribe(ws, COMPLETED, { c: corr });
    try {
      await new Promise((r) => setTimeout(r, 200));
      const p = await s.gql(PUBLISH_HITL, { q: queueId, n: "moderation-decision", p: { summary: "Post 42", flag_reason: "language" }, c: corr, l: { source: "forum" } });
      expect(p.errors).toBeUndefined();
      const m = p.data.publishHitl.message;
      expect(m).toMatchObject({ state: "PENDING", messageType: "hitl_request", correlationId: corr, body: { pattern: "moderation-decision", version: "1.0", params: { summary: "Post 42", flag_reason: "language" } } });
      expect(m.hitlSpec.sections[0].content).toBe("Post 42 (flagged because: language)");

      const [c] = (await s.gql(CLAIM, { i: { queueId } })).data.claim;
      expect(c.id).toBe(m.id);

      // refusals change nothing: an unknown decision, a missing required input, a wrong kind, an unknown input
      const refusals: [string, unknown, string][] = [
        ["escalate", { note: "x" }, "decision"],
        ["approve", {}, "inputs.note"],
        ["approve", { note: "x", severity: "high" }, "inputs.severity"],
        ["approve", { note: "x", colour: "red" }, "inputs.colour"],
      ];
      for (const [d, i, field] of refusals) {
        const r = await s.gql(SUBMIT, { m: m.id, t: c.claimToken, d, i });
        expect(r.errors?.[0]?.extensions?.code, field).toBe("VALIDATION_ERROR");
        expect(r.errors![0]!.extensions!.details!.map((x) => x.field)).toEqual([field]);
      }
      const still = await s.gql(MESSAGE, { id: m.id });
      expect(still.data.message.state).toBe("CLAIMED");

      const done = await s.gql(SUBMIT, { m: m.id, t: c.claimToken, d: "approve", i: { note: "looks fine" } });
      expect(done.errors).toBeUndefined();
      expect(done.data.submitReview).toEqual({ id: m.id, state: "COMPLETED", response: { decision: "approve", inputs: { note: "looks fine" } } });
      expect(pick((await waiter.next()).messageCompleted, "messageId", "response")).toEqual({ messageId: m.id, response: { decision: "approve", inputs: { note: "looks fine" } } });

      // a second answer finds the review done
      const again = await s.gql(SUBMIT, { m: m.id, t: c.claimToken, d: "reject", i: { note: "no" } });
      expect(again.errors?.[0]?.extensions?.code).toBe("SCAIQUEUE_INVALID_STATE");
    } finally {
      waiter.close();
      await ws.dispose();
    }
  });

  test("a review not done within timeoutS expires", async ({ server: s, clock }) => {
    const spec = { ...MODERATION, sections: MODERATION.sections.slice(1, 2), timeoutS: 60 };
    const p = await s.gql(PUBLISH, { i: { queueId, body: { post: 7 }, hitlSpec: spec } });
    expect(p.errors).toBeUndefined();
    const id = p.data.publish.message.id;
    const [c] = (await s.gql(CLAIM, { i: { queueId, visibilityTimeoutS: 3600 } })).data.claim;
    expect(c.id).toBe(id);
    clock.advance(59_000);
    await s.sweep("expiry_enforcer", clock.now());
    expect((await s.gql(MESSAGE, { id })).data.message.state).toBe("CLAIMED");
    clock.advance(2_000);
    await s.sweep("expiry_enforcer", clock.now());
    expect((await s.gql(MESSAGE, { id })).data.message.state).toBe("EXPIRED");
    const late = await s.gql(SUBMIT, { m: id, t: c.claimToken, d: "approve" });
    expect(late.errors?.[0]?.extensions?.code).toBe("SCAIQUEUE_INVALID_STATE");
  });

  test("validates hitlSpec on publish and patterns on registration, naming the bad part", async ({ server: s }) => {
    const cases: [unknown, string][] = [
      [{ sections: [] }, "input.hitlSpec.sections"],
      [{ sections: [{ type: "decision", field: "d", options: [] }] }, "input.hitlSpec.sections[0].options"],
      [{ sections: [{ type: "context", title: "t", content: "c" }] }, "input.hitlSpec.sections"],
      [{ sections: [{ type: "decision", field: "d", options: ["a"] }, { type: "input", field: "d", kind: "text" }] }, "input.hitlSpec.sections[1].field"],
      [{ sections: [{ type: "decision", field: "d", options: ["a"] }, { type: "input", field: "n", kind: "colour" }] }, "input.hitlSpec.sections[1].kind"],
      [{ sections: [{ type: "decision", field: "d", options: ["a"] }], timeoutS: -5 }, "input.hitlSpec.timeoutS"],
      [{ sections: [{ type: "poll", field: "d" }] }, "input.hitlSpec.sections[0].type"],
    ];
    for (const [hitlSpec, field] of cases) {
      const r = await s.gql(PUBLISH, { i: { queueId, body: {}, hitlSpec } });
      expect(r.errors?.[0]?.extensions?.code, field).toBe("VALIDATION_ERROR");
      expect(r.errors![0]!.extensions!.details!.map((d) => d.field), JSON.stringify(hitlSpec)).toContain(field);
    }
    const bad = await s.gql(REGISTER, { s: scopeId, n: "broken", v: "1", spec: { sections: [{ type: "decision", field: "d", options: ["a", "a"] }] } });
    expect(bad.errors?.[0]?.extensions?.details?.[0]?.field).toBe("spec.sections[0].options");
    // versions never change
    const changed = await s.gql(REGISTER, { s: scopeId, n: "moderation-decision", v: "1.0", spec: { ...MODERATION, timeoutS: 5 } });
    expect(changed.errors?.[0]?.extensions?.details?.[0]?.field).toBe("version");
    const list = await s.gql(HITL_PATTERNS, { s: scopeId });
    expect(list.data.hitlPatterns).toEqual([{ name: "moderation-decision", version: "1.0" }]);
  });

  test("submitReview on a message without a hitlSpec is refused", async ({ server: s }) => {
    const p = await s.gql(PUBLISH, { i: { queueId, body: { plain: true } } });
    const r = await s.gql(SUBMIT, { m: p.data.publish.message.id, d: "approve" });
    expect(r.errors?.[0]?.extensions?.code).toBe("VALIDATION_ERROR");
  });

  test("left an audit entry for every mutation above, by the admin key, with the review's correlation id", async ({ server: s }) => {
    const entries = (await s.gql(AUDIT_LOG, { s: scopeId, first: 1000 })).data.auditLog;
    const actions = new Set(entries.map((e: any) => e.action));
    for (const a of ["createScope", "createQueue", "registerHitlPattern", "publishHitl", "publish", "claim", "submitReview"]) expect(actions, a).toContain(a);
    expect(new Set(entries.map((e: any) => e.actor))).toEqual(new Set([await adminKeyId(s)]));
    const review = entries.filter((e: any) => e.action === "publishHitl" || e.action === "submitReview");
    expect(review.length).toBe(2);
    expect(review[0].correlationId).toMatch(/^checkpoint-/);
    expect(review[0].correlationId).toBe(review[1].correlationId);
    // refused mutations changed nothing and left nothing: one submitReview entry despite the refusals
    expect(entries.filter((e: any) => e.action === "registerHitlPattern")).toHaveLength(1);
  });
});
