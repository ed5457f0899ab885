import { Cluster, Redis } from "ioredis";
import type { Config } from "../config.js";

/** One Redis server or a Redis Cluster: both take the same commands and scripts. */
export type RedisClient = Redis | Cluster;

/**
 * Auto-pipelining batches the commands issued in one event-loop tick into one write,
 * which is what lets many concurrent requests share a connection cheaply.
 */
export function createRedis(config: Pick<Config, "redis">, opts: { subscriber?: boolean } = {}): RedisClient {
  const cluster = config.redis.cluster;
  if (!cluster) {
    return new Redis(config.redis.url, {
      enableAutoPipelining: !opts.subscriber,
      // Fail a command after a few reconnect attempts instead of queueing forever,
      // so requests answer while Redis is down.
      maxRetriesPerRequest: 3,
      lazyConnect: false,
    });
  }
  // Every key one script touches carries its scope's hash tag (keys.ts), so each
  // script runs on the one master that owns that slot. A command to a master that died
  // is retried every 100 ms up to 16 times (ioredis' defaults, ~1.6 s); a failover
  // takes longer (cluster-node-timeout, then the election), so until a replica has
  // taken over, operations on that master's scopes take their MariaDB-only path
  // (fallback.ts) and the reconciler catches Redis up afterwards.
  //
  // No auto-pipelining here: ioredis follows a MOVED reply (a replica took over a slot)
  // for a pipeline only when every command in it got the same one, and an auto-pipeline
  // mixes the slots of one node, so after a failover some of its commands would fail
  // instead of following the slot. Single commands each follow their redirection.
  return new Cluster(cluster.nodes, {
    enableAutoPipelining: false,
    scaleReads: "master",
    redisOptions: {
      username: cluster.username,
      password: cluster.password,
      tls: cluster.tls ? {} : undefined,
    },
  });
}

/** The masters now serving slots (one Redis server: itself). */
export function masters(redis: RedisClient): Redis[] {
  return redis instanceof Cluster ? redis.nodes("master") : [redis];
}
