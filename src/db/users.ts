/**
 * Identity queries: users, sessions, single-use email tokens, and the personal org created at signup.
 * None of these tables is org-owned; the personal-org inserts are the one place signup touches org tables.
 * Functions named `…Statement(s)` return unexecuted queries for the caller's `db.batch([...])`.
 */
import { and, asc, eq, gt, isNull, sql } from "drizzle-orm";
import type { Db } from "./client";
import { emailTokens, memberships, orgs, sessions, users } from "./schema";

/** Purpose of an email token; also selects its lifetime (see the auth-email routes). */
export type EmailTokenPurpose = "verify_email" | "reset_password";

/** Public view of a user: what `/api/me` shows. Never includes password material. */
export type PublicUser = { id: string; email: string; name: string; email_verified: boolean; created_at: string };

/** One membership as `/api/me` shows it. */
export type MembershipView = { org: { id: string; name: string; slug: string; kind: "personal" | "team"; plan: string }; role: "owner" | "admin" | "member" | "viewer" };

/** The full user row by (already normalised) email, password material included: login only. */
export async function findUserByEmail(db: Db, email: string) {
  const rows = await db.select().from(users).where(eq(users.email, email)).limit(1);
  return rows[0];
}

/** The public view of a user by id, or undefined. */
export async function findPublicUser(db: Db, userId: string): Promise<PublicUser | undefined> {
  const rows = await db
    .select({ id: users.id, email: users.email, name: users.name, verifiedAt: users.emailVerifiedAt, createdAt: users.createdAt })
    .from(users)
    .where(eq(users.id, userId))
    .limit(1);
  const u = rows[0];
  return u && { id: u.id, email: u.email, name: u.name, email_verified: u.verifiedAt !== null, created_at: new Date(u.createdAt).toISOString() };
}

/** Every org the user belongs to, oldest membership first. */
export async function listMembershipsOfUser(db: Db, userId: string): Promise<MembershipView[]> {
  const rows = await db
    .select({ id: orgs.id, name: orgs.name, slug: orgs.slug, kind: orgs.kind, plan: orgs.plan, role: memberships.role })
    .from(memberships)
    .innerJoin(orgs, eq(orgs.id, memberships.orgId))
    .where(eq(memberships.userId, userId))
    .orderBy(asc(memberships.createdAt), asc(orgs.id));
  return rows.map(({ role, ...org }) => ({ org, role }));
}

/** Insert of a new user. `email` must already be normalised (trimmed, lowercase). */
export function insertUserStatement(
  db: Db,
  u: { id: string; email: string; name: string; passwordHash: string; passwordSalt: string; passwordIterations: number },
) {
  return db.insert(users).values(u);
}

/** Inserts of a personal org owned by `userId` (org row + owner membership). */
export function insertPersonalOrgStatements(db: Db, o: { orgId: string; userId: string; name: string; slug: string }) {
  return [
    db.insert(orgs).values({ id: o.orgId, name: o.name, slug: o.slug, kind: "personal", createdBy: o.userId }),
    db.insert(memberships).values({ orgId: o.orgId, userId: o.userId, role: "owner" }),
  ] as const;
}

/** Replaces the stored password material (used to upgrade the iteration count after a successful login). */
export function updatePasswordStatement(db: Db, userId: string, p: { passwordHash: string; passwordSalt: string; passwordIterations: number }) {
  return db.update(users).set({ ...p, updatedAt: Date.now() }).where(eq(users.id, userId));
}

// ───────────── sessions ─────────────

/** Insert of a session row (the JWT only points at it; revoking the row kills the JWT). */
export function insertSessionStatement(db: Db, s: { id: string; userId: string; expiresAt: number; ip: string | null; userAgent: string | null }) {
  return db.insert(sessions).values(s);
}

