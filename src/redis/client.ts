import { Redis } from "ioredis";
import type { Config } from "../config.js";

/**
 * Auto-pipelining batches the commands issued in one event-loop tick into one write,
 * which is what lets many concurrent requests share a connection cheaply.
 */
export function createRedis(config: Pick<Config, "redis">, opts: { subscriber?: boolean } = {}): Redis {
  return new Redis(config.redis.url, {
    enableAutoPipelining: !opts.subscriber,
    // Fail a command after a few reconnect attempts instead of queueing forever,
    // so requests answer while Redis is down.
    maxRetriesPerRequest: 3,
    lazyConnect: false,
  });
}
