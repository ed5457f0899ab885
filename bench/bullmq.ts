import { Queue, QueueEvents, Worker, type Job, type ConnectionOptions } from "bullmq";
import { Redis } from "ioredis";
import type { RoleFn } from "./roles.js";
import { counter, latencySummary, messageBody, now, sleep, untilDoneOrStalled } from "./stats.js";
import { cpuMeter } from "./env.js";

/**
 * The same load against BullMQ on the same Redis: producers use Queue.add / addBulk,
 * consumers a Worker with concurrency 50 doing nothing, waiters QueueEvents.
 */
type Target = { redisUrl: string; prefix: string; queue: string };

const connection = (t: Target, worker = false): ConnectionOptions => {
  const u = new URL(t.redisUrl);
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    db: Number(u.pathname.slice(1) || 0),
    ...(worker ? { maxRetriesPerRequest: null } : {}), // BullMQ requires it for blocking connections
  };
};
const queueOf = (t: Target) => new Queue(t.queue, { connection: connection(t), prefix: t.prefix });
const job = (seq: number, jobId?: string) => ({ name: "task", data: messageBody(seq), ...(jobId ? { opts: { jobId } } : {}) });

async function addAll(q: Queue, total: number, batch: number, loops: number, jobId?: (i: number) => string, onBatch?: () => void) {
  const work = counter(total);
  await Promise.all(
    Array.from({ length: loops }, async () => {
      for (let at = work.take(batch); at !== null; at = work.take(batch)) {
        const n = Math.min(batch, total - at);
        if (n === 1 && batch === 1) await q.add("task", messageBody(at), jobId ? { jobId: jobId(at) } : undefined);
        else await q.addBulk(Array.from({ length: n }, (_, k) => job(at + k, jobId?.(at + k))));
        onBatch?.();
      }
    }),
  );
}

/** s1/s2 producers: add (batch 1) or addBulk. */
const producer: RoleFn = async (ctx, p: Target & { total: number; producers: number; batch: number }) => {
  const q = queueOf(p);
  await q.waitUntilReady();
  await ctx.waitFor("consumers-ready");
  const startMs = now();
  await addAll(q, p.total, p.batch, p.producers);
  const endMs = now();
  await q.close();
  return { published: p.total, startMs, endMs };
};

/** A Worker (concurrency 50) completing every job at once; stops after `total`. */
const worker: RoleFn = async (ctx, p: Target & { total: number; concurrency: number; waitFor?: string }) => {
  if (p.waitFor) await ctx.waitFor(p.waitFor);
  let completed = 0;
  let endMs = 0;
  let finish!: () => void;
  const finished = new Promise<void>((r) => (finish = r));
  const startMs = now();
  const w = new Worker(p.queue, async () => "ok", { connection: connection(p, true), prefix: p.prefix, concurrency: p.concurrency });
  w.on("completed", () => {
    if (++completed === p.total) {
      endMs = now();
      finish();
    }
  });
  let failure: unknown = null;
  w.on("error", (err) => ((failure = err), finish()));
  await w.waitUntilReady();
  ctx.signal("consumers-ready");
  await finished;
  await w.close();
  if (failure) throw failure;
  return { completed, startMs, endMs };
};

/** s3: steady-rate add, latency to the QueueEvents 'completed' event of each job. */
const latencyProbe: RoleFn = async (ctx, p: Target & { total: number; rate: number; warmup: number }) => {
  const q = queueOf(p);
  const events = new QueueEvents(p.queue, { connection: connection(p, true), prefix: p.prefix });
  await Promise.all([q.waitUntilReady(), events.waitUntilReady()]);
  const sentAt = new Float64Array(p.total);
  const ackMs: number[] = new Array(p.total).fill(NaN); // add round trip
  const lat: number[] = new Array(p.total).fill(NaN);
  let received = 0;
  let allIn!: () => void;
  const done = new Promise<void>((r) => (allIn = r));
  events.on("completed", ({ jobId }) => {
    const i = Number(jobId.slice(2));
    if (!(i >= 0 && i < p.total) || !Number.isNaN(lat[i]!)) return;
    lat[i] = now() - sentAt[i]!;
    if (++received === p.total) allIn();
  });
  await ctx.waitFor("consumers-ready");
  await sleep(300);
  const interval = 1000 / p.rate;
  const t0 = now();
  const inflight: Promise<unknown>[] = [];
  for (let i = 0; i < p.total; ) {
    while (i < p.total && t0 + i * interval <= now()) {
      sentAt[i] = now();
      const at = i;
      inflight.push(q.add("task", messageBody(i), { jobId: `j-${i}` }).then(() => (ackMs[at] = now() - sentAt[at]!)));
      i++;
    }
    await sleep(Math.max(0, t0 + i * interval - now()));
  }
  const sentS = (now() - t0) / 1000;
  await Promise.all(inflight);
  await untilDoneOrStalled(done, () => received, 20_000);
  await events.close();
  await q.close();
  const measured = lat.slice(p.warmup).filter((v) => !Number.isNaN(v));
  const acks = ackMs.slice(p.warmup).filter((v) => !Number.isNaN(v));
  return { published: p.total, delivered: received, latency: latencySummary(measured), publishAck: latencySummary(acks), achievedRate: p.total / sentS };
};

