import { createConnection, type Connection } from "mariadb";
import { afterAll } from "vitest";
import { describe, expect, test } from "../support/test.js";
import { parseDatabaseUrl } from "../../src/db/connection.js";
import { createQueue, createScope, messagesOf, systemQueue } from "../support/api.js";
import { CLAIM, COMPLETE_BATCH, DEPTH, PUBLISH_BATCH } from "../support/ops.js";
import { ok, uniq, type TestServer } from "../support/server.js";

// `_events` messages of claims and completions are staged in event_log until their queue
// is read (src/domain/staged-events.ts); every way of reading the queue must see them.

const HOUR = 3600_000;
test.override({ serverEnv: { ARCHIVE_AFTER_S: "3600" }, stepped: true });
let conn: Connection;
test.beforeAll(async ({ server: s }) => {
  const { server, database } = parseDatabaseUrl(s.config.database.url);
  conn = await createConnection({ ...server, database });
});
afterAll(async () => {
  await conn?.end();
});

type Claimed = { id: string; claimToken: string; body: { type: string; messageId: string } };

/** A scope whose queue saw `n` messages published, claimed and completed; its `_events` queue id. */
async function worked(s: TestServer, n: number, correlationId: string) {
  const scopeId = await createScope(s);
  const queueId = await createQueue(s, scopeId);
  const events = await systemQueue(s, scopeId, "_events");
  const ids: string[] = [];
  for (let i = 0; i < n; i += 100) {
    const batch = Array.from({ length: Math.min(100, n - i) }, (_, j) => ({ queueId, body: { n: i + j }, correlationId }));
    ids.push(...(await ok(s.gql(PUBLISH_BATCH, { is: batch }))).publishBatch.map((r: { message: { id: string } }) => r.message.id));
  }
  for (let done = 0; done < n; ) {
    const got: Claimed[] = (await ok(s.gql(CLAIM, { i: { queueId, batchSize: 100 } }))).claim;
    await ok(s.gql(COMPLETE_BATCH, { is: got.map((m) => ({ messageId: m.id, claimToken: m.claimToken })) }));
    done += got.length;
  }
  return { scopeId, queueId, events, ids };
}

const staged = async (queueId: string): Promise<number> => Number((await conn.query("SELECT COUNT(*) n FROM event_log WHERE queueId = ?", [queueId]))[0].n);

describe("staged _events messages", () => {
  test("are counted, listed and claimed as messages of the _events queue, in the order they happened", async ({ server: s }) => {
    const c = `staged-${uniq()}`;
    const { events, ids } = await worked(s, 3, c);
    expect(await staged(events)).toBe(6); // claimed and completed; the published ones went in with their messages

    expect((await ok(s.gql(DEPTH, { q: events }))).queueDepth).toEqual({ pending: 9, claimed: 0, delayed: 0 });
    expect(await staged(events)).toBe(0);
    const feed = await messagesOf(s, { q: events });
    expect(feed.map((m: any) => [m.messageType, m.body.messageId])).toEqual([
      ...ids.map((id) => ["scaiqueue.message.published", id]),
      ...ids.map((id) => ["scaiqueue.message.claimed", id]),
      ...ids.map((id) => ["scaiqueue.message.completed", id]),
    ]);
    for (const m of feed) expect(m).toMatchObject({ state: "PENDING", correlationId: c, causationId: m.body.messageId, parentId: m.body.messageId });

    // the next operations stage again; a claim of the queue takes staged and written events alike, oldest first
    const more = await worked(s, 1, c);
    const claimed: Claimed[] = (await ok(s.gql(CLAIM, { i: { queueId: more.events, batchSize: 10 } }))).claim;
    expect(claimed.map((m) => m.body.type)).toEqual(["scaiqueue.message.published", "scaiqueue.message.claimed", "scaiqueue.message.completed"]);
    expect(await staged(more.events)).toBe(0);
  });

  test("go to concurrent claimers of the _events queue once each, none lost", async ({ server: s }) => {
    const { events } = await worked(s, 300, `busy-${uniq()}`);
    expect(await staged(events)).toBe(600); // more than one move of 500
    const batches = await Promise.all(
      Array.from({ length: 8 }, async () => {
        const got: Claimed[] = [];
        for (;;) {
          const page: Claimed[] = (await ok(s.gql(CLAIM, { i: { queueId: events, batchSize: 50 } }))).claim;
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

  test("are written before the mutation that caused them is answered", async ({ server: s }) => {
    const { queueId, events } = await worked(s, 0, `held-${uniq()}`);
    const [published] = (await ok(s.gql(PUBLISH_BATCH, { is: [{ queueId, body: { n: 1 } }] }))).publishBatch;
    const [m]: Claimed[] = (await ok(s.gql(CLAIM, { i: { queueId } }))).claim;
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

  test("arrive ARCHIVED once older than the retention, as the archiver would have left them", async ({ server: s, clock }) => {
    // ahead of the wall clock, so the event ids (UUIDv7) carry these stepped times
    const t0 = clock.set(Math.max(clock.now(), Date.now()) + HOUR);
    const old = await worked(s, 2, `old-${uniq()}`);
    clock.set(t0 + HOUR + 1_000);
    const feed = (await messagesOf(s, { q: old.events })).map((m) => [m.messageType, m.state]);
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
