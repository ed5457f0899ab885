import { Redis } from "ioredis";
import type { Client } from "graphql-ws";
import { createKeys } from "../src/redis/keys.js";
import { bounded, gqlOver, httpGql, subscribe, wsClient, wsGql, Q, type Claimed, type Gql } from "./gql.js";
import type { RoleContext, RoleFn } from "./roles.js";
import { counter, latencySummary, messageBody, now, sleep, untilDoneOrStalled } from "./stats.js";
import { cpuMeter } from "./env.js";

/** Load roles against ScaiQueue GraphQL; each runs in its own process (see roles.ts). */
type Target = { urls: string[]; wsUrls: string[]; key: string; queueId: string };
type Transport = "http" | "ws";

/**
 * One client per virtual producer/consumer: over HTTP, callers share one keep-alive
 * agent per server (a connection each); over graphql-ws, each gets its own socket.
 * Callers are spread over the servers round-robin.
 */
function clients(t: Target, n: number, transport: Transport): { of(i: number): Gql; close(): Promise<void> } {
  const perServer = Math.ceil(n / t.urls.length);
  const pool =
    transport === "http"
      ? t.urls.map((u) => httpGql(u, t.key, perServer))
      : Array.from({ length: n }, (_, i) => wsGql(t.wsUrls[i % t.wsUrls.length]!, t.key));
  return {
    of: (i) => (transport === "http" ? pool[i % pool.length]! : pool[i]!),
    close: async () => void (await Promise.all(pool.map((c) => c.close()))),
  };
}

const inputs = (queueId: string, from: number, n: number, correlation?: string) =>
  Array.from({ length: n }, (_, k) => ({
    queueId,
    body: messageBody(from + k),
    ...(correlation ? { correlationId: `${correlation}${from + k}` } : {}),
  }));

async function publishAll(gql: (i: number) => Gql, queueId: string, total: number, batch: number, loops: number, correlation?: string, onBatch?: () => void) {
  const work = counter(total);
  await Promise.all(
    Array.from({ length: loops }, async (_, i) => {
      for (let at = work.take(batch); at !== null; at = work.take(batch)) {
        const n = Math.min(batch, total - at);
        if (batch === 1 && n === 1) await gql(i).request(Q.publish, { i: inputs(queueId, at, 1, correlation)[0] });
        else await gql(i).request(Q.publishBatch, { is: inputs(queueId, at, n, correlation) });
        onBatch?.();
      }
    }),
  );
}

/** s1/s2 producers: `producers` loops publishing `batch` at a time until `total`. */
const producer: RoleFn = async (ctx, p: Target & { total: number; producers: number; batch: number; transport: Transport }) => {
  const c = clients(p, p.producers, p.transport);
  await ctx.waitFor("consumers-ready");
  const startMs = now();
  await publishAll(c.of, p.queueId, p.total, p.batch, p.producers);
  const endMs = now();
  await c.close();
  return { published: p.total, startMs, endMs };
};

/**
 * s1/s2 consumers: `consumers` loops of claim(batchSize) then complete (one) or
 * completeBatch, until `total` are completed. An empty claim backs off 2 → 50 ms.
 */
const consumer: RoleFn = async (ctx, p: Target & { total: number; consumers: number; batch: number; transport: Transport }) => {
  const c = clients(p, p.consumers, p.transport);
  await Promise.all(Array.from({ length: p.consumers }, (_, i) => c.of(i).request(Q.depth, { q: p.queueId })));
  ctx.signal("consumers-ready");
  let completed = 0;
  let claims = 0;
  let empty = 0;
  let endMs = 0;
  await Promise.all(
    Array.from({ length: p.consumers }, async (_, i) => {
      const gql = c.of(i);
      let backoff = 2;
      while (completed < p.total) {
        const got = (await gql.request<{ claim: Claimed[] }>(Q.claim, { i: { queueId: p.queueId, batchSize: p.batch } })).claim;
        claims++;
        if (!got.length) {
          empty++;
          await sleep(backoff);
          backoff = Math.min(50, backoff * 2);
          continue;
        }
        backoff = 2;
        if (got.length === 1) await gql.request(Q.complete, { i: { messageId: got[0]!.id, claimToken: got[0]!.claimToken } });
        else await gql.request(Q.completeBatch, { is: got.map((m) => ({ messageId: m.id, claimToken: m.claimToken })) });
        completed += got.length;
        if (completed >= p.total) endMs = now();
      }
    }),
  );
  await c.close();
  return { completed, claims, emptyClaims: empty, endMs };
};

