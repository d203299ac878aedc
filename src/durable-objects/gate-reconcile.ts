/**
 * The gate's own repair path for control-plane changes it never heard about (a failed push, or a Worker
 * that died between its D1 write and the push). One cheap D1 batch of per-part fingerprints; only parts
 * whose fingerprint moved are reloaded. Schedule and worst-case window: docs/convergence.md.
 */
import type { HotPart } from "./gate-hot-copy";
import { readMeta, writeMeta } from "./gate-schema";

/** How often an active gate compares its hot copy with D1. */
export const RECONCILE_INTERVAL_MS = 30_000;
/** A hot copy older than this is reconciled before it admits anything (idle gates, restarted objects). */
export const RECONCILE_STALE_MS = 60_000;
/** The periodic check stops after this long without admissions (the stale rule covers the next request). */
export const RECONCILE_IDLE_STOP_MS = 10 * 60_000;

/** Per part, a value that changes whenever the part's rows change in a way the gate must see. */
const FINGERPRINTS: Record<HotPart, string> = {
  keys: `SELECT COUNT(*) || ':' || COALESCE(MAX(updated_at), 0) || ':' || COALESCE(SUM(revoked_at IS NOT NULL), 0) || ':' || COALESCE(SUM(team_id IS NULL), 0) AS fp
    FROM api_keys WHERE org_id = ?1`,
  providers: "SELECT COUNT(*) || ':' || COALESCE(MAX(updated_at), 0) AS fp FROM providers WHERE org_id = ?1",
  budgets: "SELECT COUNT(*) || ':' || COALESCE(MAX(updated_at), 0) AS fp FROM budgets WHERE org_id = ?1",
  pricing: "SELECT COUNT(*) || ':' || COALESCE(MAX(updated_at), 0) AS fp FROM pricing_overrides WHERE org_id = ?1",
  aliases: "SELECT COUNT(*) || ':' || COALESCE(MAX(updated_at), 0) AS fp FROM model_aliases WHERE org_id = ?1",
  // Versions are only ever added or deleted with their prompt, and every change bumps prompts.updated_at.
  prompts: `SELECT (SELECT COUNT(*) || ':' || COALESCE(MAX(updated_at), 0) FROM prompts WHERE org_id = ?1) || '/' ||
    (SELECT COUNT(*) FROM prompt_versions WHERE org_id = ?1) || '/' ||
    (SELECT COUNT(*) || ':' || COALESCE(MAX(updated_at), 0) FROM prompt_labels WHERE org_id = ?1) AS fp`,
  guardrails: "SELECT COUNT(*) || ':' || COALESCE(MAX(updated_at), 0) AS fp FROM guardrails WHERE org_id = ?1",
  org: `SELECT plan || ':' || COALESCE(billing_anchor, '') || ':' || (SELECT COUNT(*) || ':' || COALESCE(SUM(amount_micros), 0) FROM credit_grants WHERE org_id = ?1) || ':' || COALESCE(json_extract(settings, '$.admission'), '') AS fp
    FROM orgs WHERE id = ?1`,
};
const PARTS = Object.keys(FINGERPRINTS) as HotPart[];

/** Current fingerprints from D1 (one batch, one round trip); `org` is null when the org row is gone. */
export async function readFingerprints(db: D1Database, orgId: string): Promise<Record<HotPart, string | null>> {
  const results = await db.batch(PARTS.map((p) => db.prepare(FINGERPRINTS[p]).bind(orgId)));
  const out = {} as Record<HotPart, string | null>;
  PARTS.forEach((p, i) => (out[p] = ((results[i]!.results?.[0] as { fp?: string | null } | undefined)?.fp ?? null)));
  return out;
}

/** Parts whose D1 fingerprint differs from the one recorded at the last reconciliation (all, the first time). */
export function changedParts(sql: SqlStorage, fps: Record<HotPart, string | null>): HotPart[] {
  return PARTS.filter((p) => readMeta(sql, `fp_${p}`) !== (fps[p] ?? ""));
}

/**
 * Records fingerprints read *before* the reload they led to: a change landing in between moves the
 * fingerprint again, so the next reconciliation reloads once more instead of missing it.
 */
export function storeFingerprints(sql: SqlStorage, fps: Record<HotPart, string | null>): void {
  for (const p of PARTS) writeMeta(sql, `fp_${p}`, fps[p] ?? "");
}
