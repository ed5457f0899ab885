import { builder } from "./builder.js";

export const Ordering = builder.enumType("Ordering", { values: ["FIFO", "PRIORITY", "DEADLINE"] as const });
export const ConsumerMode = builder.enumType("ConsumerMode", { values: ["COMPETING", "BROADCAST"] as const });
export const LifecycleState = builder.enumType("LifecycleState", {
  values: ["ACTIVE", "PAUSED", "DRAINING", "ARCHIVED"] as const,
});
export const OverflowPolicy = builder.enumType("OverflowPolicy", {
  values: ["REJECT", "DROP_OLDEST", "DEAD_LETTER"] as const,
});
export const PriorityTier = builder.enumType("PriorityTier", {
  values: ["CRITICAL", "HIGH", "NORMAL", "LOW", "BACKGROUND"] as const,
});
export const MessageState = builder.enumType("MessageState", {
  values: ["PENDING", "CLAIMED", "COMPLETED", "DEAD_LETTERED", "EXPIRED", "ARCHIVED"] as const,
});
