/**
 * Org-scoped queries for price overrides (micro-dollars per million tokens).
 */
import { and, asc, eq } from "drizzle-orm";
import type { Db } from "./client";
import { pricingOverrides } from "./schema";

export type PriceOverrideRow = typeof pricingOverrides.$inferSelect;

/** Every override of the org, by model name. */
export async function listPriceOverrides(db: Db, orgId: string): Promise<PriceOverrideRow[]> {
  return db.select().from(pricingOverrides).where(eq(pricingOverrides.orgId, orgId)).orderBy(asc(pricingOverrides.model));
}

/** The override for one model, if any. */
export async function findPriceOverride(db: Db, orgId: string, model: string): Promise<PriceOverrideRow | undefined> {
  const rows = await db.select().from(pricingOverrides).where(and(eq(pricingOverrides.orgId, orgId), eq(pricingOverrides.model, model))).limit(1);
  return rows[0];
}

/** Insert-or-replace of one override. */
export function upsertPriceOverrideStmt(db: Db, row: PriceOverrideRow) {
  const { orgId: _o, model: _m, ...set } = row;
  return db.insert(pricingOverrides).values(row).onConflictDoUpdate({ target: [pricingOverrides.orgId, pricingOverrides.model], set });
}

export function deletePriceOverrideStmt(db: Db, orgId: string, model: string) {
  return db.delete(pricingOverrides).where(and(eq(pricingOverrides.orgId, orgId), eq(pricingOverrides.model, model)));
}
