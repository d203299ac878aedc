/**
 * Org-scoped queries for guardrails (docs/guardrails.md). Every statement filters by `org_id`.
 */
import { and, asc, eq, sql } from "drizzle-orm";
import type { Db } from "./client";
import { guardrails } from "./schema";

export type GuardrailRow = typeof guardrails.$inferSelect;

/** Every guardrail of the org in evaluation order (position, then scope org → team → key, then id). */
export function listGuardrails(db: Db, orgId: string): Promise<GuardrailRow[]> {
  return db
    .select()
    .from(guardrails)
    .where(eq(guardrails.orgId, orgId))
    .orderBy(asc(guardrails.position), sql`CASE ${guardrails.scope} WHEN 'org' THEN 0 WHEN 'team' THEN 1 ELSE 2 END`, asc(guardrails.id));
}

/** The guardrail, or undefined when it does not exist in this org. */
export async function findGuardrail(db: Db, orgId: string, id: string): Promise<GuardrailRow | undefined> {
  const rows = await db.select().from(guardrails).where(and(eq(guardrails.orgId, orgId), eq(guardrails.id, id))).limit(1);
  return rows[0];
}

/** The error message by which a batch built with {@link insertGuardrailWithinLimitStmt} reports the plan limit. */
export const GUARDRAIL_LIMIT_VIOLATION = "NOT NULL constraint failed: guardrails.id";

/**
 * Insert of a guardrail that fails (NOT NULL on `id`, aborting the batch) when the org already has
 * `limit` guardrails: count and insert in one statement, so concurrent creations cannot overshoot.
 */
export function insertGuardrailWithinLimitStmt(db: Db, row: typeof guardrails.$inferInsert, limit: number | null) {
  if (limit === null) return db.insert(guardrails).values(row);
  const guardedId = sql<string>`CASE WHEN (SELECT COUNT(*) FROM guardrails WHERE org_id = ${row.orgId}) < ${limit} THEN ${row.id} ELSE NULL END`;
  return db.insert(guardrails).values({ ...row, id: guardedId });
}

/** Update of a guardrail's editable fields. */
export function updateGuardrailStmt(db: Db, orgId: string, id: string, patch: Partial<Omit<GuardrailRow, "id" | "orgId" | "createdBy" | "createdAt">> & { updatedAt: number }) {
  return db.update(guardrails).set(patch).where(and(eq(guardrails.orgId, orgId), eq(guardrails.id, id)));
}

/** Delete of one guardrail. */
export function deleteGuardrailStmt(db: Db, orgId: string, id: string) {
  return db.delete(guardrails).where(and(eq(guardrails.orgId, orgId), eq(guardrails.id, id)));
}

/** How many guardrails the org has, enabled or not (the plan limits the count). */
export async function countGuardrails(db: Db, orgId: string): Promise<number> {
  const rows = await db.select({ n: sql<number>`count(*)` }).from(guardrails).where(eq(guardrails.orgId, orgId));
  return rows[0]?.n ?? 0;
}
