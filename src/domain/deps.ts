import type { Db } from "../db/client.js";
import type { Sql } from "../db/sql.js";
import type { EventBus } from "../events/bus.js";
import type { QueueScripts } from "../redis/scripts.js";
import type { Logger } from "../logger.js";
import type { Journal } from "../db/journal.js";
import type { MessageStatements } from "../db/message-statements.js";
import type { StagedEvents } from "../db/staged-events.js";
import type { QueueDirectory } from "../db/queue-directory.js";
import { type SchemaBook } from "./message-schemas/schema-book.js";
import { type RuleBook } from "./routing/rule-book.js";

/** Milliseconds since the epoch. Agents and tests step it; everything else reads it. */
export type Clock = () => number;

export type Limits = { messageBytes: number; consumerGroupsPerQueue: number };

/** How failed deliveries wait before the next try (see retry-policy.ts). */
export type RetryPolicy = { backoffBaseMs: number; backoffMaxMs: number };

/** What the domain functions work with; built once per process in src/app.ts. */
export type Deps = {
  db: Db;
  /** plain statements on the mariadb driver directly */
  sql: Sql;
  /** the hot path's statements, grouped across concurrent operations */
  statements: MessageStatements;
  scripts: QueueScripts;
  bus: EventBus;
  queues: QueueDirectory;
  /** routing rules per scope (cached) */
  rules: RuleBook;
  /** compiled message schemas */
  schemas: SchemaBook;
  /** `_events` messages staged in event_log until their queue is read */
  stagedEvents: StagedEvents;
  /** audit entries and `_events` copies, group-committed */
  journal: Journal;
  log: Pick<Logger, "error" | "warn">;
  clock: Clock;
  limits: Limits;
  retry: RetryPolicy;
  /** [0, 1): jitter; tests may fix it */
  random: () => number;
};
