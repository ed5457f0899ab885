/**
 * A system agent: one sweep of some part of the queue's upkeep. runOnce is what the
 * runner calls every interval (in one process at a time) and what tests call with a
 * stepped clock; it returns how many messages it acted on.
 */
export type Agent = {
  name: string;
  intervalMs: number;
  runOnce(ctx: { now: number }): Promise<number>;
};

/** Most rows one sweep takes on, so a backlog is worked off over several intervals. */
export const SWEEP_BATCH = 500;
