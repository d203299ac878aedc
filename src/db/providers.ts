/**
 * Org-scoped queries for upstream provider connections. Every statement filters by `org_id`.
 * The sealed API key is read only by the gate; callers here present `api_key_hint`.
 */
import { and, count, desc, eq, lt, ne, or } from "drizzle-orm";
import type { PagePosition } from "../lib/page-cursor";
import type { Db } from "./client";
import { providers } from "./schema";

export type ProviderRow = typeof providers.$inferSelect;

/** One page of the org's providers, newest first (`limit + 1` rows). */
export async function listProviders(db: Db, orgId: string, page: { cursor?: PagePosition; limit: number }): Promise<ProviderRow[]> {
  const after = page.cursor
    ? or(lt(providers.createdAt, page.cursor.at), and(eq(providers.createdAt, page.cursor.at), lt(providers.id, page.cursor.id)))
    : undefined;
  return db
    .select()
    .from(providers)
    .where(and(eq(providers.orgId, orgId), after))
    .orderBy(desc(providers.createdAt), desc(providers.id))
    .limit(page.limit + 1);
}

/** The provider that becomes default when the default one is deleted: the oldest other one. */
export async function findSuccessorDefault(db: Db, orgId: string, deletedId: string): Promise<ProviderRow | undefined> {
  const rows = await db
    .select()
    .from(providers)
    .where(and(eq(providers.orgId, orgId), ne(providers.id, deletedId)))
    .orderBy(providers.createdAt, providers.id)
    .limit(1);
  return rows[0];
}

/** The provider, or undefined when it does not exist in this org. */
export async function findProvider(db: Db, orgId: string, id: string): Promise<ProviderRow | undefined> {
  const rows = await db.select().from(providers).where(and(eq(providers.orgId, orgId), eq(providers.id, id))).limit(1);
  return rows[0];
}

/** The provider with this name in the org, if any (names are unique per org). */
export async function findProviderByName(db: Db, orgId: string, name: string): Promise<ProviderRow | undefined> {
  const rows = await db.select().from(providers).where(and(eq(providers.orgId, orgId), eq(providers.name, name))).limit(1);
  return rows[0];
}

/** How many providers the org has (the first one becomes the default). */
export async function countProviders(db: Db, orgId: string): Promise<number> {
  const rows = await db.select({ n: count() }).from(providers).where(eq(providers.orgId, orgId));
  return rows[0]?.n ?? 0;
}

/** Insert of a provider row (API key already sealed). */
export function insertProviderStmt(db: Db, row: typeof providers.$inferInsert) {
  return db.insert(providers).values(row);
}

/** Update of a provider's editable fields. */
export function updateProviderStmt(
  db: Db,
  orgId: string,
  id: string,
  patch: Partial<Pick<ProviderRow, "name" | "baseUrl" | "apiKeySealed" | "apiKeyHint" | "isDefault">> & { updatedAt: number },
) {
  return db.update(providers).set(patch).where(and(eq(providers.orgId, orgId), eq(providers.id, id)));
}

/** Clears the default flag on every other provider of the org (run before making `exceptId` the default). */
export function clearOtherDefaultsStmt(db: Db, orgId: string, exceptId: string, at: number) {
  return db
    .update(providers)
    .set({ isDefault: false, updatedAt: at })
    .where(and(eq(providers.orgId, orgId), ne(providers.id, exceptId), eq(providers.isDefault, true)));
}

/** Delete of one provider. */
export function deleteProviderStmt(db: Db, orgId: string, id: string) {
  return db.delete(providers).where(and(eq(providers.orgId, orgId), eq(providers.id, id)));
}
