import { env } from "cloudflare:test";

export type AuditRow = {
  org_id: string; actor_type: string; actor_id: string; actor_ip: string | null; user_agent: string | null;
  action: string; target_type: string; target_id: string | null; before: string | null; after: string | null;
};

/** Audit rows of an org, oldest first, optionally only one action. */
export async function auditRows(orgId: string, action?: string): Promise<AuditRow[]> {
  const stmt = action
    ? env.DB.prepare("SELECT * FROM audit_log WHERE org_id = ? AND action = ? ORDER BY created_at, rowid").bind(orgId, action)
    : env.DB.prepare("SELECT * FROM audit_log WHERE org_id = ? ORDER BY created_at, rowid").bind(orgId);
  return (await stmt.all<AuditRow>()).results;
}

/**
 * Switches the row the single-org trigger reads (tests cannot change wrangler vars per test).
 * Restore with `setDbOrgMode("multi")` in afterEach: the D1 is shared by every test file.
 */
export async function setDbOrgMode(mode: "single" | "multi"): Promise<void> {
  await env.DB.prepare("INSERT OR REPLACE INTO system_settings (key, value) VALUES ('org_mode', ?)").bind(mode).run();
}

/** Role of a user in an org straight from D1 (undefined when not a member). */
export async function roleIn(orgId: string, userId: string): Promise<string | undefined> {
  const row = await env.DB.prepare("SELECT role FROM memberships WHERE org_id = ? AND user_id = ?").bind(orgId, userId).first<{ role: string }>();
  return row?.role;
}