/**
 * s3 worker, event-driven: listens to the queue's published events over graphql-ws and
 * claims as many as were announced (up to `batch` per claim), completing them at once;
 * a 100 ms poll picks up anything an event did not announce. Over `ws` its claims and
 * completes share the socket of its subscription, over `http` they are POSTs.
 */
const eventWorker: RoleFn = async (ctx, p: Target & { total: number; batch: number; loops: number; transport: Transport }) => {
  const ws = wsClient(p.wsUrls[p.wsUrls.length - 1]!, p.key);
  const gql = p.transport === "ws" ? gqlOver(ws) : httpGql(p.urls[p.urls.length - 1]!, p.key, p.loops);
  let completed = 0;
  let owed = 0; // announced, not yet claimed
  let active = 0;
  let failure: unknown = null;
  let finish!: () => void;
  const finished = new Promise<void>((r) => (finish = r));
  const pump = async () => {
    if (active >= p.loops) return;
    active++;
    try {
      while (owed > 0 && !failure) {
        const n = Math.min(owed, p.batch);
        owed -= n;
        const got = (await gql.request<{ claim: Claimed[] }>(Q.claim, { i: { queueId: p.queueId, batchSize: n } })).claim;
        if (got.length === 1) await gql.request(Q.complete, { i: { messageId: got[0]!.id, claimToken: got[0]!.claimToken } });
        else if (got.length) await gql.request(Q.completeBatch, { is: got.map((m) => ({ messageId: m.id, claimToken: m.claimToken })) });
        completed += got.length;
        if (completed >= p.total) finish();
      }
    } catch (err) {
      failure = err;
      finish();
    } finally {
      active--;
    }
  };
  const off = subscribe(ws, Q.published, { q: p.queueId }, () => ((owed += 1), void pump()), (err) => ((failure = err), finish()));
  const poll = setInterval(() => ((owed = Math.max(owed, 1)), void pump()), 100);
  await sleep(300); // let the subscription go live before the producer starts
  ctx.signal("consumers-ready");
  await finished;
  clearInterval(poll);
  off();
  await ws.dispose();
  await gql.close();
  if (failure) throw failure;
  return { completed };
};

/**
 * s3 producer + waiters: publishes at a steady `rate`, each message with its own
 * correlationId whose messageCompleted subscription was opened `leadMs` earlier;
 * latency = event received − publish sent. Over `ws` the publishes share the waiters'
 * socket, over `http` they are POSTs; 64 at most in flight either way.
 */
const latencyProbe: RoleFn = async (ctx, p: Target & { total: number; rate: number; leadMs: number; warmup: number; tag: string; transport: Transport }) => {
  const ws = wsClient(p.wsUrls[0]!, p.key);
  const gql = p.transport === "ws" ? bounded(gqlOver(ws), 64) : httpGql(p.urls[0]!, p.key, 64);
  const sentAt = new Float64Array(p.total);
  const ackMs: number[] = new Array(p.total).fill(NaN); // publish round trip
  const lat: number[] = new Array(p.total).fill(NaN);
  const offs: (() => void)[] = [];
  let received = 0;
  let failure: unknown = null;
  let allIn!: () => void;
  const done = new Promise<void>((r) => (allIn = r));
  const cid = (i: number) => `${p.tag}-${p.queueId}-s3-${i}`;
  await ctx.waitFor("consumers-ready");
  const interval = 1000 / p.rate;
  const t0 = now() + p.leadMs;
  let subscribed = 0;
  let published = 0;
  const inflight: Promise<unknown>[] = [];
  while (published < p.total) {
    const t = now();
    while (subscribed < p.total && t0 + subscribed * interval - p.leadMs <= t) {
      const i = subscribed++;
      offs[i] = subscribe(ws, Q.completed, { c: cid(i) }, () => {
        if (!Number.isNaN(lat[i]!)) return;
        lat[i] = now() - sentAt[i]!;
        offs[i]!();
        if (++received === p.total) allIn();
      }, (err) => ((failure = err), allIn()));
    }
    while (published < subscribed && t0 + published * interval <= t) {
      const i = published++;
      sentAt[i] = now();
      inflight.push(gql.request(Q.publish, { i: { queueId: p.queueId, body: messageBody(i), correlationId: cid(i) } }).then(() => (ackMs[i] = now() - sentAt[i]!)));
    }
    await sleep(Math.max(0, Math.min(t0 + published * interval, t0 + subscribed * interval - p.leadMs) - now()));
  }
  const sentS = (now() - t0) / 1000;
  await Promise.all(inflight);
  await untilDoneOrStalled(done, () => received, 20_000);
  for (const off of offs) off?.();
  await ws.dispose();
  await gql.close();
  if (failure) throw failure;
  const measured = lat.slice(p.warmup).filter((v) => !Number.isNaN(v));
  const acks = ackMs.slice(p.warmup).filter((v) => !Number.isNaN(v));
  return { published, delivered: received, latency: latencySummary(measured), publishAck: latencySummary(acks), achievedRate: published / sentS };
};

