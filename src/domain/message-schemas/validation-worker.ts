import { Worker } from "node:worker_threads";
import type { Problem } from "./json-schema-compiler.mjs";

/** What the worker may use before V8 stops it: a fan-out that collects millions of errors dies here, not in the server. */
const WORKER_HEAP_MB = 256;

export class ValidationTimeout extends Error {
  constructor(readonly ms: number) {
    super(`validation took longer than ${ms} ms`);
    this.name = "ValidationTimeout";
  }
}

type Job = { schemaId: string; schema: object; body: unknown; timeoutMs: number; resolve: (p: Problem[]) => void; reject: (err: Error) => void };

/**
 * One worker thread that validates bodies the event loop should not: one job at a time,
 * each for at most its `timeoutMs` and within WORKER_HEAP_MB. A job over its time, or one that
 * exhausts the heap, ends the worker; the next job starts a fresh one. Jobs wait their
 * turn, so the timeout measures each job's own work.
 */
export class ValidationWorker {
  private worker: Worker | null = null;
  private readonly queue: Job[] = [];
  private running: { job: Job; timer: NodeJS.Timeout } | null = null;
  private nextId = 0;
  private closed = false;

  constructor(private readonly maxProblems: number) {}

  /** Checks `body` off the event loop; rejects with ValidationTimeout once it has run `timeoutMs`. */
  validate(schemaId: string, schema: object, body: unknown, timeoutMs: number): Promise<Problem[]> {
    if (this.closed) return Promise.reject(new Error("the validation worker is shut down"));
    return new Promise((resolve, reject) => {
      this.queue.push({ schemaId, schema, body, timeoutMs, resolve, reject });
      this.pump();
    });
  }

  /** Ends the worker; jobs still waiting are refused. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new Error("the validation worker is shutting down"));
    this.finish(new Error("the validation worker is shutting down"));
  }

  private pump(): void {
    if (this.running || !this.queue.length) return;
    const job = this.queue.shift()!;
    const worker = (this.worker ??= this.start());
    const timer = setTimeout(() => this.finish(new ValidationTimeout(job.timeoutMs)), job.timeoutMs);
    this.running = { job, timer };
    worker.postMessage({ id: ++this.nextId, schemaId: job.schemaId, schema: job.schema, body: job.body, limit: this.maxProblems });
  }

  private start(): Worker {
    const worker = new Worker(new URL("./schema-worker.mjs", import.meta.url), {
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB },
    });
    worker.unref(); // an idle worker keeps no process alive
    worker.on("message", (m: { problems?: Problem[]; failed?: string }) => {
      const r = this.running;
      if (!r) return;
      clearTimeout(r.timer);
      this.running = null;
      if (m.failed !== undefined) r.job.reject(new Error(`validation failed: ${m.failed}`));
      else r.job.resolve(m.problems!);
      this.pump();
    });
    worker.on("error", (err) => this.finish(err));
    worker.on("exit", () => {
      if (this.worker === worker) this.finish(new Error("the validation worker stopped"));
    });
    return worker;
  }

  /** The running job fails with `err`, the worker goes, and the queue goes on with a fresh one. */
  private finish(err: Error): void {
    const worker = this.worker;
    this.worker = null;
    void worker?.terminate();
    const r = this.running;
    this.running = null;
    if (r) {
      clearTimeout(r.timer);
      r.job.reject(err);
    }
    this.pump();
  }
}
