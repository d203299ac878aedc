/**
 * Org-scoped queries for teams and team membership. Every statement filters by `org_id`.
 * Builders named `*Stmt` return un-awaited statements for the caller's `db.batch([...])`.
 */
import { and, desc, eq, isNull, lt, or, sql } from "drizzle-orm";
import type { PagePosition } from "../lib/page-cursor";
import type { Db } from "./client";
import { apiKeys, budgets, memberships, teamMembers, teams, users } from "./schema";

export type TeamRow = typeof teams.$inferSelect;

const memberCount = sql<number>`(SELECT COUNT(*) FROM team_members tm WHERE tm.team_id = ${teams.id} AND tm.org_id = ${teams.orgId})`;

/** One page of the org's teams, newest first (fetches `limit + 1` rows to detect a next page). */
export async function listTeams(db: Db, orgId: string, page: { cursor?: PagePosition; limit: number }) {
  const after = page.cursor
    ? or(lt(teams.createdAt, page.cursor.at), and(eq(teams.createdAt, page.cursor.at), lt(teams.id, page.cursor.id)))
    : undefined;
  return db
    .select({ team: teams, memberCount })
    .from(teams)
    .where(and(eq(teams.orgId, orgId), after))
    .orderBy(desc(teams.createdAt), desc(teams.id))
    .limit(page.limit + 1)
    .then((rows) => rows.map((r) => ({ ...r.team, memberCount: Number(r.memberCount) })));
}

/** The team, or undefined when it does not exist in this org. */
export async function findTeam(db: Db, orgId: string, teamId: string): Promise<TeamRow | undefined> {
  const rows = await db.select().from(teams).where(and(eq(teams.orgId, orgId), eq(teams.id, teamId))).limit(1);
  return rows[0];
}

/** The team with this name in the org, if any (names are unique per org). */
export async function findTeamByName(db: Db, orgId: string, name: string): Promise<TeamRow | undefined> {
  const rows = await db.select().from(teams).where(and(eq(teams.orgId, orgId), eq(teams.name, name))).limit(1);
  return rows[0];
}

/** Members of a team with their org role, oldest first. */
export async function listTeamMembers(db: Db, orgId: string, teamId: string) {
  return db
    .select({ userId: users.id, email: users.email, name: users.name, role: memberships.role, addedAt: teamMembers.createdAt })
    .from(teamMembers)
    .innerJoin(users, eq(users.id, teamMembers.userId))
    .innerJoin(memberships, and(eq(memberships.orgId, teamMembers.orgId), eq(memberships.userId, teamMembers.userId)))
    .where(and(eq(teamMembers.orgId, orgId), eq(teamMembers.teamId, teamId)))
    .orderBy(teamMembers.createdAt, users.id);
}

/** True when the user is on the team. */
export async function isTeamMember(db: Db, orgId: string, teamId: string, userId: string): Promise<boolean> {
  const rows = await db
    .select({ userId: teamMembers.userId })
    .from(teamMembers)
    .where(and(eq(teamMembers.orgId, orgId), eq(teamMembers.teamId, teamId), eq(teamMembers.userId, userId)))
    .limit(1);
  return rows.length > 0;
}

/** Ids of the teams the user is on in this org. */
export async function listUserTeamIds(db: Db, orgId: string, userId: string): Promise<string[]> {
  const rows = await db.select({ teamId: teamMembers.teamId }).from(teamMembers).where(and(eq(teamMembers.orgId, orgId), eq(teamMembers.userId, userId)));
  return rows.map((r) => r.teamId);
}

/** The user's org membership (role), or undefined when they are not in the org. */
export async function findOrgMember(db: Db, orgId: string, userId: string) {
  const rows = await db
    .select({ userId: users.id, email: users.email, name: users.name, role: memberships.role })
    .from(memberships)
    .innerJoin(users, eq(users.id, memberships.userId))
    .where(and(eq(memberships.orgId, orgId), eq(memberships.userId, userId)))
    .limit(1);
  return rows[0];
}

/** Insert of a new team (created and updated at the same instant). */
export function insertTeamStmt(db: Db, row: { id: string; orgId: string; name: string; description: string | null; membersManageBudgets: boolean; createdAt: number }) {
  return db.insert(teams).values({ ...row, updatedAt: row.createdAt });
}

/** Update of a team's name, description and/or whether its members may manage its budgets. */
export function updateTeamStmt(db: Db, orgId: string, teamId: string, patch: { name?: string; description?: string | null; membersManageBudgets?: boolean; updatedAt: number }) {
  return db.update(teams).set(patch).where(and(eq(teams.orgId, orgId), eq(teams.id, teamId)));
}

/**
 * Statements that delete a team: its memberships, team-scoped budgets and default member budgets go
 * with it; its keys stay (they keep working) but lose the team.
 */
export function deleteTeamStmts(db: Db, orgId: string, teamId: string, at: number) {
  return [
    db.update(apiKeys).set({ teamId: null, updatedAt: at }).where(and(eq(apiKeys.orgId, orgId), eq(apiKeys.teamId, teamId))),
    db.delete(budgets).where(and(eq(budgets.orgId, orgId), eq(budgets.scope, "team"), eq(budgets.scopeId, teamId))),
    db.delete(budgets).where(and(eq(budgets.orgId, orgId), eq(budgets.scope, "member"), isNull(budgets.scopeId), eq(budgets.teamId, teamId))),
    db.delete(teamMembers).where(and(eq(teamMembers.orgId, orgId), eq(teamMembers.teamId, teamId))),
    db.delete(teams).where(and(eq(teams.orgId, orgId), eq(teams.id, teamId))),
  ] as const;
}

/** Ids of the keys currently assigned to the team (for the audit record of a team deletion). */
export async function listTeamKeyIds(db: Db, orgId: string, teamId: string): Promise<string[]> {
  const rows = await db.select({ id: apiKeys.id }).from(apiKeys).where(and(eq(apiKeys.orgId, orgId), eq(apiKeys.teamId, teamId)));
  return rows.map((r) => r.id);
}

/** Adds a user to a team; a repeat is a no-op. */
export function addTeamMemberStmt(db: Db, orgId: string, teamId: string, userId: string, at: number) {
  return db.insert(teamMembers).values({ orgId, teamId, userId, createdAt: at }).onConflictDoNothing();
}

/** Removes a user from a team. */
export function removeTeamMemberStmt(db: Db, orgId: string, teamId: string, userId: string) {
  return db.delete(teamMembers).where(and(eq(teamMembers.orgId, orgId), eq(teamMembers.teamId, teamId), eq(teamMembers.userId, userId)));
}
