import type { Message } from "../../../generated/prisma/client.js";
import type { Tx } from "../../../db/client.js";
import type { QueueInfo } from "../../../db/queue-directory.js";
import type { QueueKeys } from "../../../redis/keys.js";
import type { EventTypeName } from "../../../events/message-event.js";
import type { Happened } from "../../outcomes/event-log.js";

/**
 * Where claims are taken and ended: a COMPETING queue (its messages, lanes/queue.ts) or
 * one consumer group of a BROADCAST queue (the group's deliveries, lanes/group.ts). Each
 * lane has its own Redis structures and its own rows; the transitions (claim, complete,
 * fail, release, extend, lapse, dead letter, expiry) are written once over this
 * interface, so whatever one lane does the other does too.
 */
export interface Lane {
  readonly queue: QueueInfo;
  /** the consumer group of a BROADCAST queue; null for a COMPETING queue */
  readonly group: { id: string; name: string } | null;
  /** the lane's Redis structures */
  readonly keys: QueueKeys;
  /** Records claims popped from Redis on their rows; resolves to the messages now claimed by them, as the lane shows them, in order. */
  recordClaims(popped: Popped[], c: ClaimSpec): Promise<Message[]>;
  /** A claim while Redis is down: MariaDB alone picks the rows, in the queue's order, so concurrent claimers take different ones. */
  claimFromMariaDb(c: ClaimSpec): Promise<Message[]>;
  /**
   * Ends held claims that are still the ones named (live, or lapsed for the visibility
   * enforcer): MariaDB decides, a claim that lapsed or was taken again is left out.
   * Resolves to the claims it ended, as the lane now shows them; the events of the
   * change; and the messages it ended as a whole (a BROADCAST message whose last group
   * is done).
   */
  end(held: Held[], e: Ending, when: When, at: Date): Promise<LaneChange>;
  /** The live claim now lapses at `expiresAt`; false when it is no longer the holder's. */
  extend(held: Held, expiresAt: Date, now: number): Promise<boolean>;
  /** The messages ended as a whole (expired): their open claims in this lane end with them. */
  abandon(db: Tx, ids: string[], at: Date): Promise<void>;
  /** How many of the lane's rows are open (pending or claimed): admission's count while Redis is down. */
  occupancy(): Promise<number>;
}

/** A lane's name among the lanes of one publish or sweep: the queue id, and the group's for a BROADCAST queue. */
export const laneKey = (lane: Pick<Lane, "queue" | "group">): string => (lane.group ? `${lane.queue.id}/${lane.group.id}` : lane.queue.id);

/** A claim its holder proved it holds (or a lapsed one the enforcer found): the message as its lane shows it, and the token. */
export type Held = { message: Message; token: string };

/** The holder's own claim must be live; the visibility enforcer takes lapsed ones. */
export type When = "live" | "lapsed";

export type Popped = { id: string; token: string };

export type ClaimSpec = { n: number; now: number; visibilityMs: number; claimedBy: string; keyId: string };

/** How claims end. */
export type Ending =
  | { to: "COMPLETED"; response: (h: Held) => unknown }
  /** pending again: a failure with retries left, a release, a lapse */
  | { to: "PENDING"; visibleAt: (h: Held) => number; attemptsDelta: 0 | -1; failureReason: string | null; event: EventTypeName }
  /** the lane gives up on it; the copy for the scope's _dead_letter queue is written with the change */
  | { to: "DEAD_LETTERED"; reason: (h: Held) => string; copies: Map<string, Message> };

export type LaneChange = { ended: Held[]; happened: Happened[]; finished: Happened[] };

/** Groups items by their lane (queue, and group for a BROADCAST queue), in first-seen order. */
export function byLane<T extends { lane: Lane }>(items: T[]): T[][] {
  const groups = new Map<string, T[]>();
  for (const i of items) groups.set(laneKey(i.lane), [...(groups.get(laneKey(i.lane)) ?? []), i]);
  return [...groups.values()];
}
