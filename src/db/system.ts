import { sql } from "drizzle-orm";
import type { Db } from "./client";
import { systemSettings } from "./schema";

let recordedMode: string | undefined;

/**
 * Records the deployment's ORG_MODE in D1 so the `memberships_single_org` trigger can enforce it.
 * Once per isolate, control plane only (never on the proxy path).
 */
export async function recordOrgMode(db: Db, mode: string): Promise<void> {
  if (recordedMode === mode) return;
  await db
    .insert(systemSettings)
    .values({ key: "org_mode", value: mode })
    .onConflictDoUpdate({ target: systemSettings.key, set: { value: sql`excluded.value` } });
  recordedMode = mode;
}

/** Forgets the cached mode (tests switch ORG_MODE within one isolate). */
export function resetRecordedOrgMode(): void {
  recordedMode = undefined;
}

/** Rows deleted per statement by {@link pruneExpired}: small enough for one D1 statement's time limit. */
export const PRUNE_BATCH = 500;
/** Statements per table per run at most, so one scheduled run is bounded (≤ PRUNE_BATCH × PRUNE_ROUNDS rows per table). */
export const PRUNE_ROUNDS = 10;
/**
 * Rate-limit windows older than this are dropped. The sliding window reads the current and the previous
 * window, so this must exceed twice the longest window in use (15 min for login today).
 */
export const RATE_LIMIT_RETENTION_MS = 24 * 3_600_000;

/** What one pruning run deleted, per table. */
export type PruneResult = { sessions: number; emailTokens: number; rateLimits: number };

const PRUNE_SQL = {
  // Expired or revoked sessions can never authenticate again.
  sessions: "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE expires_at <= ?1 OR revoked_at IS NOT NULL LIMIT ?2)",
  // Used tokens expire too; an expired one can never be redeemed.
  emailTokens: "DELETE FROM email_tokens WHERE id IN (SELECT id FROM email_tokens WHERE expires_at <= ?1 LIMIT ?2)",
  rateLimits: "DELETE FROM rate_limits WHERE rowid IN (SELECT rowid FROM rate_limits WHERE window_start < ?1 LIMIT ?2)",
} as const;

/**
 * Deletes expired sessions, expired email tokens and stale rate-limit windows in bounded batches (one
 * statement per table per round, at most {@link PRUNE_ROUNDS} rounds). Run by the Cron Trigger; what is
 * left over is taken by the next run.
 */
export async function pruneExpired(d1: D1Database, now = Date.now(), batch = PRUNE_BATCH, rounds = PRUNE_ROUNDS): Promise<PruneResult> {
  const total: PruneResult = { sessions: 0, emailTokens: 0, rateLimits: 0 };
  const cutoff: Record<keyof PruneResult, number> = { sessions: now, emailTokens: now, rateLimits: now - RATE_LIMIT_RETENTION_MS };
  let pending = Object.keys(PRUNE_SQL) as Array<keyof PruneResult>;
  for (let round = 0; round < rounds && pending.length; round++) {
    const results = await d1.batch(pending.map((t) => d1.prepare(PRUNE_SQL[t]).bind(cutoff[t], batch)));
    const next: Array<keyof PruneResult> = [];
    pending.forEach((t, i) => {
      const n = results[i]!.meta.changes ?? 0;
      total[t] += n;
      if (n === batch) next.push(t);
    });
    pending = next;
  }
  return total;
}
