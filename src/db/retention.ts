/**
 * Cost-event retention (docs/billing.md "Retention"): deletes each org's cost events older than its plan's
 * `retentionDays`, in bounded batches, resumable across Cron runs. Only `cost_events`: audit rows, budget
 * events and billing records (`stripe_events`) are kept.
 */
import { and, asc, eq, gt, inArray, lt, sql } from "drizzle-orm";
import type { Db } from "./client";
import { costEvents, orgs, systemSettings } from "./schema";
import { planOf } from "../plans";

/** Rows per DELETE: far below D1's per-statement time and size limits. */
export const RETENTION_BATCH = 500;
/** DELETE statements per run at most (≤ RETENTION_BATCH × this rows per run). */
export const RETENTION_MAX_STATEMENTS = 40;
/** Orgs read per page of the walk. */
const ORG_PAGE = 200;
const CURSOR_KEY = "retention_cursor";
const DAY_MS = 86_400_000;

/** What one run did. `cursor`: the org id the next run starts after ('' = from the beginning). */
export type RetentionResult = { deleted: number; orgs: number; statements: number; cursor: string };

/** One bounded batch of an org's expired cost events; answers how many rows went. */
async function deleteExpiredBatch(db: Db, orgId: string, cutoffMs: number, batch: number): Promise<number> {
  const expired = db
    .select({ id: costEvents.requestId })
    .from(costEvents)
    .where(and(eq(costEvents.orgId, orgId), lt(costEvents.createdAt, cutoffMs)))
    .limit(batch);
  const res = await db.delete(costEvents).where(and(eq(costEvents.orgId, orgId), inArray(costEvents.requestId, expired)));
  return res.meta.changes ?? 0;
}

/**
 * Walks the orgs in id order from the stored cursor, deleting expired cost events per org until the
 * statement budget is spent; stores where it stopped (the org being pruned is resumed next run) and wraps
 * to the start after the last org.
 */
export async function pruneExpiredCostEvents(db: Db, now = Date.now(), batch = RETENTION_BATCH, maxStatements = RETENTION_MAX_STATEMENTS): Promise<RetentionResult> {
  let cursor = (await db.select({ v: systemSettings.value }).from(systemSettings).where(eq(systemSettings.key, CURSOR_KEY)).get())?.v ?? "";
  const out: RetentionResult = { deleted: 0, orgs: 0, statements: 0, cursor };
  walk: for (;;) {
    const page = await db.select({ id: orgs.id, plan: orgs.plan }).from(orgs).where(gt(orgs.id, cursor)).orderBy(asc(orgs.id)).limit(ORG_PAGE);
    for (const org of page) {
      const days = planOf(org.plan).retentionDays;
      if (days !== null) {
        const cutoff = now - days * DAY_MS;
        for (;;) {
          if (out.statements >= maxStatements) break walk;
          const n = await deleteExpiredBatch(db, org.id, cutoff, batch);
          out.statements++;
          out.deleted += n;
          if (n < batch) break;
        }
      }
      out.orgs++;
      cursor = org.id;
    }
    if (page.length < ORG_PAGE) {
      cursor = "";
      break;
    }
  }
  out.cursor = cursor;
  await db
    .insert(systemSettings)
    .values({ key: CURSOR_KEY, value: cursor })
    .onConflictDoUpdate({ target: systemSettings.key, set: { value: sql`excluded.value` } });
  return out;
}
