import { createConnection, type Connection } from "mariadb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseDatabaseUrl } from "../../src/db/connection.js";
import { createQueue, createScope } from "../support/api.js";
import { CLAIM, COMPLETE, PUBLISH } from "../support/ops.js";
import { ok, startTestServer, uniq, type TestServer } from "../support/server.js";

const BASE_URL = process.env.DATABASE_URL ?? "mysql://root@127.0.0.1:3306/scaiqueue";

let admin: Connection;
let s: TestServer;
let database: string;
beforeAll(async () => {
  admin = await createConnection(parseDatabaseUrl(BASE_URL).server);
  const [{ socket }] = await admin.query("SELECT @@socket AS socket");
  const url = new URL(BASE_URL);
  database = `sq_test_${uniq()}`;
  url.pathname = `/${database}`;
  url.host = "localhost";
  url.searchParams.set("socket", socket);
  s = await startTestServer({ DATABASE_URL: url.toString() });
});
afterAll(async () => {
  await s?.stop();
  await admin?.end();
});

describe("DATABASE_URL ?socket=", () => {
  it("parses to the driver's socket path instead of host and port", () => {
    expect(parseDatabaseUrl("mysql://app:p%40ss@localhost/q?socket=/run/mysqld/mysqld.sock")).toEqual({
      server: { socketPath: "/run/mysqld/mysqld.sock", user: "app", password: "p@ss" },
      database: "q",
    });
    expect(parseDatabaseUrl("mysql://app@db.internal:3307/q").server).toMatchObject({ host: "db.internal", port: 3307 });
  });

  it("serves a message's publish, claim and complete with every connection on the Unix socket", async () => {
    const queueId = await createQueue(s, await createScope(s));
    const published = (await ok(s.gql(PUBLISH, { i: { queueId, body: { n: 1 } } }))).publish.message;
    const [claimed] = (await ok(s.gql(CLAIM, { i: { queueId } }))).claim;
    expect(claimed).toMatchObject({ id: published.id, body: { n: 1 } });
    expect((await ok(s.gql(COMPLETE, { i: { messageId: claimed.id, claimToken: claimed.claimToken } }))).complete.state).toBe("COMPLETED");
    // a socket connection's host is `localhost`; over TCP it is `127.0.0.1:<port>`
    const hosts: { host: string }[] = await admin.query("SELECT host FROM information_schema.processlist WHERE db = ?", [database]);
    expect(hosts.length).toBeGreaterThan(1);
    expect(new Set(hosts.map((h) => h.host))).toEqual(new Set(["localhost"]));
  });
});
