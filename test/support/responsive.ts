/**
 * Runs `work` while `/healthz` of the server at `base` is asked every ~20 ms, and
 * answers what `work` gave with the slowest healthz answer in ms: a process whose event
 * loop stalls (a regex, a schema, a huge answer) shows it there.
 */
export async function whileResponsive<T>(base: string, work: () => Promise<T>): Promise<{ result: T; slowestMs: number }> {
  let slowestMs = 0;
  let running = true;
  const poller = (async () => {
    while (running) {
      const t = performance.now();
      await fetch(`${base}/healthz`).then((r) => r.arrayBuffer());
      slowestMs = Math.max(slowestMs, performance.now() - t);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  try {
    const result = await work();
    running = false;
    await poller;
    return { result, slowestMs };
  } finally {
    running = false;
    await poller;
  }
}
