/**
 * Org-scoped queries for budgets and their events. Every statement filters on `org_id`.
 */
import { and, eq, inArray } from "drizzle-orm";
import type { Db } from "./client";
import { memberships, orgs, users } from "./schema";

/** Emails of the org's owner and admins, plus the org's configured alert addresses (deduplicated). */
export async function listAlertRecipients(db: Db, orgId: string): Promise<string[]> {
  const [admins, org] = await db.batch([
    db.select({ email: users.email }).from(memberships).innerJoin(users, eq(users.id, memberships.userId))
      .where(and(eq(memberships.orgId, orgId), inArray(memberships.role, ["owner", "admin"]))),
    db.select({ settings: orgs.settings }).from(orgs).where(eq(orgs.id, orgId)),
  ]);
  const extra = org[0]?.settings?.alert_emails ?? [];
  return [...new Set([...admins.map((a) => a.email), ...extra])];
}
