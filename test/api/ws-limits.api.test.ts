import { describe, expect, test } from "../support/test.js";
import type { Client } from "graphql-ws";
import WebSocket from "ws";
import { ok, suiteServer, type TestServer } from "../support/server.js";
import { subscribe, SubscriptionError } from "../support/subscription.js";
import { createQueue, createScope } from "../support/api.js";
import { DEPTH_CHANGES, PUBLISH, TYPENAME } from "../support/ops.js";
import { track, untrack } from "../support/resources.js";

type Closed = { code: number; reason: string };

/** Resolves "connected" once the server acknowledged the client, or the close that refused it. */
function outcome(client: Client): Promise<"connected" | Closed> {
  return new Promise((resolve) => {
    client.on("connected", () => resolve("connected"));
    client.on("closed", (e) => {
      const { code, reason } = e as Closed;
      resolve({ code, reason });
    });
  });
}

/** Connects, and retries while the server has not yet seen the close that freed a slot. */
async function eventuallyConnects(s: TestServer, key: string): Promise<Client> {
  for (let attempt = 0; ; attempt++) {
    const client = s.wsClient(key);
    if ((await outcome(client)) === "connected") return client;
    await client.dispose();
    if (attempt === 40) throw new Error("the freed slot was never taken");
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A socket that speaks graphql-transport-ws but sends nothing. */
function rawSocket(s: TestServer): Promise<WebSocket> {
  const socket: WebSocket = track(new WebSocket(s.wsUrl, "graphql-transport-ws"), "raw socket", () => socket.terminate());
  return new Promise((resolve, reject) => {
    socket.once("open", () => resolve(socket));
    socket.once("error", reject);
  });
}

const closeOf = (socket: WebSocket) =>
  new Promise<Closed>((resolve) => socket.once("close", (code, reason) => resolve({ code, reason: String(reason) })));

async function healthy(s: TestServer): Promise<void> {
  expect((await fetch(s.url.replace("/graphql", "/healthz"))).status).toBe(200);
}

test.override({
  serverEnv: {
    WS_MAX_CONNECTIONS_PER_KEY: "3",
    WS_MAX_SUBSCRIPTIONS_PER_CONNECTION: "2",
    WS_CONNECTION_INIT_TIMEOUT_MS: "300",
    MAX_REQUEST_BYTES: "65536",
  },
});

describe("connections per API key", () => {
  test("refuses the key's connection past WS_MAX_CONNECTIONS_PER_KEY with 4429 RATE_LIMITED; the others go on", async ({ server: s }) => {
    const flooder = await s.newKey("ws-flood");
    const held = [s.wsClient(flooder), s.wsClient(flooder), s.wsClient(flooder)];
    expect(await Promise.all(held.map(outcome))).toEqual(["connected", "connected", "connected"]);

    const extra = s.wsClient(flooder);
    expect(await outcome(extra)).toEqual({ code: 4429, reason: "RATE_LIMITED" });
    await extra.dispose();

    // Another key is not affected, the held connections still work, and the process is fine.
    const other = s.wsClient(await s.newKey("ws-other"));
    expect(await outcome(other)).toBe("connected");
    for (const client of [...held, other]) {
      const q = subscribe(client, TYPENAME);
      expect(await q.next()).toEqual({ __typename: "Query" });
      q.close();
    }
    await healthy(s);

    // A closed connection gives its slot back.
    await held[0]!.dispose();
    const again = await eventuallyConnects(s, flooder);
    for (const client of [again, ...held.slice(1), other]) await client.dispose();
  });
});

describe("operations per connection", () => {
  test("refuses a subscription past WS_MAX_SUBSCRIPTIONS_PER_CONNECTION with RATE_LIMITED; the earlier ones keep streaming", async ({ server: s }) => {
    const queueId = await createQueue(s, await createScope(s));
    const client = s.wsClient();
    const first = subscribe(client, DEPTH_CHANGES, { q: queueId });
    const second = subscribe(client, DEPTH_CHANGES, { q: queueId });
    expect(await first.next()).toEqual({ queueDepth: { pending: 0, claimed: 0, delayed: 0 } });
    expect(await second.next()).toEqual({ queueDepth: { pending: 0, claimed: 0, delayed: 0 } });

    const third = subscribe(client, DEPTH_CHANGES, { q: queueId });
    const refused = await third.next().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(SubscriptionError);
    expect((refused as SubscriptionError).code).toBe("RATE_LIMITED");
    third.close();

    await ok(s.gql(PUBLISH, { i: { queueId, body: { n: 1 } } }));
    expect(await first.next()).toEqual({ queueDepth: { pending: 1, claimed: 0, delayed: 0 } });
    expect(await second.next()).toEqual({ queueDepth: { pending: 1, claimed: 0, delayed: 0 } });

    // An ended subscription frees its place on the connection.
    second.close();
    let fourth = subscribe(client, DEPTH_CHANGES, { q: queueId });
    for (let attempt = 0; (await fourth.next().catch(() => null)) === null; attempt++) {
      fourth.close();
      if (attempt === 40) throw new Error("the freed place was never taken");
      await new Promise((r) => setTimeout(r, 50));
      fourth = subscribe(client, DEPTH_CHANGES, { q: queueId });
    }
    fourth.close();
    first.close();
    await client.dispose();
    await healthy(s);
  });
});

describe("hostile sockets", () => {
  test("closes a socket that never sends connection_init (4408), and one that sends garbage (4400)", async ({ server: s }) => {
    const silent = await rawSocket(s);
    expect(await closeOf(silent)).toMatchObject({ code: 4408 });
    untrack(silent);

    const garbage = await rawSocket(s);
    const closed = closeOf(garbage);
    garbage.send("{ not json");
    expect((await closed).code).toBe(4400);
    untrack(garbage);
    await healthy(s);
  });

  test("closes a socket whose frame is larger than MAX_REQUEST_BYTES (1009)", async ({ server: s }) => {
    const big = await rawSocket(s);
    const closed = closeOf(big);
    big.send(JSON.stringify({ type: "connection_init", payload: { pad: "x".repeat(70_000) } }));
    expect((await closed).code).toBe(1009);
    untrack(big);
    await healthy(s);
  });
});

describe("connections per process", () => {
  const smallServer = suiteServer({ WS_MAX_CONNECTIONS: "4" });

  test("closes a socket past WS_MAX_CONNECTIONS with 1013 RATE_LIMITED, whatever its key; the held ones still work", async () => {
    const small = smallServer();
    const keys = await Promise.all([0, 1, 2, 3].map((i) => small.newKey(`ws-many-${i}`)));
    const held = keys.map((key) => small.wsClient(key));
    expect(await Promise.all(held.map(outcome))).toEqual(["connected", "connected", "connected", "connected"]);

    const extra = small.wsClient();
    expect(await outcome(extra)).toEqual({ code: 1013, reason: "RATE_LIMITED" });
    await extra.dispose();

    const q = subscribe(held[3]!, TYPENAME);
    expect(await q.next()).toEqual({ __typename: "Query" });
    q.close();
    await healthy(small);
    for (const client of held) await client.dispose();
  });
});