/**
 * s4: `total` waiters in this process, each job.waitUntilFinished(queueEvents) on its own
 * job; the worker role starts once they all wait.
 */
const waiters: RoleFn = async (ctx, p: Target & { total: number; timeoutMs: number }) => {
  const q = queueOf(p);
  q.setMaxListeners(0); // every waiter listens for the queue closing
  const events = new QueueEvents(p.queue, { connection: connection(p, true), prefix: p.prefix });
  events.setMaxListeners(0);
  await Promise.all([q.waitUntilReady(), events.waitUntilReady()]);
  const jobs: Job[] = [];
  for (let at = 0; at < p.total; at += 500) {
    jobs.push(...(await q.addBulk(Array.from({ length: Math.min(500, p.total - at) }, (_, k) => job(at + k)))));
  }
  let delivered = 0;
  let lastMs = 0;
  const all = Promise.all(
    jobs.map((j) =>
      j.waitUntilFinished(events).then(() => {
        delivered++;
        lastMs = now();
      }),
    ),
  );
  await sleep(1000);
  ctx.progress(`${p.total} waiters registered`);
  ctx.signal("subscribed");
  await Promise.race([all, sleep(p.timeoutMs)]);
  await events.close();
  await q.close();
  return { delivered, duplicates: 0, lastMs };
};

/** s5 as ours (one depth after the other, warm-up round first), claiming with Worker.getNextJob: claim only, like ours. */
const depth: RoleFn = async (ctx, p: Target & { queues: { name: string; depth: number }[]; rounds: number; roundSize: number; claimers: number; watch: Record<string, number | null> }) => {
  const redis = new Redis(p.redisUrl);
  const cpu = cpuMeter({ ...p.watch, depth: process.pid });
  const round = async (q: Queue, w: Worker) => {
    await addAll(q, p.roundSize, 500, 2);
    const work = counter(p.roundSize);
    let claimed = 0;
    const start = now();
    cpu.resume();
    await Promise.all(
      Array.from({ length: p.claimers }, async (_, i) => {
        while (work.take() !== null) if (await w.getNextJob(`bench-${i}`, { block: false })) claimed++;
      }),
    );
    cpu.pause();
    return { claimed, ms: now() - start };
  };
  const out = [];
  for (const [i, c] of p.queues.entries()) {
    const t = { ...p, queue: c.name };
    const q = queueOf(t);
    const t0 = now();
    let batches = 0;
    const step = Math.max(1, Math.round(c.depth / 500 / 10));
    await addAll(q, c.depth, 500, 8, undefined, () => {
      if (++batches % step === 0) ctx.progress(`loaded ${Math.min(c.depth, batches * 500).toLocaleString()} / ${c.depth.toLocaleString()}`);
    });
    const loadS = (now() - t0) / 1000;
    const redisBytes = await memoryOf(redis, `${p.prefix}:${c.name}:*`);
    const w = new Worker(c.name, null, { connection: connection(t, true), prefix: p.prefix, autorun: false });
    await w.waitUntilReady();
    await sleep(3000);
    if (i === 0) await round(q, w); // warm-up, untimed
    cpu.reset();
    let claimed = 0;
    let timedMs = 0;
    for (let r = 0; r < p.rounds; r++) {
      const x = await round(q, w);
      claimed += x.claimed;
      timedMs += x.ms;
    }
    const depthAfter = await q.getWaitingCount();
    await w.close(true);
    await q.close();
    const claimRate = (claimed * 1000) / timedMs;
    out.push({ depth: c.depth, loadRate: c.depth / loadS, loadS, claimed, claimRate, redisBytesPerPending: redisBytes / c.depth, depthAfter, cpuDuringClaims: cpu.shares(timedMs) });
    ctx.progress(`depth ${c.depth.toLocaleString()}: ${Math.round(claimRate)} claims/s (cpu ${JSON.stringify(cpu.shares(timedMs))})`);
  }
  redis.disconnect();
  return { cases: out };
};

/** Sum of MEMORY USAGE over every key matching `pattern` (exact: SAMPLES 0). */
async function memoryOf(redis: Redis, pattern: string): Promise<number> {
  let total = 0;
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 5000);
    const pipe = redis.pipeline();
    for (const k of keys) pipe.call("MEMORY", "USAGE", k, "SAMPLES", "0");
    for (const [, v] of (await pipe.exec()) ?? []) total += Number(v ?? 0);
    cursor = next;
  } while (cursor !== "0");
  return total;
}

export const roles: Record<string, RoleFn> = { producer, worker, latencyProbe, waiters, depth };
