/** Per-item codes of settle-2.lua. The only place that knows their numbers. */
export const SettleCode = {
  settled: 1,
  noLiveClaim: 0,
  otherClaim: -1,
} as const;

export type SettleOutcome = "settled" | "noLiveClaim" | "otherClaim";

export function settleOutcome(code: number): SettleOutcome {
  switch (code) {
    case SettleCode.settled:
      return "settled";
    case SettleCode.noLiveClaim:
      return "noLiveClaim";
    case SettleCode.otherClaim:
      return "otherClaim";
    default:
      throw new Error(`settle-2.lua returned unknown code ${code}`);
  }
}