/** s4 completer: publishes and claims `total` correlated messages, waits for the waiters, then completes them all. */
const completer: RoleFn = async (ctx, p: Target & { total: number; tag: string }) => {
  const gql = httpGql(p.urls[0]!, p.key, 8);
  const prefix = `${p.tag}-${p.queueId}-s4-`;
  await publishAll(() => gql, p.queueId, p.total, 500, 4, prefix);
  const probeId = (await gql.request<{ publish: { message: { id: string } } }>(Q.publish, {
    i: { queueId: p.queueId, body: messageBody(-1), correlationId: `${prefix}probe` },
  })).publish.message.id;
  const claimed: Claimed[] = [];
  for (;;) {
    const got = (await gql.request<{ claim: Claimed[] }>(Q.claim, { i: { queueId: p.queueId, batchSize: 100, visibilityTimeoutS: 3600 } })).claim;
    if (!got.length) break;
    claimed.push(...got);
  }
  const probe = claimed.splice(claimed.findIndex((m) => m.id === probeId), 1)[0]!;
  await gql.request(Q.complete, { i: { messageId: probe.id, claimToken: probe.claimToken } });
  ctx.signal("claimed", { claimed: claimed.length });
  await ctx.waitFor("subscribed");
  const startMs = now();
  const work = counter(claimed.length);
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let at = work.take(100); at !== null; at = work.take(100)) {
        const items = claimed.slice(at, at + 100).map((m) => ({ messageId: m.id, claimToken: m.claimToken }));
        await gql.request(Q.completeBatch, { is: items });
      }
    }),
  );
  const completedMs = now();
  await gql.close();
  return { completed: claimed.length, startMs, completedMs };
};

/** s4 waiters: `total` messageCompleted subscriptions spread over `sockets` graphql-ws connections. */
const waiters: RoleFn = async (ctx, p: Target & { total: number; sockets: number; tag: string; timeoutMs: number }) => {
  const prefix = `${p.tag}-${p.queueId}-s4-`;
  await ctx.waitFor("claimed");
  const sockets: Client[] = Array.from({ length: p.sockets }, () => wsClient(p.wsUrls[0]!, p.key));
  const got = new Uint8Array(p.total);
  let delivered = 0;
  let duplicates = 0;
  let lastMs = 0;
  let failure: unknown = null;
  let allIn!: () => void;
  const done = new Promise<void>((r) => (allIn = r));
  const offs: (() => void)[] = [];
  for (let i = 0; i < p.total; i++) {
    offs.push(subscribe(sockets[i % p.sockets]!, Q.completed, { c: `${prefix}${i}` }, () => {
      if (got[i]) return void duplicates++;
      got[i] = 1;
      lastMs = now();
      if (++delivered === p.total) allIn();
    }, (err) => ((failure = err), allIn())));
  }
  // One probe per socket, subscribed last, for a message already completed: its answer
  // (the catch-up read) means the socket's earlier subscriptions are live.
  await Promise.all(
    sockets.map((s) => new Promise<void>((resolve, reject) => {
      const off = subscribe(s, Q.completed, { c: `${prefix}probe` }, () => (resolve(), queueMicrotask(off)), reject);
    })),
  );
  await sleep(1000);
  if (failure) throw failure;
  ctx.progress(`${p.total} subscriptions live on ${p.sockets} sockets`);
  ctx.signal("subscribed");
  await Promise.race([done, sleep(p.timeoutMs)]);
  for (const off of offs) off();
  await Promise.all(sockets.map((s) => s.dispose()));
  if (failure) throw failure;
  return { delivered, duplicates, lastMs };
};

