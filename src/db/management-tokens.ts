/**
 * Org management tokens (`tgm_…`): org-scoped queries. Every statement carries `org_id = orgId`.
 * Only the SHA-256 of a token is stored; `hint` is a non-secret display form.
 */
import { and, desc, eq, isNull, lt, or } from "drizzle-orm";
import type { Role } from "./schema";
import type { Db } from "./client";
import { managementTokens, memberships } from "./schema";

/** A management token row minus its hash: safe to show. */
export type ManagementTokenRow = Omit<typeof managementTokens.$inferSelect, "tokenHash">;

const visibleColumns = {
  id: managementTokens.id,
  orgId: managementTokens.orgId,
  createdBy: managementTokens.createdBy,
  rootUserId: managementTokens.rootUserId,
  name: managementTokens.name,
  role: managementTokens.role,
  hint: managementTokens.hint,
  expiresAt: managementTokens.expiresAt,
  revokedAt: managementTokens.revokedAt,
  lastUsedAt: managementTokens.lastUsedAt,
  createdAt: managementTokens.createdAt,
};

/** Cursor position: the last row of the previous page (newest first). */
export type TokenCursor = { createdAt: number; id: string };

/** One page of the org's tokens, newest first (revoked ones included, marked by `revokedAt`). */
export async function listManagementTokens(db: Db, orgId: string, limit: number, after?: TokenCursor): Promise<ManagementTokenRow[]> {
  const page = after
    ? or(lt(managementTokens.createdAt, after.createdAt), and(eq(managementTokens.createdAt, after.createdAt), lt(managementTokens.id, after.id)))
    : undefined;
  return db
    .select(visibleColumns)
    .from(managementTokens)
    .where(and(eq(managementTokens.orgId, orgId), page))
    .orderBy(desc(managementTokens.createdAt), desc(managementTokens.id))
    .limit(limit);
}

/** One token of the org, or undefined (foreign ids look missing). */
export async function findManagementToken(db: Db, orgId: string, tokenId: string): Promise<ManagementTokenRow | undefined> {
  const rows = await db.select(visibleColumns).from(managementTokens).where(and(eq(managementTokens.orgId, orgId), eq(managementTokens.id, tokenId))).limit(1);
  return rows[0];
}

/** Insert of a new token (for the caller's batch, together with its audit row). */
export function insertManagementTokenStatement(db: Db, orgId: string, t: Omit<typeof managementTokens.$inferInsert, "orgId">) {
  return db.insert(managementTokens).values({ ...t, orgId });
}

/** Revocation of one live token of the org (for the caller's batch). */
export function revokeManagementTokenStatement(db: Db, orgId: string, tokenId: string, now: number) {
  return db
    .update(managementTokens)
    .set({ revokedAt: now })
    .where(and(eq(managementTokens.orgId, orgId), eq(managementTokens.id, tokenId), isNull(managementTokens.revokedAt)))
    .returning({ id: managementTokens.id });
}

/**
 * Revocation of every live token of the user's chain in the org (created by them, or by a token whose
 * root is them): for the member-removal batch, so a removed admin's automation stops with them.
 */
export function revokeManagementTokensCreatedByStatement(db: Db, orgId: string, userId: string, now: number) {
  return db
    .update(managementTokens)
    .set({ revokedAt: now })
    .where(and(eq(managementTokens.orgId, orgId), or(eq(managementTokens.rootUserId, userId), eq(managementTokens.createdBy, userId)), isNull(managementTokens.revokedAt)));
}

/**
 * A live (not revoked, not expired) token by hash with the current org role of the human at the root
 * of its chain (`rootRole` null when that user is no longer a member, or the root is unknown).
 */
export async function findLiveManagementTokenWithRootRole(db: Db, tokenHash: string, now = Date.now()) {
  const [row] = await db
    .select({ token: managementTokens, rootRole: memberships.role })
    .from(managementTokens)
    .leftJoin(memberships, and(eq(memberships.orgId, managementTokens.orgId), eq(memberships.userId, managementTokens.rootUserId)))
    .where(and(eq(managementTokens.tokenHash, tokenHash), isNull(managementTokens.revokedAt)))
    .limit(1);
  if (!row || (row.token.expiresAt !== null && row.token.expiresAt <= now)) return undefined;
  return row as { token: typeof managementTokens.$inferSelect; rootRole: Role | null };
}
