/**
 * Organizations: lookup, creation, update and deletion, plus the single-org-mode plumbing shared by
 * org creation, invitation and acceptance. Mutations return statements for the caller's `db.batch`.
 */
import { and, asc, eq, isNull, ne, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Config } from "../env";
import type { Db } from "./client";
import { apiKeys, invitations, memberships, orgs, systemSettings, type OrgSettings, type Role } from "./schema";
import { recordOrgMode } from "./system";

/** Runs a non-empty, dynamically built list of statements as one all-or-nothing D1 batch. */
export function runBatch(db: Db, stmts: BatchItem<"sqlite">[]) {
  if (stmts.length === 0) throw new Error("runBatch: nothing to run");
  return db.batch(stmts as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
}

// ───────────── single-org mode ─────────────

/**
 * The effective org mode: `single` when the deployment says so (ORG_MODE) OR the database row the
 * `memberships_single_org` trigger reads says so. The row wins in the strict direction because the
 * trigger enforces it regardless of what the Worker believes; switching a deployment back from
 * single to multi therefore also needs `UPDATE system_settings SET value='multi' WHERE key='org_mode'`.
 */
export async function getOrgMode(db: Db, cfg: Pick<Config, "ORG_MODE">): Promise<"single" | "multi"> {
  if (cfg.ORG_MODE === "single") return "single";
  const [row] = await db.select({ value: systemSettings.value }).from(systemSettings).where(eq(systemSettings.key, "org_mode")).limit(1);
  return row?.value === "single" ? "single" : "multi";
}

/** Resolves the mode and makes sure the trigger sees it; call before any membership insert. */
export async function prepareMembershipInsert(db: Db, cfg: Pick<Config, "ORG_MODE">): Promise<"single" | "multi"> {
  const mode = await getOrgMode(db, cfg);
  await recordOrgMode(db, mode);
  return mode;
}

function errorText(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    parts.push(e instanceof Error ? e.message : String(e));
    e = e instanceof Error ? (e as Error & { cause?: unknown }).cause : undefined;
  }
  return parts.join(" | ");
}

/** True when a D1 failure is the single-org trigger refusing a second membership. */
export function isSingleOrgViolation(err: unknown): boolean {
  return errorText(err).includes("single_org_violation");
}

/** True when a D1 failure is a UNIQUE/PRIMARY KEY violation mentioning `what` (e.g. `orgs.slug`). */
export function isUniqueViolation(err: unknown, what: string): boolean {
  const text = errorText(err);
  return /UNIQUE constraint failed|PRIMARY KEY/i.test(text) && text.includes(what);
}

/** True when a D1 failure is a NOT NULL refusal of `column` (e.g. `memberships.role`, see the seat guards). */
export function isNotNullViolation(err: unknown, column: string): boolean {
  const text = errorText(err);
  return text.includes("NOT NULL constraint failed") && text.includes(column);
}

/** True when the user already belongs to some org (other than `exceptOrgId`). */
export async function userHasAnyOrg(db: Db, userId: string, exceptOrgId?: string): Promise<boolean> {
  const where = exceptOrgId ? and(eq(memberships.userId, userId), ne(memberships.orgId, exceptOrgId)) : eq(memberships.userId, userId);
  const rows = await db.select({ orgId: memberships.orgId }).from(memberships).where(where).limit(1);
  return rows.length > 0;
}

// ───────────── orgs ─────────────

export type OrgRow = typeof orgs.$inferSelect;

/** Every org the user belongs to, with their role; personal first, then oldest first. */
export async function listOrgsOfUser(db: Db, userId: string) {
  return db
    .select({ org: orgs, role: memberships.role, joinedAt: memberships.createdAt })
    .from(memberships)
    .innerJoin(orgs, eq(orgs.id, memberships.orgId))
    .where(eq(memberships.userId, userId))
    .orderBy(sql`CASE ${orgs.kind} WHEN 'personal' THEN 0 ELSE 1 END`, asc(orgs.createdAt), asc(orgs.id));
}

/** One org by id, or undefined. */
export async function findOrg(db: Db, orgId: string): Promise<OrgRow | undefined> {
  const [row] = await db.select().from(orgs).where(eq(orgs.id, orgId)).limit(1);
  return row;
}

/** True when another org already uses `slug`. */
export async function isSlugTaken(db: Db, slug: string, exceptOrgId?: string): Promise<boolean> {
  const where = exceptOrgId ? and(eq(orgs.slug, slug), ne(orgs.id, exceptOrgId)) : eq(orgs.slug, slug);
  const rows = await db.select({ id: orgs.id }).from(orgs).where(where).limit(1);
  return rows.length > 0;
}

/** Insert of a new org (its owner membership is a separate statement in the same batch). */
export function insertOrg(db: Db, org: { id: string; name: string; slug: string; kind: "personal" | "team"; createdBy: string; plan?: string }) {
  return db.insert(orgs).values({ ...org, plan: org.plan ?? "free", settings: {} });
}

/** Update of name / slug / settings. */
export function updateOrg(db: Db, orgId: string, patch: { name?: string; slug?: string; settings?: OrgSettings }, now = Date.now()) {
  return db.update(orgs).set({ ...patch, updatedAt: now }).where(eq(orgs.id, orgId));
}

/** Insert of one membership. In single-org mode the trigger may refuse it (see {@link isSingleOrgViolation}). */
export function insertMembership(db: Db, orgId: string, userId: string, role: Role) {
  return db.insert(memberships).values({ orgId, userId, role });
}

/**
 * The statements that delete an org, in order: revoke every live key (so the revocation is on record
 * even while rows disappear), drop invitations and memberships explicitly, then the org row, whose
 * `ON DELETE CASCADE` foreign keys remove teams, team members, keys, management tokens, providers,
 * pricing, budgets, budget events and cost events. The audit log has no foreign key on purpose: it outlives the org.
 */
export function deleteOrgStatements(db: Db, orgId: string, actorId: string, now = Date.now()) {
  return [
    db.update(apiKeys).set({ revokedAt: now, revokedBy: actorId, updatedAt: now }).where(and(eq(apiKeys.orgId, orgId), isNull(apiKeys.revokedAt))),
    db.delete(invitations).where(eq(invitations.orgId, orgId)),
    db.delete(memberships).where(eq(memberships.orgId, orgId)),
    db.delete(orgs).where(eq(orgs.id, orgId)),
  ] as const;
}
