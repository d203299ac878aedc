/**
 * Seeding spend counters of budgets the gate has not counted yet (a budget created or re-periodised
 * mid-period, or the whole hot copy after a cold load): the current period's spend is read from D1
 * `cost_events` plus the events still waiting in the outbox, so a monthly budget created on the
 * 20th already knows the month's spend for its scope.
 */
import { PLAN_CAP_ID, periodBounds, type BudgetIndex, type GateBudget } from "./gate-budgets";
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

/** The creator of a cost event's key, from D1 (cost events carry the key, not the user). */
const CREATOR_SQL = "(SELECT k.created_by FROM api_keys k WHERE k.id = cost_events.key_id AND k.org_id = cost_events.org_id)";

function splitTag(scopeId: string): [string, string] {
  const i = scopeId.indexOf("=");
  return [scopeId.slice(0, i), scopeId.slice(i + 1)];
}

/** Reads each target's current-period spend from D1, one statement per target, one batch. */
export async function fetchSeedSpend(db: D1Database, orgId: string, targets: SeedTarget[]): Promise<SeedSpend[]> {
  if (!targets.length) return [];
  const stmts = targets.map(({ budget: b, periodStart }) => {
    const subject = isDefaultCustomer(b) ? "customer_id" : isDefaultMember(b) ? CREATOR_SQL : "''";
    let filter = "";
    const binds: unknown[] = [orgId, periodStart];
    if (b.id === PLAN_CAP_ID || b.scope === "org") filter = "";
    else if (b.scope === "team") (filter = "AND team_id = ?"), binds.push(b.scopeId);
    else if (b.scope === "key") (filter = "AND key_id = ?"), binds.push(b.scopeId);
    else if (b.scope === "customer") filter = b.scopeId === null ? "AND customer_id IS NOT NULL" : ((binds.push(b.scopeId), "AND customer_id = ?"));
    else if (b.scope === "member") {
      if (b.scopeId === null) (filter = "AND team_id = ?"), binds.push(b.teamId);
      else (filter = `AND ${CREATOR_SQL} = ?`), binds.push(b.scopeId);
    } else if (b.scope === "tag") (filter = "AND EXISTS (SELECT 1 FROM json_each(cost_events.tags) je WHERE je.key = ? AND je.value = ?)"), binds.push(...splitTag(b.scopeId ?? "="));
    return db
      .prepare(`SELECT ${subject} AS subject, COALESCE(SUM(cost_micros), 0) AS spent FROM cost_events WHERE org_id = ? AND created_at >= ? ${filter} GROUP BY 1`)
      .bind(...binds);
  });
  const results = await db.batch<{ subject: string | null; spent: number }>(stmts);
  return results.map((r) => new Map((r.results ?? []).map((x) => [x.subject ?? "", Number(x.spent)])));
}

function matches(b: GateBudget, e: CostEventRow, creatorOf: (keyId: string) => string | null): string | null {
  if (b.id === PLAN_CAP_ID || b.scope === "org") return "";
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
 * Writes the seeded counters (inside `transactionSync`): D1 spend plus the outbox events not yet in
 * D1. Existing counters keep the larger value, so seeding never lowers what the gate already counted.
 * Customers with a budget of their own are not seeded into the default customer budget, nor members
 * with an admin-set member budget into a team's default member budget.
 */
export function applySeed(sql: SqlStorage, index: BudgetIndex, targets: SeedTarget[], fromD1: SeedSpend[]): void {
  const outbox = sql.exec<{ row: string }>("SELECT row FROM outbox_cost").toArray().map((r) => JSON.parse(r.row) as CostEventRow);
  const creatorOf = (keyId: string) => sql.exec<{ created_by: string }>("SELECT created_by FROM keys WHERE id = ?", keyId).toArray()[0]?.created_by ?? null;
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
      sql.exec(
        `INSERT INTO counters (budget_id, subject, period_start, spent, reserved) VALUES (?, ?, ?, ?, 0)
         ON CONFLICT (budget_id, subject, period_start) DO UPDATE SET spent = MAX(spent, excluded.spent)`,
        t.budget.id, subject, t.periodStart, spent,
      );
    }
  });
}
