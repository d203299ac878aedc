/**
 * Memberships of one org: listing, role changes, removal, the keys a member created, and the seat count.
 * Every statement carries `org_id = orgId`. Mutations return statements for the caller's `db.batch`.
 */
import { and, asc, eq, gt, inArray, isNull, ne, or, sql, type SQL } from "drizzle-orm";
import type { PagePosition } from "../lib/page-cursor";
import type { Db } from "./client";
import { apiKeys, invitations, memberships, teamMembers, teams, users, type Role } from "./schema";

/** A member as the API shows it. */
export type MemberRow = { userId: string; email: string; name: string; role: Role; joinedAt: number };

const memberColumns = { userId: memberships.userId, email: users.email, name: users.name, role: memberships.role, joinedAt: memberships.createdAt };

/** One page of members, oldest first (`limit + 1` rows so the caller can tell whether more follow). */
export async function listMembers(db: Db, orgId: string, after: PagePosition | undefined, limit: number): Promise<MemberRow[]> {
  const cursor = after
    ? or(gt(memberships.createdAt, after.at), and(eq(memberships.createdAt, after.at), gt(memberships.userId, after.id)))
    : undefined;
  return db
    .select(memberColumns)
    .from(memberships)
    .innerJoin(users, eq(users.id, memberships.userId))
    .where(and(eq(memberships.orgId, orgId), cursor))
    .orderBy(asc(memberships.createdAt), asc(memberships.userId))
    .limit(limit + 1);
}

/** The teams (id, name) of each listed user within the org. */
export async function listTeamsOfUsers(db: Db, orgId: string, userIds: string[]): Promise<Map<string, Array<{ id: string; name: string }>>> {
  const out = new Map<string, Array<{ id: string; name: string }>>();
  if (userIds.length === 0) return out;
  const rows = await db
    .select({ userId: teamMembers.userId, id: teams.id, name: teams.name })
    .from(teamMembers)
    .innerJoin(teams, and(eq(teams.id, teamMembers.teamId), eq(teams.orgId, orgId)))
    .where(and(eq(teamMembers.orgId, orgId), inArray(teamMembers.userId, userIds)))
    .orderBy(asc(teams.name));
  for (const r of rows) out.set(r.userId, [...(out.get(r.userId) ?? []), { id: r.id, name: r.name }]);
  return out;
}

/** One member of the org, or undefined (also for users of other orgs). */
export async function findMember(db: Db, orgId: string, userId: string): Promise<MemberRow | undefined> {
  const [row] = await db
    .select(memberColumns)
    .from(memberships)
    .innerJoin(users, eq(users.id, memberships.userId))
    .where(and(eq(memberships.orgId, orgId), eq(memberships.userId, userId)))
    .limit(1);
  return row;
}

/** The member of the org with this email (case-insensitive), or undefined. */
export async function findMemberByEmail(db: Db, orgId: string, email: string): Promise<MemberRow | undefined> {
  const [row] = await db
    .select(memberColumns)
    .from(memberships)
    .innerJoin(users, eq(users.id, memberships.userId))
    .where(and(eq(memberships.orgId, orgId), eq(sql`lower(${users.email})`, email.toLowerCase())))
    .limit(1);
  return row;
}

/** A user account by email (case-insensitive), or undefined. Not org-owned. */
export async function findUserByEmail(db: Db, email: string) {
  const [row] = await db.select({ id: users.id, email: users.email, name: users.name }).from(users).where(eq(sql`lower(${users.email})`, email.toLowerCase())).limit(1);
  return row;
}

/** Display data of a user (inviter names on invitation pages). */
export async function findUserBasics(db: Db, userId: string) {
  const [row] = await db.select({ id: users.id, email: users.email, name: users.name }).from(users).where(eq(users.id, userId)).limit(1);
  return row;
}

/** Update of one member's role (`role` may be a {@link seatGuardedRole}). */
export function updateMemberRole(db: Db, orgId: string, userId: string, role: Role | SQL) {
  return db.update(memberships).set({ role }).where(and(eq(memberships.orgId, orgId), eq(memberships.userId, userId)));
}

/**
 * A guard for a batch: fails it (NOT NULL on `memberships.role`) when `userId` is the org's owner at
 * that moment, so a concurrent transfer of ownership can never leave an org without its owner.
 */
export function refuseIfOwnerStmt(db: Db, orgId: string, userId: string) {
  return db.update(memberships).set({ role: sql`NULL` }).where(and(eq(memberships.orgId, orgId), eq(memberships.userId, userId), eq(memberships.role, "owner")));
}

/**
 * The statements that hand the owner role from `fromId` to `toId`, for one batch. Each is guarded by
 * the state at the moment it runs: the owner is demoted only while the target is still a member or
 * admin, the target is promoted only once the org has no owner, and the last statement fails the
 * whole batch (NOT NULL on `memberships.role`, see {@link isTransferRefused}) unless the target is the
 * owner by then. A concurrent removal of the target therefore leaves the old owner in place.
 */
export function transferOwnershipStatements(db: Db, orgId: string, fromId: string, toId: string) {
  const inOrg = (userId: string) => and(eq(memberships.orgId, orgId), eq(memberships.userId, userId));
  return [
    db.update(memberships).set({ role: "admin" }).where(and(inOrg(fromId), eq(memberships.role, "owner"),
      sql`EXISTS (SELECT 1 FROM memberships m2 WHERE m2.org_id = ${orgId} AND m2.user_id = ${toId} AND m2.role IN ('member', 'admin'))`)),
    db.update(memberships).set({ role: "owner" }).where(and(inOrg(toId), inArray(memberships.role, ["member", "admin"]),
      sql`NOT EXISTS (SELECT 1 FROM memberships m2 WHERE m2.org_id = ${orgId} AND m2.role = 'owner')`)),
    db.update(memberships).set({ role: sql`NULL` }).where(and(inOrg(fromId),
      sql`NOT EXISTS (SELECT 1 FROM memberships m2 WHERE m2.org_id = ${orgId} AND m2.user_id = ${toId} AND m2.role = 'owner')`)),
  ] as const;
}

