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
  /**
   * Name of the Worker variable holding this plan's Stripe price id (per environment, in wrangler.toml),
   * or null for a plan not sold through Checkout (free; enterprise unless the variable is set).
   */
  stripePriceVar: "STRIPE_PRICE_PRO" | "STRIPE_PRICE_ENTERPRISE" | null;
  /** Order of plans: a higher rank is an upgrade. */
  rank: number;
  /**
   * Platform fee on credit top-ups, in basis points (250 = 2.5%): charged on top of the credit bought,
   * as its own line of the top-up's Checkout (docs/billing.md "Top-ups"). The credit granted is the amount bought.
   */
  topupFeeBps: number;
  /** Smallest and largest credit one top-up may buy, in whole US cents. */
  topupMinCents: number;
  topupMaxCents: number;
};

export const PLANS: Record<PlanId, Plan> = {
  free: {
    id: "free", name: "Free", priceUsdMonthly: 0, seats: 3, keys: 10, budgets: 3, webhooks: 2, prompts: 10, guardrails: 5,
    monthlySpendCapMicros: 5_000 * 1_000_000, orgRpm: 600, orgTpm: 1_000_000, retentionDays: 30, bulkInvite: false,
    stripePriceVar: null, rank: 0, topupFeeBps: 500, topupMinCents: 500, topupMaxCents: 1_000_000,
  },
  pro: {
    id: "pro", name: "Pro", priceUsdMonthly: 49, seats: null, keys: null, budgets: null, webhooks: 25, prompts: 500, guardrails: 50,
    monthlySpendCapMicros: 50_000 * 1_000_000, orgRpm: 6_000, orgTpm: 10_000_000, retentionDays: 90, bulkInvite: true,
    stripePriceVar: "STRIPE_PRICE_PRO", rank: 1, topupFeeBps: 250, topupMinCents: 500, topupMaxCents: 1_000_000,
  },
  enterprise: {
    id: "enterprise", name: "Enterprise", priceUsdMonthly: null, seats: null, keys: null, budgets: null, webhooks: null, prompts: null, guardrails: null,
    monthlySpendCapMicros: null, orgRpm: null, orgTpm: null, retentionDays: null, bulkInvite: true,
    stripePriceVar: "STRIPE_PRICE_ENTERPRISE", rank: 2, topupFeeBps: 0, topupMinCents: 500, topupMaxCents: 10_000_000,
  },
};

/** The plan of an org (unknown ids fall back to free, the most restrictive). */
export function planOf(planId: string): Plan {
  return PLANS[planId as PlanId] ?? PLANS.free;
}

/** The Stripe price id of a plan in this environment, or null when it is not sold through Checkout here. */
export function stripePriceOf(plan: Plan, vars: Partial<Record<NonNullable<Plan["stripePriceVar"]>, string | undefined>>): string | null {
  return plan.stripePriceVar ? (vars[plan.stripePriceVar] ?? null) : null;
}

/** The plan a Stripe price id pays for in this environment, or null for an unknown price. */
export function planOfPrice(priceId: string, vars: Partial<Record<NonNullable<Plan["stripePriceVar"]>, string | undefined>>): Plan | null {
  return Object.values(PLANS).find((p) => stripePriceOf(p, vars) === priceId) ?? null;
}

/** The platform fee in cents on a top-up of `creditCents` (rounded half up to the cent). */
export function topupFeeCents(plan: Plan, creditCents: number): number {
  return Math.floor((creditCents * plan.topupFeeBps + 5_000) / 10_000);
}

/** Resources a plan counts. */
export type PlanLimitName = "seats" | "keys" | "budgets" | "webhooks" | "guardrails" | "prompts";

/** The cheapest plan above `current` whose limit on `name` exceeds `used`, or null when none does. */
export function planThatLifts(current: Plan, name: PlanLimitName, used: number): Plan | null {
  return Object.values(PLANS).filter((p) => p.rank > current.rank).sort((a, b) => a.rank - b.rank).find((p) => p[name] === null || p[name] > used) ?? null;
}
