/**
 * Reads of the org's audit trail (writes are `auditInsert` in ./audit.ts). Every statement filters by `org_id`.
 */
import { and, desc, eq, like, lt, or } from "drizzle-orm";
import type { PagePosition } from "../lib/page-cursor";
import type { Db } from "./client";
import { auditLog, users } from "./schema";

export type AuditRow = typeof auditLog.$inferSelect & { actorEmail: string | null };

/** Escapes LIKE wildcards so a user-supplied prefix matches literally. */
const likePrefix = (s: string) => `${s.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;

/**
 * One page of the org's audit entries, newest first (`limit + 1` rows).
 * `action`: exact (`key.revoke`) or a prefix ending in `.*` (`key.*`). `actor`: an actor id or a user's email.
 */
export async function listAuditEntries(
  db: Db,
  orgId: string,
  q: { cursor?: PagePosition; limit: number; action?: string; actor?: string },
): Promise<AuditRow[]> {
  const after = q.cursor
    ? or(lt(auditLog.createdAt, q.cursor.at), and(eq(auditLog.createdAt, q.cursor.at), lt(auditLog.id, q.cursor.id)))
    : undefined;
  const action = q.action
    ? q.action.endsWith(".*")
      ? like(auditLog.action, likePrefix(q.action.slice(0, -1)))
      : eq(auditLog.action, q.action)
    : undefined;
  const actor = q.actor ? (q.actor.includes("@") ? eq(users.email, q.actor.toLowerCase()) : eq(auditLog.actorId, q.actor)) : undefined;
  const rows = await db
    .select({ entry: auditLog, actorEmail: users.email })
    .from(auditLog)
    .leftJoin(users, and(eq(auditLog.actorType, "user"), eq(users.id, auditLog.actorId)))
    .where(and(eq(auditLog.orgId, orgId), after, action, actor))
    .orderBy(desc(auditLog.createdAt), desc(auditLog.id))
    .limit(q.limit + 1);
  return rows.map((r) => ({ ...r.entry, actorEmail: r.actorEmail }));
}