/**
 * The statements that take a user out of the org: a guard that fails the batch if they are the owner
 * by now (see {@link refuseIfOwnerStmt}), their team memberships, then the membership itself.
 */
export function deleteMembershipStatements(db: Db, orgId: string, userId: string) {
  return [
    refuseIfOwnerStmt(db, orgId, userId),
    db.delete(teamMembers).where(and(eq(teamMembers.orgId, orgId), eq(teamMembers.userId, userId))),
    db.delete(memberships).where(and(eq(memberships.orgId, orgId), eq(memberships.userId, userId))),
  ] as const;
}

/**
 * Keys of the user's chain: created by them, or by a management token whose root user they are (keys
 * made through a token created by another token carry that parent token's id as creator).
 */
function createdByUserOrTheirTokens(orgId: string, userId: string) {
  return or(
    eq(apiKeys.createdBy, userId),
    sql`${apiKeys.createdBy} IN (SELECT id FROM management_tokens WHERE org_id = ${orgId} AND root_user_id = ${userId})`,
  );
}

/** The live (not revoked) keys of a user's chain in the org (see above): what removing them would revoke. */
export async function listLiveKeysCreatedBy(db: Db, orgId: string, userId: string) {
  return db
    .select({ id: apiKeys.id, name: apiKeys.name, hint: apiKeys.hint, teamId: apiKeys.teamId, createdAt: apiKeys.createdAt, expiresAt: apiKeys.expiresAt })
    .from(apiKeys)
    .where(and(eq(apiKeys.orgId, orgId), createdByUserOrTheirTokens(orgId, userId), isNull(apiKeys.revokedAt)))
    .orderBy(asc(apiKeys.createdAt), asc(apiKeys.id));
}

/** Revokes every live key of the user's chain in the org; RETURNING gives the exact ids revoked. */
export function revokeKeysCreatedBy(db: Db, orgId: string, userId: string, revokedBy: string, now = Date.now()) {
  return db
    .update(apiKeys)
    .set({ revokedAt: now, revokedBy, updatedAt: now })
    .where(and(eq(apiKeys.orgId, orgId), createdByUserOrTheirTokens(orgId, userId), isNull(apiKeys.revokedAt)))
    .returning({ id: apiKeys.id });
}

/**
 * Seats in use (docs/membership.md): owner, admin and member memberships plus pending (not accepted, revoked
 * or expired) non-viewer invitations. Viewers never count. `excludeInvitationId` leaves one pending
 * invitation out (the one being accepted or resent).
 */
export async function countSeatsUsed(db: Db, orgId: string, opts: { excludeInvitationId?: string; now?: number } = {}): Promise<number> {
  const now = opts.now ?? Date.now();
  const [m] = await db.select({ n: sql<number>`count(*)` }).from(memberships).where(and(eq(memberships.orgId, orgId), ne(memberships.role, "viewer")));
  const [i] = await db
    .select({ n: sql<number>`count(*)` })
    .from(invitations)
    .where(
      and(
        eq(invitations.orgId, orgId),
        ne(invitations.role, "viewer"),
        isNull(invitations.acceptedAt),
        isNull(invitations.revokedAt),
        gt(invitations.expiresAt, now),
        opts.excludeInvitationId ? ne(invitations.id, opts.excludeInvitationId) : undefined,
      ),
    );
  return Number(m?.n ?? 0) + Number(i?.n ?? 0);
}

/** {@link countSeatsUsed} as a SQL expression, evaluated inside the very statement that would add a seat. */
export function seatsUsedSql(orgId: string, now: number, excludeInvitationId?: string): SQL {
  const exclude = excludeInvitationId ? sql` AND id <> ${excludeInvitationId}` : sql``;
  return sql`((SELECT count(*) FROM memberships WHERE org_id = ${orgId} AND role <> 'viewer') + (SELECT count(*) FROM invitations WHERE org_id = ${orgId} AND role <> 'viewer' AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > ${now}${exclude}))`;
}

/**
 * The role value to write when granting a seat: NULL, which the NOT NULL `role` column refuses
 * (failing the whole batch), if the org has no seat left at that moment. This closes the race
 * between the route's friendly pre-check and the write. Viewers and unlimited plans pass through.
 */
export function seatGuardedRole<R extends Role>(role: R, orgId: string, seatLimit: number | null, now = Date.now()): R | SQL {
  if (role === "viewer" || seatLimit === null) return role;
  return sql`(CASE WHEN ${seatsUsedSql(orgId, now)} < ${seatLimit} THEN ${role} END)`;
}

/**
 * Insert of the membership an invitation grants. The role is read from the invitation inside the
 * statement and is NULL (refused by NOT NULL, failing the batch) unless the invitation is still
 * pending at that moment and, for non-viewers, a seat is free. A concurrent accept, revoke or
 * expiry therefore can never slip a membership in.
 */
export function insertMembershipFromInvitation(db: Db, orgId: string, userId: string, invitationId: string, seatLimit: number | null, now = Date.now()) {
  const seatOk = seatLimit === null ? sql`1` : sql`${seatsUsedSql(orgId, now, invitationId)} < ${seatLimit}`;
  const role = sql`(SELECT CASE WHEN i.role = 'viewer' OR ${seatOk} THEN i.role END FROM invitations i
    WHERE i.org_id = ${orgId} AND i.id = ${invitationId} AND i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > ${now})`;
  return db.insert(memberships).values({ orgId, userId, role });
}
