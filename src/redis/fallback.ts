import type { QueueScripts } from "./scripts.js";

/** What a Redis step needs to know: whether Redis is reachable at all. */
type Reach = { scripts: Pick<QueueScripts, "available"> };

// The last four are a Redis Cluster's: a master that failed and has no successor yet
// (ioredis gives up after its redirections; CLUSTERDOWN while a slot is uncovered).
const CONNECTION_ERROR =
  /Connection is closed|ECONNREFUSED|ECONNRESET|ETIMEDOUT|Stream isn't writeable|max retries per request|Too many Cluster redirections|CLUSTERDOWN|TRYAGAIN|Cluster is ended/i;

/**
 * Runs a Redis step of an operation; while Redis cannot be reached, runs `fallback`
 * instead. MariaDB holds the record, so the operation stays correct without Redis; the
 * reconciler brings Redis back in line when it returns. Other errors are real and thrown.
 */
export async function withRedis<T>(deps: Reach, step: () => Promise<T>, fallback: () => Promise<T> | T): Promise<T> {
  if (!deps.scripts.available()) return fallback();
  try {
    return await step();
  } catch (err) {
    if (deps.scripts.available() && !CONNECTION_ERROR.test(`${(err as Error).name} ${(err as Error).message}`)) throw err;
    return fallback();
  }
}

/** A Redis step whose effect the reconciler or the completion relay will redo if it is lost. */
export const bestEffort = (deps: Reach, step: () => Promise<unknown>): Promise<unknown> =>
  withRedis(deps, step, () => undefined);
