/**
 * Org-scoped queries for model aliases (fallback chains, docs/providers.md#fallbacks).
 * Every statement filters by `org_id`. `targets` is stored as a JSON array of `provider-name/model`.
 */
import { and, asc, eq } from "drizzle-orm";
import type { Db } from "./client";
import { modelAliases } from "./schema";

export type ModelAliasRow = typeof modelAliases.$inferSelect;

/** Every alias of the org, by name (an org has few; no paging). */
export function listModelAliases(db: Db, orgId: string): Promise<ModelAliasRow[]> {
  return db.select().from(modelAliases).where(eq(modelAliases.orgId, orgId)).orderBy(asc(modelAliases.name));
}

/** The alias, or undefined when it does not exist in this org. */
export async function findModelAlias(db: Db, orgId: string, id: string): Promise<ModelAliasRow | undefined> {
  const rows = await db.select().from(modelAliases).where(and(eq(modelAliases.orgId, orgId), eq(modelAliases.id, id))).limit(1);
  return rows[0];
}

/** The alias with this name in the org, if any (names are unique per org). */
export async function findModelAliasByName(db: Db, orgId: string, name: string): Promise<ModelAliasRow | undefined> {
  const rows = await db.select().from(modelAliases).where(and(eq(modelAliases.orgId, orgId), eq(modelAliases.name, name))).limit(1);
  return rows[0];
}

/** Insert of an alias row. */
export function insertModelAliasStmt(db: Db, row: typeof modelAliases.$inferInsert) {
  return db.insert(modelAliases).values(row);
}

/** Update of an alias's name and/or targets. */
export function updateModelAliasStmt(db: Db, orgId: string, id: string, patch: Partial<Pick<ModelAliasRow, "name" | "targets">> & { updatedAt: number }) {
  return db.update(modelAliases).set(patch).where(and(eq(modelAliases.orgId, orgId), eq(modelAliases.id, id)));
}

/** Delete of one alias. */
export function deleteModelAliasStmt(db: Db, orgId: string, id: string) {
  return db.delete(modelAliases).where(and(eq(modelAliases.orgId, orgId), eq(modelAliases.id, id)));
}
