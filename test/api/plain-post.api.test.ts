import { describe, expect, test } from "../support/test.js";
import type { TestServer } from "../support/server.js";
import { DEPTH, DEPTH_CHANGES } from "../support/ops.js";

/*
 * A plain JSON POST is answered without Yoga's Fetch API wrapping (src/graphql/plain-post.ts);
 * anything else goes through Yoga whole. Both must answer alike: the same status,
 * content type and body for successes, contract errors, auth failures and bad input.
 */

type Answer = { status: number; type: string | null; body: unknown };

async function post(s: TestServer, body: unknown, headers: Record<string, string>, key: string | null = s.adminKey): Promise<Answer> {
  const res = await fetch(s.url, {
    method: "POST",
    headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, type: res.headers.get("content-type"), body: await res.json() };
}

/** The same request as a plain POST and as one Yoga answers whole (an Accept listing two types). */
async function bothWays(s: TestServer, body: unknown, key?: string | null): Promise<[Answer, Answer]> {
  return [await post(s, body, { accept: "application/json" }, key), await post(s, body, { accept: "application/json, text/plain" }, key)];
}

describe("a plain POST", () => {
  test("is answered as Yoga answers it: data, contract errors, auth failures, bad variables, unknown fields", async ({ server: s, newQueue }) => {
    const queueId = await newQueue();
    const cases: [string, unknown, (string | null)?][] = [
      ["data", { query: DEPTH, variables: { q: queueId } }],
      ["a contract error", { query: DEPTH, variables: { q: "00000000-0000-4000-8000-000000000000" } }],
      ["no API key", { query: DEPTH, variables: { q: queueId } }, null],
      ["a bad key", { query: DEPTH, variables: { q: queueId } }, "sq_not-a-key"],
      ["variables of the wrong type", { query: DEPTH, variables: { q: 42 } }],
      ["a missing variable", { query: DEPTH }],
      ["an unknown field", { query: `{ queues { nope } }` }],
      ["a syntax error", { query: `{ queues {` }],
      ["an unknown operation name", { query: DEPTH, variables: { q: queueId }, operationName: "Other" }],
    ];
    for (const [what, body, key] of cases) {
      const [plain, whole] = await bothWays(s, body, key);
      expect(plain, what).toEqual(whole);
      expect(plain.type, what).toBe("application/json; charset=utf-8");
    }
    const [data] = await bothWays(s, cases[0]![1]);
    expect(data).toMatchObject({ status: 200, body: { data: { queueDepth: { pending: 0, claimed: 0, delayed: 0 } } } });
    const [notFound] = await bothWays(s, cases[1]![1]);
    expect(notFound.body).toMatchObject({ errors: [{ extensions: { code: "SCAIQUEUE_QUEUE_NOT_FOUND" } }] });
  });

  test("leaves to Yoga what only it answers: a subscription (SSE) and extra parameters", async ({ server: s, newQueue }) => {
    const queueId = await newQueue();
    // the Accept a plain POST has: only the document tells that it streams
    const res = await fetch(s.url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${s.adminKey}`, accept: "*/*" },
      body: JSON.stringify({ query: DEPTH_CHANGES, variables: { q: queueId } }),
    });
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    await res.body?.cancel();
    const extra = await post(s, { query: DEPTH, variables: { q: queueId }, extensions: { persistedQuery: {} } }, {});
    const [, whole] = await bothWays(s, { query: DEPTH, variables: { q: queueId }, extensions: { persistedQuery: {} } });
    expect(extra).toEqual(whole);
  });
});
