/**
 * Org-scoped queries for budgets and their events. Every statement filters on `org_id`.
 * Builders named `*Stmt` return un-awaited statements for the caller's `db.batch([...])`.
 */
import { and, count, desc, eq, inArray, isNull, lt, or } from "drizzle-orm";
import type { Db } from "./client";
import { apiKeys, budgets, memberships, orgs, teams, users } from "./schema";

export type BudgetRow = typeof budgets.$inferSelect;
export type NewBudgetRow = typeof budgets.$inferInsert;

/** Opaque list cursor: the last row's creation time and id. */
export function encodeBudgetCursor(row: { createdAt: number; id: string }): string {
  return btoa(`${row.createdAt}:${row.id}`).replace(/=+$/, "");
}

/** Parses a cursor; null when malformed (the route answers 400). */
export function decodeBudgetCursor(cursor: string): { createdAt: number; id: string } | null {
  try {
    const [t, id] = atob(cursor).split(":");
    const createdAt = Number(t);
    return Number.isSafeInteger(createdAt) && id ? { createdAt, id } : null;
  } catch {
    return null;
  }
}

/** One page of the org's budgets, newest first (`limit + 1` rows to detect a next page). */
export async function listBudgets(db: Db, orgId: string, page: { after: { createdAt: number; id: string } | null; limit: number }): Promise<BudgetRow[]> {
  const after = page.after
    ? or(lt(budgets.createdAt, page.after.createdAt), and(eq(budgets.createdAt, page.after.createdAt), lt(budgets.id, page.after.id)))
    : undefined;
  return db.select().from(budgets).where(and(eq(budgets.orgId, orgId), after)).orderBy(desc(budgets.createdAt), desc(budgets.id)).limit(page.limit + 1);
}

/** The budget, or undefined when it does not exist in this org. */
export async function findBudget(db: Db, orgId: string, budgetId: string): Promise<BudgetRow | undefined> {
  const rows = await db.select().from(budgets).where(and(eq(budgets.orgId, orgId), eq(budgets.id, budgetId))).limit(1);
  return rows[0];
}

/** Number of budgets in the org (plan limit). */
export async function countBudgets(db: Db, orgId: string): Promise<number> {
  const rows = await db.select({ n: count() }).from(budgets).where(eq(budgets.orgId, orgId));
  return rows[0]?.n ?? 0;
}

/** A budget with the same scope, target (scope id, and team for a default member budget) and period, if any (one per combination). */
export async function findBudgetBySlot(
  db: Db,
  orgId: string,
  slot: { scope: BudgetRow["scope"]; scopeId: string | null; teamId: string | null; period: BudgetRow["period"] },
) {
  const rows = await db
    .select({ id: budgets.id })
    .from(budgets)
    .where(and(
      eq(budgets.orgId, orgId), eq(budgets.scope, slot.scope), slot.scopeId === null ? isNull(budgets.scopeId) : eq(budgets.scopeId, slot.scopeId),
      slot.teamId === null ? isNull(budgets.teamId) : eq(budgets.teamId, slot.teamId), eq(budgets.period, slot.period),
    ))
    .limit(1);
  return rows[0];
}

/** True when a team with this id exists in the org. */
export async function teamExists(db: Db, orgId: string, teamId: string): Promise<boolean> {
  return (await db.select({ id: teams.id }).from(teams).where(and(eq(teams.orgId, orgId), eq(teams.id, teamId))).limit(1)).length > 0;
}

/** The creator of a virtual key of the org, or undefined when no such key exists. */
export async function keyCreator(db: Db, orgId: string, keyId: string): Promise<string | undefined> {
  return (await db.select({ createdBy: apiKeys.createdBy }).from(apiKeys).where(and(eq(apiKeys.orgId, orgId), eq(apiKeys.id, keyId))).limit(1))[0]?.createdBy;
}

/** True when the user is a member of the org. */
export async function isOrgMember(db: Db, orgId: string, userId: string): Promise<boolean> {
  return (await db.select({ u: memberships.userId }).from(memberships).where(and(eq(memberships.orgId, orgId), eq(memberships.userId, userId))).limit(1)).length > 0;
}

export function insertBudgetStmt(db: Db, row: NewBudgetRow & { orgId: string }) {
  return db.insert(budgets).values(row);
}

export function updateBudgetStmt(db: Db, orgId: string, budgetId: string, patch: Partial<Omit<NewBudgetRow, "id" | "orgId" | "scope" | "scopeId" | "teamId" | "createdByRole">>) {
  return db.update(budgets).set(patch).where(and(eq(budgets.orgId, orgId), eq(budgets.id, budgetId)));
}

export function deleteBudgetStmt(db: Db, orgId: string, budgetId: string) {
  return db.delete(budgets).where(and(eq(budgets.orgId, orgId), eq(budgets.id, budgetId)));
}

/** Emails of the org's owner and admins, plus the org's configured alert addresses (deduplicated). */
export async function listAlertRecipients(db: Db, orgId: string): Promise<string[]> {
  const [admins, org] = await db.batch([
    db.select({ email: users.email }).from(memberships).innerJoin(users, eq(users.id, memberships.userId))
      .where(and(eq(memberships.orgId, orgId), inArray(memberships.role, ["owner", "admin"]))),
    db.select({ settings: orgs.settings }).from(orgs).where(eq(orgs.id, orgId)),
  ]);
  const extra = org[0]?.settings?.alert_emails ?? [];
  return [...new Set([...admins.map((a) => a.email), ...extra])];
}
