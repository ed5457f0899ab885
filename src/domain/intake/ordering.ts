/**
 * The order score of a message in its queue's pending set: ZPOPMIN hands out the
 * lowest first. Scores must stay exact in a double (53 bits), so times count from
 * 2024-01-01, which leaves 40 bits (~34 years) for milliseconds.
 * Ties (same millisecond) fall back to the member, a UUIDv7, so to publish order.
 */
export const ORDER_EPOCH_MS = Date.UTC(2024, 0, 1);
const TIME_SPAN = 2 ** 40;
/** Messages without a deadline sort after every deadline in a DEADLINE queue. */
const NO_DEADLINE = 2 ** 50;

export type Ordering = "FIFO" | "PRIORITY" | "DEADLINE";
export type PriorityTier = "CRITICAL" | "HIGH" | "NORMAL" | "LOW" | "BACKGROUND";

export const TIER_RANK: Record<PriorityTier, number> = { CRITICAL: 0, HIGH: 1, NORMAL: 2, LOW: 3, BACKGROUND: 4 };
const MAX_SCORE = 1000;

export function orderScore(
  ordering: Ordering,
  m: { createdAt: Date; priorityTier: PriorityTier; priorityScore: number; deadline: Date | null },
): number {
  const t = Math.max(0, m.createdAt.getTime() - ORDER_EPOCH_MS);
  switch (ordering) {
    case "FIFO":
      return t;
    case "PRIORITY":
      // tier first, then higher score first, then publish time
      return (TIER_RANK[m.priorityTier] * (MAX_SCORE + 1) + (MAX_SCORE - m.priorityScore)) * TIME_SPAN + t;
    case "DEADLINE":
      return m.deadline ? Math.max(0, m.deadline.getTime() - ORDER_EPOCH_MS) : NO_DEADLINE + t;
  }
}

/** The queue's order as SQL over the messages table (`m.` for a query that names it `m`), for the claims made while Redis is down. */
export function sqlOrder(ordering: Ordering, table = ""): string {
  const c = (col: string) => `${table}${col}`;
  switch (ordering) {
    case "FIFO":
      return c("id");
    case "PRIORITY":
      return `FIELD(${c("priorityTier")}, 'CRITICAL', 'HIGH', 'NORMAL', 'LOW', 'BACKGROUND'), ${c("priorityScore")} DESC, ${c("id")}`;
    case "DEADLINE":
      return `${c("deadline")} IS NULL, ${c("deadline")}, ${c("id")}`;
  }
}