/** Revokes one session of one user (logout). Returns true when a live row was revoked. */
export async function revokeSession(db: Db, sessionId: string, userId: string, now = Date.now()): Promise<boolean> {
  const rows = await db
    .update(sessions)
    .set({ revokedAt: now })
    .where(and(eq(sessions.id, sessionId), eq(sessions.userId, userId), isNull(sessions.revokedAt)))
    .returning({ id: sessions.id });
  return rows.length > 0;
}

// ───────────── email tokens ─────────────

/** Insert of a single-use email token (only its SHA-256 is stored). */
export function insertEmailTokenStatement(db: Db, t: { id: string; userId: string; purpose: EmailTokenPurpose; tokenHash: string; expiresAt: number }) {
  return db.insert(emailTokens).values(t);
}

/** Marks every unused token of that purpose as used, so only the newest link works. */
export function retireEmailTokensStatement(db: Db, userId: string, purpose: EmailTokenPurpose, now = Date.now()) {
  return db.update(emailTokens).set({ usedAt: now }).where(and(eq(emailTokens.userId, userId), eq(emailTokens.purpose, purpose), isNull(emailTokens.usedAt)));
}

/** A usable (unused, unexpired) token by hash and purpose, or undefined. */
export async function findUsableEmailToken(db: Db, tokenHash: string, purpose: EmailTokenPurpose, now = Date.now()) {
  const rows = await db
    .select({ id: emailTokens.id, userId: emailTokens.userId })
    .from(emailTokens)
    .where(and(eq(emailTokens.tokenHash, tokenHash), eq(emailTokens.purpose, purpose), isNull(emailTokens.usedAt), gt(emailTokens.expiresAt, now)))
    .limit(1);
  return rows[0];
}

/** SQL guard "token `tokenId` is still usable": statements batched before the consume run only while it holds. */
function tokenStillUsable(tokenId: string, now: number) {
  return sql`exists (select 1 from ${emailTokens} where ${emailTokens.id} = ${tokenId} and ${emailTokens.usedAt} is null and ${emailTokens.expiresAt} > ${now})`;
}

/** Consumes a token; returns its id when this call used it (empty when someone else got there first). */
function consumeEmailTokenStatement(db: Db, tokenId: string, now: number) {
  return db
    .update(emailTokens)
    .set({ usedAt: now })
    .where(and(eq(emailTokens.id, tokenId), isNull(emailTokens.usedAt), gt(emailTokens.expiresAt, now)))
    .returning({ id: emailTokens.id });
}

/**
 * Verifies the user's email with a token, atomically and once: the user update is guarded by the token
 * still being usable inside the same transaction, then the token is consumed. True when it took effect.
 */
export async function verifyEmailWithToken(db: Db, token: { id: string; userId: string }, now = Date.now()): Promise<boolean> {
  const [, consumed] = await db.batch([
    db
      .update(users)
      .set({ emailVerifiedAt: sql`coalesce(${users.emailVerifiedAt}, ${now})`, updatedAt: now })
      .where(and(eq(users.id, token.userId), tokenStillUsable(token.id, now))),
    consumeEmailTokenStatement(db, token.id, now),
  ]);
  return consumed.length > 0;
}

/**
 * Sets a new password with a reset token and revokes every session of the user, atomically and once
 * (same guard as {@link verifyEmailWithToken}). Resetting through the emailed link also proves the address.
 */
export async function resetPasswordWithToken(
  db: Db,
  token: { id: string; userId: string },
  p: { passwordHash: string; passwordSalt: string; passwordIterations: number },
  now = Date.now(),
): Promise<boolean> {
  const guard = tokenStillUsable(token.id, now);
  const [, , consumed] = await db.batch([
    db
      .update(users)
      .set({ ...p, emailVerifiedAt: sql`coalesce(${users.emailVerifiedAt}, ${now})`, updatedAt: now })
      .where(and(eq(users.id, token.userId), guard)),
    db.update(sessions).set({ revokedAt: now }).where(and(eq(sessions.userId, token.userId), isNull(sessions.revokedAt), guard)),
    consumeEmailTokenStatement(db, token.id, now),
  ]);
  return consumed.length > 0;
}
