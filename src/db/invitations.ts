/**
 * Invitations of one org. Tokens are never stored: only their SHA-256 (`token_hash`).
 * Mutations return statements for the caller's `db.batch`; every org-scoped statement carries `org_id`.
 */
import { and, asc, eq, gt, inArray, isNull, or, sql, type SQL } from "drizzle-orm";
import type { PagePosition } from "../lib/page-cursor";
import type { Db } from "./client";
import { invitations, memberships, teamMembers, teams, users } from "./schema";

export type InvitationRow = typeof invitations.$inferSelect;
export type InvitationStatus = "pending" | "accepted" | "revoked" | "expired";

/** Where an invitation stands right now. Accepted and revoked win over expiry. */
export function invitationStatus(inv: Pick<InvitationRow, "acceptedAt" | "revokedAt" | "expiresAt">, now = Date.now()): InvitationStatus {
  if (inv.acceptedAt !== null) return "accepted";
  if (inv.revokedAt !== null) return "revoked";
  return inv.expiresAt <= now ? "expired" : "pending";
}

const pending = (now: number) => and(isNull(invitations.acceptedAt), isNull(invitations.revokedAt), gt(invitations.expiresAt, now));

/** Insert of a new invitation (`role` may be a seat-guarded value, see `seatGuardedRole`). */
export function insertInvitation(db: Db, inv: { id: string; orgId: string; email: string; role: "admin" | "member" | "viewer" | SQL; teamIds: string[]; tokenHash: string; invitedBy: string; expiresAt: number }) {
  return db.insert(invitations).values(inv);
}

/** One page of pending invitations, oldest first (`limit + 1` rows). */
export async function listPendingInvitations(db: Db, orgId: string, after: PagePosition | undefined, limit: number, now = Date.now()): Promise<InvitationRow[]> {
  const cursor = after ? or(gt(invitations.createdAt, after.at), and(eq(invitations.createdAt, after.at), gt(invitations.id, after.id))) : undefined;
  return db
    .select()
    .from(invitations)
    .where(and(eq(invitations.orgId, orgId), pending(now), cursor))
    .orderBy(asc(invitations.createdAt), asc(invitations.id))
    .limit(limit + 1);
}

/** One invitation of the org, or undefined (also for other orgs' ids). */
export async function findInvitation(db: Db, orgId: string, id: string): Promise<InvitationRow | undefined> {
  const [row] = await db.select().from(invitations).where(and(eq(invitations.orgId, orgId), eq(invitations.id, id))).limit(1);
  return row;
}

/**
 * The invitation a token belongs to, with its org's name and kind. Not org-scoped by design: the token
 * (≥128 random bits, looked up by hash) is what names the org on the public accept path.
 */
export async function findInvitationByTokenHash(db: Db, tokenHash: string) {
  const [row] = await db
    .select({ inv: invitations, inviterName: users.name, inviterEmail: users.email })
    .from(invitations)
    .leftJoin(users, eq(users.id, invitations.invitedBy))
    .where(eq(invitations.tokenHash, tokenHash))
    .limit(1);
  return row;
}

/** The pending invitations of the org for any of these emails (lower-cased). */
export async function listPendingInvitationsForEmails(db: Db, orgId: string, emails: string[], now = Date.now()): Promise<InvitationRow[]> {
  if (emails.length === 0) return [];
  return db.select().from(invitations).where(and(eq(invitations.orgId, orgId), inArray(sql`lower(${invitations.email})`, emails), pending(now)));
}

/** Lower-cased emails, among these, of users who are already members of the org. */
export async function listMemberEmails(db: Db, orgId: string, emails: string[]): Promise<Set<string>> {
  if (emails.length === 0) return new Set();
  const rows = await db
    .select({ email: users.email })
    .from(memberships)
    .innerJoin(users, eq(users.id, memberships.userId))
    .where(and(eq(memberships.orgId, orgId), inArray(sql`lower(${users.email})`, emails)));
  return new Set(rows.map((r) => r.email.toLowerCase()));
}

/** Lower-cased emails, among these, of users who belong to any org (single-org mode checks). */
export async function listEmailsWithAnyOrg(db: Db, emails: string[]): Promise<Set<string>> {
  if (emails.length === 0) return new Set();
  const rows = await db
    .selectDistinct({ email: users.email })
    .from(users)
    .innerJoin(memberships, eq(memberships.userId, users.id))
    .where(inArray(sql`lower(${users.email})`, emails));
  return new Set(rows.map((r) => r.email.toLowerCase()));
}

/** Which of these team ids exist in the org. */
export async function listExistingTeamIds(db: Db, orgId: string, teamIds: string[]): Promise<string[]> {
  if (teamIds.length === 0) return [];
  const rows = await db.select({ id: teams.id }).from(teams).where(and(eq(teams.orgId, orgId), inArray(teams.id, teamIds)));
  return rows.map((r) => r.id);
}

/** New token and expiry for a resend; counts the send. `role` (seat-guarded) is rewritten when reviving an expired invitation. */
export function reissueInvitation(db: Db, orgId: string, id: string, tokenHash: string, expiresAt: number, role?: SQL | "admin" | "member" | "viewer", now = Date.now()) {
  return db
    .update(invitations)
    .set({ tokenHash, expiresAt, sendCount: sql`${invitations.sendCount} + 1`, lastSentAt: now, ...(role === undefined ? {} : { role }) })
    .where(and(eq(invitations.orgId, orgId), eq(invitations.id, id)));
}

/** Revocation of a not-yet-accepted invitation. */
export function revokeInvitation(db: Db, orgId: string, id: string, now = Date.now()) {
  return db.update(invitations).set({ revokedAt: now }).where(and(eq(invitations.orgId, orgId), eq(invitations.id, id), isNull(invitations.acceptedAt)));
}

/** Marks the invitation used by `userId`. */
export function markInvitationAccepted(db: Db, orgId: string, id: string, userId: string, now = Date.now()) {
  return db.update(invitations).set({ acceptedAt: now, acceptedBy: userId }).where(and(eq(invitations.orgId, orgId), eq(invitations.id, id)));
}

/** Inserts of team memberships for a new member (teams already checked to exist in the org). */
export function insertTeamMemberships(db: Db, orgId: string, userId: string, teamIds: string[]) {
  return teamIds.map((teamId) => db.insert(teamMembers).values({ orgId, teamId, userId }).onConflictDoNothing());
}

/** Whether the user's email address is verified (not org-owned: the invitee is not a member yet). */
export async function isEmailVerified(db: Db, userId: string): Promise<boolean> {
  const [row] = await db.select({ at: users.emailVerifiedAt }).from(users).where(eq(users.id, userId)).limit(1);
  return row?.at !== null && row?.at !== undefined;
}

/**
 * Marks the user's email verified by the act of accepting an emailed invitation token sent to that very
 * address (the token proves control of the mailbox). Only when the address still matches the invitation's.
 */
export function markEmailVerifiedByInvitation(db: Db, userId: string, invitedEmail: string, now = Date.now()) {
  return db
    .update(users)
    .set({ emailVerifiedAt: sql`coalesce(${users.emailVerifiedAt}, ${now})`, updatedAt: now })
    .where(and(eq(users.id, userId), eq(sql`lower(${users.email})`, invitedEmail.toLowerCase())));
}
