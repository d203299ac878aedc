/**
 * Budget periods and scope resolution for the OrgGate: which budgets apply to a request, and which
 * spend counter (budget instance × period) each one charges.
 */
import { planOf } from "../plans";
import type { GateOrg } from "./gate-hot-copy";
import type { Attribution, BudgetScope, Period } from "./gate-protocol";

export type { Period };

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
  /** A team's default member budget (scope `member`, no scope id): that team's id; else null. */
  teamId: string | null;
  /** Created by an admin or owner. Only such member budgets displace a team's default member budget. */
  adminSet: boolean;
};

/** Synthetic budget id of the plan's monthly spend cap. */
export const PLAN_CAP_ID = "$plan";

/** Synthetic budget id of the prepaid credit balance (scope `credits`, period `total`). */
export const CREDITS_ID = "$credits";

/** One budget applied to one request: the budget and the instance it charges. */
export type AppliedBudget = {
  budget: GateBudget;
  /**
   * Customer id for the default customer budget, user id for a team's default member budget (one
   * instance per customer / member), else ''.
   */
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
export type BudgetSubject = {
  keyId: string;
  teamId: string | null;
  /** The key's creator (member budgets); null when the key is unknown to the hot copy. */
  userId: string | null;
  attribution: Pick<Attribution, "customerId" | "tags">;
};

/** Budgets indexed by what they apply to, so an admission looks at its own budgets only. */
export type BudgetIndex = {
  all: GateBudget[];
  byId: Map<string, GateBudget>;
  org: GateBudget[];
  team: Map<string, GateBudget[]>;
  key: Map<string, GateBudget[]>;
  customer: Map<string, GateBudget[]>;
  customerDefault: GateBudget[];
  tag: Map<string, GateBudget[]>;
  /** Member budgets by user id. */
  member: Map<string, GateBudget[]>;
  /** Default member budgets by team id. */
  memberDefault: Map<string, GateBudget[]>;
};

/** Builds the index (once per load/refresh of the hot copy). */
export function indexBudgets(all: GateBudget[]): BudgetIndex {
  const idx: BudgetIndex = {
    all, byId: new Map(), org: [], team: new Map(), key: new Map(), customer: new Map(), customerDefault: [], tag: new Map(), member: new Map(), memberDefault: new Map(),
  };
  const add = (m: Map<string, GateBudget[]>, k: string, b: GateBudget) => m.set(k, [...(m.get(k) ?? []), b]);
  for (const b of all) {
    idx.byId.set(b.id, b);
    if (b.scope === "org") idx.org.push(b);
    else if (b.scopeId === null) {
      if (b.scope === "customer") idx.customerDefault.push(b);
      else if (b.scope === "member" && b.teamId) add(idx.memberDefault, b.teamId, b);
    } else if (b.scope !== "credits") add(idx[b.scope], b.scopeId, b);
  }
  return idx;
}

/**
 * The budgets that apply to a request, in the order denials are reported: org, team, member, key,
 * customer, tag. A customer with a budget of its own uses it; any other customer gets the default
 * customer budget (scope `customer`, no scope id), one instance per customer id. Member budgets apply
 * to every key the user created, team or not; a key of a team also gets the team's default member
 * budget (one instance per member) unless an admin set a member budget for that user.
 */
export function applicableBudgets(idx: BudgetIndex, s: BudgetSubject, now: number, billingAnchor: number | null): AppliedBudget[] {
  const out: AppliedBudget[] = [];
  const push = (budget: GateBudget, subject: string) => {
    const { start, end } = periodBounds(budget.period, now, billingAnchor);
    out.push({ budget, subject, periodStart: start, resetsAt: end });
  };
  for (const b of idx.org) push(b, "");
  if (s.teamId) for (const b of idx.team.get(s.teamId) ?? []) push(b, "");
  if (s.userId) {
    const own = idx.member.get(s.userId) ?? [];
    for (const b of own) push(b, "");
    // A member's self-imposed cap adds to the team default; only an admin's budget replaces it.
    if (s.teamId && !own.some((b) => b.adminSet)) for (const b of idx.memberDefault.get(s.teamId) ?? []) push(b, s.userId);
  }
  for (const b of idx.key.get(s.keyId) ?? []) push(b, "");
  const customerId = s.attribution.customerId;
  if (customerId) {
    const own = idx.customer.get(customerId);
    if (own?.length) for (const b of own) push(b, "");
    else for (const b of idx.customerDefault) push(b, customerId);
  }
  const seen = new Set<string>();
  for (const [k, v] of Object.entries(s.attribution.tags ?? {})) {
    const id = `${k}=${v}`;
    if (seen.has(id)) continue;
    seen.add(id);
    for (const b of idx.tag.get(id) ?? []) push(b, "");
  }
  return out;
}

/** Human label of one budget instance for messages, e.g. "team 'search'" or "customer 'c_1' (default budget)". */
export function labelOf(applied: AppliedBudget): string {
  if (applied.subject && applied.budget.scope === "member") return `member '${applied.subject}' (${applied.budget.label})`;
  if (applied.subject) return `customer '${applied.subject}' (default customer budget)`;
  return applied.budget.label;
}

/** The synthetic budget standing for the plan's monthly spend cap. */
export function planCapBudget(org: GateOrg): GateBudget | null {
  const plan = planOf(org.plan);
  if (plan.monthlySpendCapMicros === null) return null;
  return {
    id: PLAN_CAP_ID, scope: "org", scopeId: null, limitMicros: plan.monthlySpendCapMicros, period: "monthly", mode: "hard",
    rpm: null, tpm: null, thresholds: [], velocity: null, label: `the ${plan.name} plan's monthly spend cap`, teamId: null, adminSet: true,
  };
}

/**
 * The synthetic budget standing for the prepaid balance when credits are on: a hard org-wide `total`
 * budget whose limit is Σ grants and whose spend is the org's spend, so balance = limit − spent, reserved
 * and settled exactly like any budget (docs/billing.md#prepaid-credits).
 */
export function creditsBudget(org: GateOrg): GateBudget | null {
  if (org.creditsMicros === null) return null;
  return {
    id: CREDITS_ID, scope: "credits", scopeId: null, limitMicros: org.creditsMicros, period: "total", mode: "hard",
    rpm: null, tpm: null, thresholds: [], velocity: null, label: "the prepaid credit balance", teamId: null, adminSet: true,
  };
}

/** Every budget instance a request charges: its budgets, then the plan cap, then the prepaid balance. */
export function appliedWithPlan(budgets: BudgetIndex, org: GateOrg, s: BudgetSubject, at: number): AppliedBudget[] {
  const applied = applicableBudgets(budgets, s, at, org.billingAnchor);
  const cap = planCapBudget(org);
  if (cap) {
    const { start, end } = periodBounds("monthly", at, org.billingAnchor);
    applied.push({ budget: cap, subject: "", periodStart: start, resetsAt: end });
  }
  const credits = creditsBudget(org);
  if (credits) applied.push({ budget: credits, subject: "", periodStart: 0, resetsAt: null });
  return applied;
}

