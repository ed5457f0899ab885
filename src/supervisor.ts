import cluster, { type Worker } from "node:cluster";
import type { Config } from "./config.js";
import type { Logger } from "./logger.js";

const SECOND = 1000;
/** A worker that served this long was healthy: its death restarts at the base delay. */
const STABLE_MS = 30 * SECOND;
/** A worker that dies sooner doubles its slot's delay, so a crash loop costs little. */
const RESTART_BASE_MS = 250;
const RESTART_MAX_MS = 30 * SECOND;
/** Past the workers' own grace time, how long the primary waits before it kills them. */
const STOP_MARGIN_MS = 5 * SECOND;

type Slot = { worker: Worker | null; startedAt: number; delayMs: number; timer: NodeJS.Timeout | null };

/**
 * The primary of a node:cluster: keeps `config.webConcurrency` workers serving the one
 * port (the primary hands each new connection to the next worker), starts a new worker
 * when one dies, and on SIGTERM/SIGINT lets every worker drain as a single process
 * would, then exits 0 (1 if a worker failed to stop cleanly or had to be killed after
 * the grace time). Workers need no coordination here: requests are stateless, events
 * reach every process through Redis pub/sub, and agents take Redis leases.
 */
export function superviseWorkers(config: Config, log: Logger): void {
  const slots: Slot[] = Array.from({ length: config.webConcurrency }, () => ({
    worker: null,
    startedAt: 0,
    delayMs: 0,
    timer: null,
  }));
  let stopping = false;
  let failed = false;
  let portTold = false;

  const fork = (slot: Slot) => {
    slot.timer = null;
    slot.startedAt = Date.now();
    const worker = cluster.fork();
    slot.worker = worker;
    worker.on("listening", (address) => {
      log.info({ worker: worker.process.pid }, "worker serving");
      // as main.ts does for one process: the workers share one port, PORT=0 included
      if (process.send && !portTold) process.send({ serving: address.port });
      portTold = true;
    });
    worker.on("exit", (code, signal) => exited(slot, worker, code, signal));
  };

  const exited = (slot: Slot, worker: Worker, code: number | null, signal: string | null) => {
    slot.worker = null;
    if (stopping) {
      // A signal that reached a worker before it set its handlers ends it just as well
      // (by the signal, or with 128 + its number under tsx); a lower code is a failure.
      if (code !== null && code !== 0 && code < 128) failed = true;
      if (slots.every((s) => !s.worker)) process.exit(failed ? 1 : 0);
      return;
    }
    const served = Date.now() - slot.startedAt;
    slot.delayMs = served >= STABLE_MS ? RESTART_BASE_MS : Math.min(Math.max(2 * slot.delayMs, RESTART_BASE_MS), RESTART_MAX_MS);
    log.warn({ worker: worker.process.pid, code, signal, restartInMs: slot.delayMs }, "worker exited; starting another");
    slot.timer = setTimeout(() => fork(slot), slot.delayMs);
  };

  const stop = (signal: NodeJS.Signals) => {
    // Signals often come twice (GNU timeout and process-group kills reach the primary
    // directly and through its group): a repeat must not cut the drain short.
    if (stopping) return;
    stopping = true;
    const live = slots.flatMap((s) => (s.worker ? [s.worker] : []));
    log.info({ signal, workers: live.length }, "shutting down");
    for (const s of slots) if (s.timer) clearTimeout(s.timer);
    if (!live.length) process.exit(0);
    // Each worker drains as a lone process does (src/main.ts); not `worker.kill()`, which
    // would disconnect it first and cut that short.
    for (const w of live) w.process.kill("SIGTERM");
    setTimeout(() => {
      log.error("workers did not stop in time; killing them");
      failed = true;
      for (const s of slots) s.worker?.process.kill("SIGKILL");
    }, config.shutdownGraceMs + STOP_MARGIN_MS).unref();
  };

  for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => stop(signal));
  for (const slot of slots) fork(slot);
  log.info({ workers: slots.length, port: config.port }, "starting workers");
}
