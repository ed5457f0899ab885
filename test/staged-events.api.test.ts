import { createConnection, type Connection } from "mariadb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseDatabaseUrl } from "../src/db/connection.js";
import { COMPLETE_BATCH, DEPTH, PUBLISH_BATCH, createQueue, createScope } from "./support/fixtures.js";
import { ok, startTestServer, steppedClock, uniq, type TestServer } from "./support/server.js";

// `_events` messages of claims and completions are staged in event_log until their queue
// is read (src/domain/staged-events.ts); every way of reading the queue must see them.

const HOUR = 3600_000;
const clock = steppedClock();
let s: TestServer;
let conn: Connection;
beforeAll(async () => {
  s = await startTestServer({ ARCHIVE_AFTER_S: "3600" }, { clock });
  const { server, database } = parseDatabaseUrl(s.config.database.url);
  conn = await createConnection({ ...server, database });
});
afterAll(async () => {
  await conn?.end();
  await s?.stop();
});

const CLAIM_IDS = `mutation($i: ClaimInput!) { claim(input: $i) { id claimToken body } }`;
const FEED = `query($q: ID!, $f: Int) { messages(queueId: $q, first: $f) { edges { node { id state messageType body correlationId causationId parentId } } } }`;

type Claimed = { id: string; claimToken: string; body: { type: string; messageId: string } };

/** A scope whose queue saw `n` messages published, claimed and completed; its `_events` queue id. */
async function worked(n: number, correlationId: string) {
  const scopeId = await createScope(s);
  const queueId = await createQueue(s, scopeId);
  const events = (await ok(s.gql(`query($id: ID!) { scope(id: $id) { queues { id slug } } }`, { id: scopeId }))).scope.queues.find(
    (q: { slug: string }) => q.slug === "_events",
  ).id as string;
  const ids: string[] = [];
  for (let i = 0; i < n; i += 100) {
    const batch = Array.from({ length: Math.min(100, n - i) }, (_, j) => ({ queueId, body: { n: i + j }, correlationId }));
    ids.push(...(await ok(s.gql(PUBLISH_BATCH, { is: batch }))).publishBatch.map((r: { message: { id: string } }) => r.message.id));
  }
  for (let done = 0; done < n; ) {
    const got: Claimed[] = (await ok(s.gql(CLAIM_IDS, { i: { queueId, batchSize: 100 } }))).claim;
    await ok(s.gql(COMPLETE_BATCH, { is: got.map((m) => ({ messageId: m.id, claimToken: m.claimToken })) }));
    done += got.length;
  }
  return { scopeId, queueId, events, ids };
}

const staged = async (queueId: string): Promise<number> => Number((await conn.query("SELECT COUNT(*) n FROM event_log WHERE queueId = ?", [queueId]))[0].n);

describe("staged _events messages", () => {
  it("are counted, listed and claimed as messages of the _events queue, in the order they happened", async () => {
    const c = `staged-${uniq()}`;
    const { events, ids } = await worked(3, c);
    expect(await staged(events)).toBe(6); // claimed and completed; the published ones went in with their messages

    expect((await ok(s.gql(DEPTH, { q: events }))).queueDepth).toEqual({ pending: 9, claimed: 0, delayed: 0 });
    expect(await staged(events)).toBe(0);
    const feed = (await ok(s.gql(FEED, { q: events }))).messages.edges.map((e: { node: any }) => e.node);
    expect(feed.map((m: any) => [m.messageType, m.body.messageId])).toEqual([
      ...ids.map((id) => ["scaiqueue.message.published", id]),
      ...ids.map((id) => ["scaiqueue.message.claimed", id]),
      ...ids.map((id) => ["scaiqueue.message.completed", id]),
    ]);
    for (const m of feed) expect(m).toMatchObject({ state: "PENDING", correlationId: c, causationId: m.body.messageId, parentId: m.body.messageId });

    // the next operations stage again; a claim of the queue takes staged and written events alike, oldest first
    const more = await worked(1, c);
    const claimed: Claimed[] = (await ok(s.gql(CLAIM_IDS, { i: { queueId: more.events, batchSize: 10 } }))).claim;
    expect(claimed.map((m) => m.body.type)).toEqual(["scaiqueue.message.published", "scaiqueue.message.claimed", "scaiqueue.message.completed"]);
    expect(await staged(more.events)).toBe(0);
  });

  it("go to concurrent claimers of the _events queue once each, none lost", async () => {
    const { events } = await worked(300, `busy-${uniq()}`);
    expect(await staged(events)).toBe(600); // more than one move of 500
    const batches = await Promise.all(
      Array.from({ length: 8 }, async () => {
        const got: Claimed[] = [];
        for (;;) {
          const page: Claimed[] = (await ok(s.gql(CLAIM_IDS, { i: { queueId: events, batchSize: 50 } }))).claim;
          if (!page.length) return got;
          got.push(...page);
        }
      }),
    );
    const all = batches.flat().map((m) => m.id);
    expect(all).toHaveLength(900);
    expect(new Set(all).size).toBe(900);
    expect((await ok(s.gql(DEPTH, { q: events }))).queueDepth).toEqual({ pending: 0, claimed: 900, delayed: 0 });
  });

  it("are written before the mutation that caused them is answered", async () => {
    const { queueId, events } = await worked(0, `held-${uniq()}`);
    const [published] = (await ok(s.gql(PUBLISH_BATCH, { is: [{ queueId, body: { n: 1 } }] }))).publishBatch;
    const [m]: Claimed[] = (await ok(s.gql(CLAIM_IDS, { i: { queueId } }))).claim;
    expect(await staged(events)).toBe(1);
    // Another session holds event_log: the completion's staged INSERT waits for it.
    await conn.query("LOCK TABLES event_log WRITE");
    let answered = false;
    const completing = s.gql(COMPLETE_BATCH, { is: [{ messageId: m!.id, claimToken: m!.claimToken }] }).then((r) => ((answered = true), r));
    try {
      await new Promise((r) => setTimeout(r, 700));
      expect(answered).toBe(false);
    } finally {
      await conn.query("UNLOCK TABLES");
    }
    expect((await ok(completing)).completeBatch).toEqual([{ id: published.message.id, state: "COMPLETED" }]);
    expect(await staged(events)).toBe(2);
  });

  it("arrive ARCHIVED once older than the retention, as the archiver would have left them", async () => {
    // ahead of the wall clock, so the event ids (UUIDv7) carry these stepped times
    const t0 = clock.set(Math.max(clock.now(), Date.now()) + HOUR);
    const old = await worked(2, `old-${uniq()}`);
    clock.set(t0 + HOUR + 1_000);
    const feed = (await ok(s.gql(FEED, { q: old.events }))).messages.edges.map((e: { node: any }) => [e.node.messageType, e.node.state]);
    expect(feed).toEqual([
      ["scaiqueue.message.published", "PENDING"], // written with its message: the archiver's to retire
      ["scaiqueue.message.published", "PENDING"],
      ["scaiqueue.message.claimed", "ARCHIVED"],
      ["scaiqueue.message.claimed", "ARCHIVED"],
      ["scaiqueue.message.completed", "ARCHIVED"],
      ["scaiqueue.message.completed", "ARCHIVED"],
    ]);
    while ((await s.sweep("message_archiver", clock.now())) > 0);
    expect((await ok(s.gql(DEPTH, { q: old.events }))).queueDepth).toEqual({ pending: 0, claimed: 0, delayed: 0 });
  });
});
