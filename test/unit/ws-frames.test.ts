import { once } from "node:events";
import type { AddressInfo, Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket, WebSocketServer } from "ws";
import { coalesceFrames, EARLY_ACK_BYTES } from "../../src/http/ws-frames.js";

/** A ws server whose one connection coalesces its frames, the raw socket's writes counted. */
async function connected() {
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
  await once(wss, "listening");
  const accepted = once(wss, "connection") as Promise<[WebSocket, { socket: Socket }]>;
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  const received: string[] = [];
  client.on("message", (data) => received.push(String(data)));
  await once(client, "open");
  const [server, request] = await accepted;
  coalesceFrames(server, request.socket);
  const raw = request.socket as Socket & { _writev: (...a: unknown[]) => void; _write: (...a: unknown[]) => void };
  const writes = { count: 0 };
  for (const m of ["_writev", "_write"] as const) {
    const original = raw[m].bind(raw);
    raw[m] = (...a: unknown[]) => {
      writes.count++;
      original(...a);
    };
  }
  const close = async () => {
    client.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  };
  return { server, client, raw, received, writes, close };
}

/** Sends like graphql-ws: each frame only after the previous one's callback. */
const sendChained = (ws: WebSocket, frames: string[]) =>
  frames.reduce<Promise<void>>((prev, f) => prev.then(() => new Promise((resolve, reject) => ws.send(f, (err) => (err ? reject(err) : resolve())))), Promise.resolve());

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

describe("graphql-ws frames of one turn", () => {
  it("leave in one write, in order, even when each waits for the one before", async () => {
    const c = await connected();
    cleanup = c.close;
    const frames = ["next 1", "complete 1", "next 2", "complete 2"];
    const before = c.writes.count;
    await sendChained(c.server, frames);
    await new Promise((r) => setImmediate(r));
    expect(c.writes.count - before).toBe(1);
    await expect.poll(() => c.received.length).toBe(4);
    expect(c.received).toEqual(frames);
  });

  it("make the sender wait for the write once EARLY_ACK_BYTES are unsent (backpressure)", async () => {
    const c = await connected();
    cleanup = c.close;
    const big = "x".repeat(EARLY_ACK_BYTES + 1);
    const order: string[] = [];
    c.server.send(big);
    c.server.send("small", () => order.push("acked"));
    await Promise.resolve();
    queueMicrotask(() => order.push("microtasks done"));
    await new Promise((r) => setImmediate(r));
    await expect.poll(() => order.length).toBe(2);
    // acknowledged only after the corked write went out, not among the turn's microtasks
    expect(order).toEqual(["microtasks done", "acked"]);
    await expect.poll(() => c.received.length).toBe(2);
    expect(c.received[1]).toBe("small");
  });

  it("answer a frame sent after the socket closed with an error, as ws does", async () => {
    const c = await connected();
    cleanup = c.close;
    c.server.close();
    const err = await new Promise<Error | undefined>((resolve) => c.server.send("late", resolve));
    expect(err).toBeInstanceOf(Error);
  });
});
