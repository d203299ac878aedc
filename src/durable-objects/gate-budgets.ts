/**
 * Budget periods and scope resolution for the OrgGate: which budgets apply to a request, and which
 * spend counter (budget instance × period) each one charges.
 */
import { planOf } from "../plans";
import type { GateOrg } from "./gate-hot-copy";
import type { Attribution, BudgetScope } from "./gate-protocol";

export type Period = "daily" | "weekly" | "monthly" | "total";

const DAY = 86_400_000;

/** A budget as the gate holds it (hot copy of a D1 `budgets` row). */
export type GateBudget = {
  id: string;
  scope: BudgetScope;
  scopeId: string | null;
  limitMicros: number | null;
  period: Period;
  mode: "hard" | "soft";
  rpm: number | null;
  tpm: number | null;
  thresholds: number[];
  velocity: { limitMicros: number; windowSeconds: number; cooldownSeconds: number } | null;
  label: string;
};

/** Synthetic budget id of the plan's monthly spend cap. */
export const PLAN_CAP_ID = "$plan";

/** One budget applied to one request: the budget and the instance it charges. */
export type AppliedBudget = {
  budget: GateBudget;
  /** Customer id for the default customer budget (one instance per customer), else ''. */
  subject: string;
  periodStart: number;
  resetsAt: number | null;
};

/**
 * Start and end (exclusive) of the period containing `now`. Weekly periods start Monday 00:00 UTC.
 * Monthly periods are calendar months (UTC), or, when the org has a billing anchor, run from the
 * anchor's day-of-month and time (clamped to short months: an anchor on the 31st starts Feb 28/29).
 * Total has no end.
 */
export function periodBounds(period: Period, now: number, billingAnchor: number | null): { start: number; end: number | null } {
  switch (period) {
    case "daily": {
      const start = Math.floor(now / DAY) * DAY;
      return { start, end: start + DAY };
    }
    case "weekly": {
      const day = Math.floor(now / DAY) * DAY;
      const sinceMonday = (new Date(day).getUTCDay() + 6) % 7;
      const start = day - sinceMonday * DAY;
      return { start, end: start + 7 * DAY };
    }
    case "monthly":
      return monthBounds(now, billingAnchor);
    case "total":
      return { start: 0, end: null };
  }
}

function monthBounds(now: number, anchor: number | null): { start: number; end: number } {
  const d = new Date(now);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  if (anchor === null) return { start: Date.UTC(y, m, 1), end: Date.UTC(y, m + 1, 1) };
  const a = new Date(anchor);
  const day = a.getUTCDate();
  const timeOfDay = anchor - Date.UTC(a.getUTCFullYear(), a.getUTCMonth(), day);
  const at = (month: number) => {
    const first = new Date(Date.UTC(y, month, 1));
    const dim = new Date(Date.UTC(first.getUTCFullYear(), first.getUTCMonth() + 1, 0)).getUTCDate();
    return Date.UTC(first.getUTCFullYear(), first.getUTCMonth(), Math.min(day, dim)) + timeOfDay;
  };
  let k = m;
  if (at(k) > now) k--;
  return { start: at(k), end: at(k + 1) };
}

/** ISO string of a period end, or null for total budgets. */
export function isoOrNull(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/** What a request is attributed to, as far as budgets are concerned. */
export type BudgetSubject = { keyId: string; teamId: string | null; attribution: Pick<Attribution, "customerId" | "tags"> };

/**
 * The budgets that apply to a request, in the order denials are reported: org, team, key, customer,
 * tag. A customer with a budget of its own uses it; any other customer gets the default customer
 * budget (scope `customer`, no scope id), one instance per customer id.
 */
export function applicableBudgets(all: GateBudget[], s: BudgetSubject, now: number, billingAnchor: number | null): AppliedBudget[] {
  const out: AppliedBudget[] = [];
  const push = (budget: GateBudget, subject: string) => {
    const { start, end } = periodBounds(budget.period, now, billingAnchor);
    out.push({ budget, subject, periodStart: start, resetsAt: end });
  };
  for (const b of all) if (b.scope === "org") push(b, "");
  if (s.teamId) for (const b of all) if (b.scope === "team" && b.scopeId === s.teamId) push(b, "");
  for (const b of all) if (b.scope === "key" && b.scopeId === s.keyId) push(b, "");
  const customerId = s.attribution.customerId;
  if (customerId) {
    const own = all.filter((b) => b.scope === "customer" && b.scopeId === customerId);
    if (own.length) for (const b of own) push(b, "");
    else for (const b of all) if (b.scope === "customer" && b.scopeId === null) push(b, customerId);
  }
  const tags = s.attribution.tags ?? {};
  const tagIds = new Set(Object.entries(tags).map(([k, v]) => `${k}=${v}`));
  if (tagIds.size) for (const b of all) if (b.scope === "tag" && b.scopeId !== null && tagIds.has(b.scopeId)) push(b, "");
  return out;
}

/** Human label of one budget instance for messages, e.g. "team 'search'" or "customer 'c_1' (default budget)". */
export function labelOf(applied: AppliedBudget): string {
  if (applied.subject) return `customer '${applied.subject}' (default customer budget)`;
  return applied.budget.label;
}

/** The synthetic budget standing for the plan's monthly spend cap. */
export function planCapBudget(org: GateOrg): GateBudget | null {
  const plan = planOf(org.plan);
  if (plan.monthlySpendCapMicros === null) return null;
  return {
    id: PLAN_CAP_ID, scope: "org", scopeId: null, limitMicros: plan.monthlySpendCapMicros, period: "monthly", mode: "hard",
    rpm: null, tpm: null, thresholds: [], velocity: null, label: `the ${plan.name} plan's monthly spend cap`,
  };
}

/** Every budget instance a request charges: its budgets, then the plan cap. */
export function appliedWithPlan(budgets: GateBudget[], org: GateOrg, s: BudgetSubject, at: number): AppliedBudget[] {
  const applied = applicableBudgets(budgets, s, at, org.billingAnchor);
  const cap = planCapBudget(org);
  if (cap) {
    const { start, end } = periodBounds("monthly", at, org.billingAnchor);
    applied.push({ budget: cap, subject: "", periodStart: start, resetsAt: end });
  }
  return applied;
}

