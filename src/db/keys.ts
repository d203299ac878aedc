/**
 * Org-scoped queries for virtual keys (and the key-scoped budget created with a key).
 * Every statement filters by `org_id`. `*Stmt` builders return statements for `db.batch([...])`.
 */
import { and, count, desc, eq, isNull, lt, or, sql } from "drizzle-orm";
import type { GateKey } from "../durable-objects/org-gate";
import type { PagePosition } from "../lib/page-cursor";
import type { Db } from "./client";
import { apiKeys, budgets } from "./schema";

export type KeyRow = typeof apiKeys.$inferSelect;
export type BudgetRow = typeof budgets.$inferSelect;

/** One page of the org's keys, newest first (`limit + 1` rows). Optional filters: team, creator, revoked. */
export async function listKeys(
  db: Db,
  orgId: string,
  page: { cursor?: PagePosition; limit: number; teamId?: string; createdBy?: string; includeRevoked: boolean },
): Promise<KeyRow[]> {
  const after = page.cursor
    ? or(lt(apiKeys.createdAt, page.cursor.at), and(eq(apiKeys.createdAt, page.cursor.at), lt(apiKeys.id, page.cursor.id)))
    : undefined;
  return db
    .select()
    .from(apiKeys)
    .where(
      and(
        eq(apiKeys.orgId, orgId),
        after,
        page.teamId ? eq(apiKeys.teamId, page.teamId) : undefined,
        page.createdBy ? eq(apiKeys.createdBy, page.createdBy) : undefined,
        page.includeRevoked ? undefined : isNull(apiKeys.revokedAt),
      ),
    )
    .orderBy(desc(apiKeys.createdAt), desc(apiKeys.id))
    .limit(page.limit + 1);
}

/** The key, or undefined when it does not exist in this org. */
export async function findKey(db: Db, orgId: string, keyId: string): Promise<KeyRow | undefined> {
  const rows = await db.select().from(apiKeys).where(and(eq(apiKeys.orgId, orgId), eq(apiKeys.id, keyId))).limit(1);
  return rows[0];
}

/** Keys that count against the plan's key limit: every key not revoked. */
export async function countActiveKeys(db: Db, orgId: string): Promise<number> {
  const rows = await db.select({ n: count() }).from(apiKeys).where(and(eq(apiKeys.orgId, orgId), isNull(apiKeys.revokedAt)));
  return rows[0]?.n ?? 0;
}

/** Key-scoped budgets of a key (usually zero or one). */
export async function listKeyBudgets(db: Db, orgId: string, keyId: string): Promise<BudgetRow[]> {
  return db.select().from(budgets).where(and(eq(budgets.orgId, orgId), eq(budgets.scope, "key"), eq(budgets.scopeId, keyId)));
}

/** Insert of a new key row (hash and hint only, never the key). */
export function insertKeyStmt(db: Db, row: typeof apiKeys.$inferInsert) {
  return db.insert(apiKeys).values(row);
}

/** The error message by which a batch built with {@link insertKeyWithinLimitStmt} reports the limit. */
export const KEY_LIMIT_VIOLATION = "NOT NULL constraint failed: api_keys.id";

/**
 * Insert of a new key that fails (NOT NULL on `id`, aborting the whole batch) when the org already has
 * `limit` non-revoked keys. The count and the insert are one statement, so concurrent creations cannot
 * overshoot the plan's limit the way a separate check-then-insert could.
 */
export function insertKeyWithinLimitStmt(db: Db, row: typeof apiKeys.$inferInsert & { orgId: string }, limit: number | null) {
  if (limit === null) return insertKeyStmt(db, row);
  const guardedId = sql<string>`CASE WHEN (SELECT COUNT(*) FROM api_keys WHERE org_id = ${row.orgId} AND revoked_at IS NULL) < ${limit} THEN ${row.id} ELSE NULL END`;
  return db.insert(apiKeys).values({ ...row, id: guardedId });
}

/** Insert of the key-scoped budget created together with a key. */
export function insertKeyBudgetStmt(db: Db, row: typeof budgets.$inferInsert & { scope: "key" }) {
  return db.insert(budgets).values(row);
}

/** Update of a key's editable metadata. */
export function updateKeyStmt(
  db: Db,
  orgId: string,
  keyId: string,
  patch: Partial<Pick<KeyRow, "name" | "teamId" | "allowedModels" | "expiresAt" | "rpm" | "tpm" | "byok">> & { updatedAt: number },
) {
  return db.update(apiKeys).set(patch).where(and(eq(apiKeys.orgId, orgId), eq(apiKeys.id, keyId)));
}

/** Revokes the key if it is not revoked yet (a concurrent revoke keeps the first timestamp). */
export function revokeKeyStmt(db: Db, orgId: string, keyId: string, by: string, at: number) {
  return db
    .update(apiKeys)
    .set({ revokedAt: at, revokedBy: by, updatedAt: at })
    .where(and(eq(apiKeys.orgId, orgId), eq(apiKeys.id, keyId), isNull(apiKeys.revokedAt)));
}

/** The hot copy of a key row, as the org's gate holds it. */
export function toGateKey(row: KeyRow): GateKey {
  return {
    id: row.id, keyHash: row.keyHash, teamId: row.teamId, createdBy: row.createdBy, allowedModels: row.allowedModels ?? null,
    rpm: row.rpm, tpm: row.tpm, expiresAt: row.expiresAt, revokedAt: row.revokedAt, byok: row.byok,
  };
}

/** All budgets of the org (every scope): what the plan's budget limit counts. */
export async function countBudgets(db: Db, orgId: string): Promise<number> {
  const rows = await db.select({ n: count() }).from(budgets).where(eq(budgets.orgId, orgId));
  return rows[0]?.n ?? 0;
}
