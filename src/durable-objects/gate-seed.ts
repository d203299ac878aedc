/**
 * Seeding spend counters of budgets the gate has not counted yet (a budget created or re-periodised
 * mid-period, or the whole hot copy after a cold load): the current period's spend is read from D1
 * `cost_events` plus the events still waiting in the outbox, so a monthly budget created on the
 * 20th already knows the month's spend for its scope.
 */
import { PLAN_CAP_ID, periodBounds, type BudgetIndex, type GateBudget } from "./gate-budgets";
import type { SeedQuery } from "../db/gate-source";
import type { SeedCounter } from "./gate-ledger";
import type { CostEventRow } from "./gate-outbox";

/** One budget to seed, with the start of its current period. */
export type SeedTarget = { budget: GateBudget; periodStart: number };

/** Spend per instance subject ('', a customer id for the default customer budget, a user id for a team's default member budget). */
export type SeedSpend = Map<string, number>;

/** The budgets whose counters need seeding: new ids, or a changed period/scope. */
export function seedTargets(before: BudgetIndex | null, after: GateBudget[], now: number, billingAnchor: number | null): SeedTarget[] {
  return after
    .filter((b) => {
      const old = before?.byId.get(b.id);
      return !old || old.period !== b.period || old.scope !== b.scope || old.scopeId !== b.scopeId;
    })
    .map((budget) => ({ budget, periodStart: periodBounds(budget.period, now, billingAnchor).start }));
}

function isDefaultCustomer(b: GateBudget): boolean {
  return b.scope === "customer" && b.scopeId === null;
}

function isDefaultMember(b: GateBudget): boolean {
  return b.scope === "member" && b.scopeId === null;
}

function splitTag(scopeId: string): [string, string] {
  const i = scopeId.indexOf("=");
  return [scopeId.slice(0, i), scopeId.slice(i + 1)];
}

/** What D1 must sum for each target (its current period's cost events, split per instance). */
export function seedQueries(targets: SeedTarget[]): SeedQuery[] {
  return targets.map(({ budget: b, periodStart }): SeedQuery => {
    const per = isDefaultCustomer(b) ? "customer" : isDefaultMember(b) ? "creator" : "none";
    if (b.id === PLAN_CAP_ID || b.scope === "org" || b.scope === "credits") return { periodStart, per, filter: { by: "all" } };
    if (b.scope === "team" || b.scope === "key") return { periodStart, per, filter: { by: b.scope, id: b.scopeId } };
    if (b.scope === "customer") return { periodStart, per, filter: { by: "customer", id: b.scopeId } };
    if (b.scope === "member") return { periodStart, per, filter: b.scopeId === null ? { by: "team", id: b.teamId } : { by: "creator", userId: b.scopeId } };
    const [name, value] = splitTag(b.scopeId ?? "=");
    return { periodStart, per, filter: { by: "tag", name, value } };
  });
}

function matches(b: GateBudget, e: CostEventRow, creatorOf: (keyId: string) => string | null): string | null {
  if (b.id === PLAN_CAP_ID || b.scope === "org" || b.scope === "credits") return "";
  if (b.scope === "member") {
    const user = creatorOf(e.key_id);
    if (b.scopeId !== null) return user === b.scopeId ? "" : null;
    return e.team_id === b.teamId ? user : null;
  }
  if (b.scope === "team") return e.team_id === b.scopeId ? "" : null;
  if (b.scope === "key") return e.key_id === b.scopeId ? "" : null;
  if (b.scope === "customer") {
    if (b.scopeId === null) return e.customer_id ?? null;
    return e.customer_id === b.scopeId ? "" : null;
  }
  const [k, v] = splitTag(b.scopeId ?? "=");
  const tags = JSON.parse(e.tags || "{}") as Record<string, string>;
  return tags[k] === v ? "" : null;
}

/**
 * The seeded counters: D1 spend plus the outbox events not yet in D1 (the ledger keeps the larger of
 * this and what it already counted). Customers with a budget of their own are not seeded into the
 * default customer budget, nor members with an admin-set member budget into a team's default member budget.
 */
export function seedCounters(sql: SqlStorage, index: BudgetIndex, targets: SeedTarget[], fromD1: SeedSpend[]): SeedCounter[] {
  const outbox = sql.exec<{ row: string }>("SELECT row FROM outbox_cost").toArray().map((r) => JSON.parse(r.row) as CostEventRow);
  const creatorOf = (keyId: string) => sql.exec<{ created_by: string }>("SELECT created_by FROM keys WHERE id = ?", keyId).toArray()[0]?.created_by ?? null;
  const out: SeedCounter[] = [];
  targets.forEach((t, i) => {
    const spend = new Map(fromD1[i] ?? []);
    for (const e of outbox) {
      if (e.created_at < t.periodStart) continue;
      const subject = matches(t.budget, e, creatorOf);
      if (subject !== null) spend.set(subject, (spend.get(subject) ?? 0) + e.cost_micros);
    }
    for (const [subject, spent] of spend) {
      if (spent <= 0) continue;
      if (isDefaultCustomer(t.budget) && index.customer.has(subject)) continue;
      if (isDefaultMember(t.budget) && index.member.get(subject)?.some((b) => b.adminSet)) continue;
      out.push({ budgetId: t.budget.id, subject, periodStart: t.periodStart, spent });
    }
  });
  return out;
}
