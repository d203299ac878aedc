/**
 * Plans are data (docs/budgets.md): operators change limits here. `null` means unlimited.
 * Money is integer micro-dollars.
 */
export type PlanId = "free" | "pro" | "enterprise";

export type Plan = {
  id: PlanId;
  name: string;
  priceUsdMonthly: number | null;
  seats: number | null;
  keys: number | null;
  budgets: number | null;
  webhooks: number | null;
  /** Prompt templates (docs/prompts.md). */
  prompts: number | null;
  /** Guardrails (docs/guardrails.md). */
  guardrails: number | null;
  monthlySpendCapMicros: number | null;
  orgRpm: number | null;
  orgTpm: number | null;
  retentionDays: number | null;
  bulkInvite: boolean;
};

export const PLANS: Record<PlanId, Plan> = {
  free: {
    id: "free", name: "Free", priceUsdMonthly: 0, seats: 3, keys: 10, budgets: 3, webhooks: 2, prompts: 10, guardrails: 5,
    monthlySpendCapMicros: 5_000 * 1_000_000, orgRpm: 600, orgTpm: 1_000_000, retentionDays: 30, bulkInvite: false,
  },
  pro: {
    id: "pro", name: "Pro", priceUsdMonthly: 49, seats: null, keys: null, budgets: null, webhooks: 25, prompts: 500, guardrails: 50,
    monthlySpendCapMicros: 50_000 * 1_000_000, orgRpm: 6_000, orgTpm: 10_000_000, retentionDays: 90, bulkInvite: true,
  },
  enterprise: {
    id: "enterprise", name: "Enterprise", priceUsdMonthly: null, seats: null, keys: null, budgets: null, webhooks: null, prompts: null, guardrails: null,
    monthlySpendCapMicros: null, orgRpm: null, orgTpm: null, retentionDays: null, bulkInvite: true,
  },
};

/** The plan of an org (unknown ids fall back to free, the most restrictive). */
export function planOf(planId: string): Plan {
  return PLANS[planId as PlanId] ?? PLANS.free;
}
