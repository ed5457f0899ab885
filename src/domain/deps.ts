import type { Db } from "../db/client.js";
import type { EventBus } from "../events/bus.js";
import type { QueueScripts } from "../redis/scripts.js";
import type { QueueDirectory } from "./queue-directory.js";

/** Milliseconds since the epoch. Agents and tests step it; everything else reads it. */
export type Clock = () => number;

export type Limits = { messageBytes: number };

/** How failed deliveries wait before the next try (see retry-policy.ts). */
export type RetryPolicy = { backoffBaseMs: number; backoffMaxMs: number };

/** What the domain functions work with; built once per process in src/services.ts. */
export type Deps = {
  db: Db;
  scripts: QueueScripts;
  bus: EventBus;
  queues: QueueDirectory;
  clock: Clock;
  limits: Limits;
  retry: RetryPolicy;
  /** [0, 1): jitter; tests may fix it */
  random: () => number;
};