/**
 * s5: claim rate at two depths, one after the other, so the service holds only that
 * depth while it is measured (agents and indexes see the whole table, not one queue).
 * Each queue is bulk-loaded (publishBatch of 500, 8 in parallel); then `rounds` times:
 * publish `roundSize` more (untimed) and time claiming `roundSize` with 8 claimers of
 * batchSize 50, so the depth stays within [depth, depth + roundSize]. One untimed round
 * first warms the server up.
 */
const depth: RoleFn = async (ctx, p: Target & { queues: { id: string; scopeId: string; depth: number }[]; rounds: number; roundSize: number; prefix: string; redisUrl: string; watch: Record<string, number | null> }) => {
  const gql = httpGql(p.urls[0]!, p.key, 8);
  const redis = new Redis(p.redisUrl);
  const cpu = cpuMeter(p.watch);
  const round = async (queueId: string) => {
    await publishAll(() => gql, queueId, p.roundSize, 500, 2);
    const work = counter(p.roundSize);
    let claimed = 0;
    const start = now();
    cpu.resume();
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let at = work.take(50); at !== null; at = work.take(50)) {
          const n = Math.min(50, p.roundSize - at);
          const got = await gql.request<{ claim: Claimed[] }>(Q.claim, { i: { queueId, batchSize: n, visibilityTimeoutS: 3600 } });
          claimed += got.claim.length; // after the await: `x += await …` would read x before it
        }
      }),
    );
    cpu.pause();
    return { claimed, ms: now() - start };
  };
  const out = [];
  for (const [i, c] of p.queues.entries()) {
    const t0 = now();
    let batches = 0;
    const step = Math.max(1, Math.round(c.depth / 500 / 10));
    await publishAll(() => gql, c.id, c.depth, 500, 8, undefined, () => {
      if (++batches % step === 0) ctx.progress(`loaded ${Math.min(c.depth, batches * 500).toLocaleString()} / ${c.depth.toLocaleString()}`);
    });
    const loadS = (now() - t0) / 1000;
    let redisBytes = 0;
    for (const k of Object.values(createKeys(p.prefix).queue(c.scopeId, c.id))) {
      redisBytes += Number((await redis.call("MEMORY", "USAGE", k, "SAMPLES", "0")) ?? 0);
    }
    await sleep(3000); // let the load's tail settle
    if (i === 0) await round(c.id); // warm-up, untimed
    cpu.reset();
    let claimed = 0;
    let timedMs = 0;
    for (let r = 0; r < p.rounds; r++) {
      const x = await round(c.id);
      claimed += x.claimed;
      timedMs += x.ms;
    }
    const depthAfter = (await gql.request<{ queueDepth: { pending: number } }>(Q.depth, { q: c.id })).queueDepth.pending;
    const claimRate = (claimed * 1000) / timedMs;
    out.push({ depth: c.depth, loadRate: c.depth / loadS, loadS, claimed, claimRate, redisBytesPerPending: redisBytes / c.depth, depthAfter, cpuDuringClaims: cpu.shares(timedMs) });
    ctx.progress(`depth ${c.depth.toLocaleString()}: ${Math.round(claimRate)} claims/s (cpu ${JSON.stringify(cpu.shares(timedMs))})`);
  }
  redis.disconnect();
  await gql.close();
  return { cases: out };
};

export const roles: Record<string, RoleFn> = { producer, consumer, eventWorker, latencyProbe, completer, waiters, depth };
export type { RoleContext };
