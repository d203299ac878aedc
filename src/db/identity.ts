import { and, desc, eq, gt, isNull, ne } from "drizzle-orm";
import type { Db } from "./client";
import { managementTokens, memberships, orgs, sessions, users } from "./schema";

/** A live (not revoked, not expired) session with its user, or undefined. */
export async function findLiveSession(db: Db, sessionId: string, userId: string, now = Date.now()) {
  const rows = await db
    .select({ sessionId: sessions.id, userId: users.id, email: users.email })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.userId))
    .where(and(eq(sessions.id, sessionId), eq(sessions.userId, userId), isNull(sessions.revokedAt), gt(sessions.expiresAt, now)))
    .limit(1);
  return rows[0];
}

/** A live management token by hash, or undefined. */
export async function findLiveManagementToken(db: Db, tokenHash: string, now = Date.now()) {
  const rows = await db.select().from(managementTokens).where(and(eq(managementTokens.tokenHash, tokenHash), isNull(managementTokens.revokedAt))).limit(1);
  const t = rows[0];
  if (!t || (t.expiresAt !== null && t.expiresAt <= now)) return undefined;
  return t;
}

/** The user's role in an org plus the org's kind and plan, or undefined when not a member (or no such org). */
export async function findMembership(db: Db, orgId: string, userId: string) {
  const rows = await db
    .select({ role: memberships.role, kind: orgs.kind, plan: orgs.plan })
    .from(memberships)
    .innerJoin(orgs, eq(orgs.id, memberships.orgId))
    .where(and(eq(memberships.orgId, orgId), eq(memberships.userId, userId)))
    .limit(1);
  return rows[0];
}

/** Kind and plan of an org (for management-token callers), or undefined. */
export async function findOrgBasics(db: Db, orgId: string) {
  const rows = await db.select({ kind: orgs.kind, plan: orgs.plan }).from(orgs).where(eq(orgs.id, orgId)).limit(1);
  return rows[0];
}

/** Records that a management token was just used (callers throttle: the list view only needs minute precision). */
export async function touchManagementToken(db: Db, tokenId: string, now = Date.now()): Promise<void> {
  await db.update(managementTokens).set({ lastUsedAt: now }).where(eq(managementTokens.id, tokenId));
}

/** A live session of a user, as listed to that user. */
export type SessionView = { id: string; createdAt: number; expiresAt: number; ip: string | null; userAgent: string | null };

/** The user's live (not revoked, not expired) sessions, newest first. */
export async function listLiveSessions(db: Db, userId: string, now = Date.now()): Promise<SessionView[]> {
  return db
    .select({ id: sessions.id, createdAt: sessions.createdAt, expiresAt: sessions.expiresAt, ip: sessions.ip, userAgent: sessions.userAgent })
    .from(sessions)
    .where(and(eq(sessions.userId, userId), isNull(sessions.revokedAt), gt(sessions.expiresAt, now)))
    .orderBy(desc(sessions.createdAt), desc(sessions.id));
}

/** Revokes every live session of the user except `keepSessionId` (sign out everywhere else). */
export function revokeOtherSessionsStatement(db: Db, userId: string, keepSessionId: string, now = Date.now()) {
  return db
    .update(sessions)
    .set({ revokedAt: now })
    .where(and(eq(sessions.userId, userId), ne(sessions.id, keepSessionId), isNull(sessions.revokedAt)))
    .returning({ id: sessions.id });
}

/** The stored password material of a user (for re-checking the current password). */
export async function findPasswordMaterial(db: Db, userId: string) {
  const rows = await db
    .select({ passwordHash: users.passwordHash, passwordSalt: users.passwordSalt, passwordIterations: users.passwordIterations })
    .from(users)
    .where(eq(users.id, userId))
    .limit(1);
  return rows[0];
}
