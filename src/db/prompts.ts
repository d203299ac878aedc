/**
 * Org-scoped queries for prompt templates (docs/prompts.md). Every statement filters by `org_id`.
 * Versions are never updated: only inserted, and deleted with their prompt.
 */
import { and, asc, count, eq, sql } from "drizzle-orm";
import type { Db } from "./client";
import { promptLabels, prompts, promptVersions } from "./schema";

export type PromptRow = typeof prompts.$inferSelect;
export type PromptVersionRow = typeof promptVersions.$inferSelect;
export type PromptLabelRow = typeof promptLabels.$inferSelect;

/** Every prompt of the org, by name. */
export function listPrompts(db: Db, orgId: string): Promise<PromptRow[]> {
  return db.select().from(prompts).where(eq(prompts.orgId, orgId)).orderBy(asc(prompts.name));
}

/** Latest version number and labels of every prompt of the org (for the list view). */
export async function listPromptSummaries(db: Db, orgId: string): Promise<{ versions: Map<string, number>; labels: PromptLabelRow[] }> {
  const [v, l] = await db.batch([
    db.select({ promptId: promptVersions.promptId, latest: sql<number>`MAX(${promptVersions.version})` }).from(promptVersions).where(eq(promptVersions.orgId, orgId)).groupBy(promptVersions.promptId),
    db.select().from(promptLabels).where(eq(promptLabels.orgId, orgId)).orderBy(asc(promptLabels.label)),
  ]);
  return { versions: new Map(v.map((r) => [r.promptId, Number(r.latest)])), labels: l };
}

/** The prompt, or undefined when it does not exist in this org. */
export async function findPrompt(db: Db, orgId: string, id: string): Promise<PromptRow | undefined> {
  const rows = await db.select().from(prompts).where(and(eq(prompts.orgId, orgId), eq(prompts.id, id))).limit(1);
  return rows[0];
}

/** How many prompts the org has (the plan limits the count). */
export async function countPrompts(db: Db, orgId: string): Promise<number> {
  const rows = await db.select({ n: count() }).from(prompts).where(eq(prompts.orgId, orgId));
  return rows[0]?.n ?? 0;
}

/** Versions (oldest first) and labels of one prompt, in one batch. */
export async function promptDetail(db: Db, orgId: string, promptId: string): Promise<{ versions: PromptVersionRow[]; labels: PromptLabelRow[] }> {
  const [versions, labels] = await db.batch([
    db.select().from(promptVersions).where(and(eq(promptVersions.orgId, orgId), eq(promptVersions.promptId, promptId))).orderBy(asc(promptVersions.version)),
    db.select().from(promptLabels).where(and(eq(promptLabels.orgId, orgId), eq(promptLabels.promptId, promptId))).orderBy(asc(promptLabels.label)),
  ]);
  return { versions, labels };
}

/** The error message by which a batch built with {@link insertPromptWithinLimitStmt} reports the plan limit. */
export const PROMPT_LIMIT_VIOLATION = "NOT NULL constraint failed: prompts.id";

/** Insert of a prompt that fails (NOT NULL on `id`) when the org already has `limit` prompts: count and insert in one statement. */
export function insertPromptWithinLimitStmt(db: Db, row: typeof prompts.$inferInsert, limit: number | null) {
  if (limit === null) return db.insert(prompts).values(row);
  const guardedId = sql<string>`CASE WHEN (SELECT COUNT(*) FROM prompts WHERE org_id = ${row.orgId}) < ${limit} THEN ${row.id} ELSE NULL END`;
  return db.insert(prompts).values({ ...row, id: guardedId });
}

/** Insert of a new version (the primary key (prompt, version) refuses a concurrent duplicate number). */
export function insertPromptVersionStmt(db: Db, row: typeof promptVersions.$inferInsert) {
  return db.insert(promptVersions).values(row);
}

/** Sets a label to a version (creates the label when new). */
export function upsertPromptLabelStmt(db: Db, orgId: string, promptId: string, label: string, version: number, at: number) {
  return db
    .insert(promptLabels)
    .values({ orgId, promptId, label, version, updatedAt: at })
    .onConflictDoUpdate({ target: [promptLabels.promptId, promptLabels.label], set: { version, updatedAt: at } });
}

/** Marks the prompt changed (the gate's reconciliation fingerprint reads `updated_at`). */
export function touchPromptStmt(db: Db, orgId: string, id: string, patch: { updatedAt: number; description?: string }) {
  return db.update(prompts).set(patch).where(and(eq(prompts.orgId, orgId), eq(prompts.id, id)));
}

/** Delete of a prompt; its versions and labels go with it (foreign keys cascade), deleted here explicitly too. */
export function deletePromptStmts(db: Db, orgId: string, id: string) {
  return [
    db.delete(promptLabels).where(and(eq(promptLabels.orgId, orgId), eq(promptLabels.promptId, id))),
    db.delete(promptVersions).where(and(eq(promptVersions.orgId, orgId), eq(promptVersions.promptId, id))),
    db.delete(prompts).where(and(eq(prompts.orgId, orgId), eq(prompts.id, id))),
  ] as const;
}
