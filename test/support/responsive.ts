const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs `work` while `/healthz` of the server at `base` is asked every ~20 ms, and answers
 * what `work` gave with the slowest healthz answer in ms: a process whose event loop
 * stalls (a regex, a schema, a huge answer) shows it there. The server may run in the
 * test's own process, so each answer is timed from when its request was due, as a
 * prober outside would time it: a stall while the poller waits for its turn counts too.
 */
export async function whileResponsive<T>(base: string, work: () => Promise<T>): Promise<{ result: T; slowestMs: number }> {
  let running = true;
  let slowestMs = 0;
  const poller = (async () => {
    let due = performance.now();
    for (;;) {
      const res = await fetch(`${base}/healthz`);
      await res.arrayBuffer();
      slowestMs = Math.max(slowestMs, performance.now() - due);
      if (res.status !== 200) throw new Error(`/healthz answered ${res.status}`);
      if (!running) return; // the last one was asked after work was done
      due = performance.now() + 20;
      await sleep(20);
    }
  })().then(
    () => null,
    (err: Error) => err,
  );
  let result: T;
  try {
    result = await work();
  } finally {
    running = false;
    const failed = await poller;
    if (failed) throw failed;
  }
  return { result, slowestMs };
}
