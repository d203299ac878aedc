/**
 * D1 reads that feed an org's gate (its hot copy, budget seeding and the alarm's "is the org still
 * there" check). Every statement filters by the org id. The gate calls these; nothing here writes.
 * Layout of the gate's copy: docs/storage.md.
 */
import type { providers } from "./schema";

/** The parts of the hot copy that load and reload independently. */
export type HotPart = "keys" | "providers" | "budgets" | "pricing" | "org" | "aliases" | "prompts" | "guardrails";
/** Every part, in load order. */
export const ALL_PARTS: HotPart[] = ["keys", "providers", "budgets", "pricing", "org", "aliases", "prompts", "guardrails"];

/** The provider kinds the gateway speaks to: the D1 `providers.type` enum, declared once in the schema. */
export type ProviderType = (typeof providers.$inferSelect)["type"];

/** `api_keys` columns the gate copies. */
export type KeySourceRow = {
  id: string; key_hash: string; team_id: string | null; created_by: string; allowed_models: string | null;
  rpm: number | null; tpm: number | null; expires_at: number | null; revoked_at: number | null; name: string | null; byok: string | null;
};

/** `providers` columns the gate copies (the API key stays sealed). */
export type ProviderSourceRow = { id: string; name: string; type: ProviderType; base_url: string; api_key_sealed: string; is_default: number };

/** `pricing_overrides` columns the gate copies (µ$ per million tokens). */
export type PricingSourceRow = {
  model: string; input_per_mtok: number; cached_input_per_mtok: number | null; cache_write_per_mtok: number | null;
  cache_write_1h_per_mtok: number | null; output_per_mtok: number; max_output_tokens: number | null;
};

/** `budgets` columns the gate copies, with the names its display labels need. */
export type BudgetSourceRow = {
  id: string; scope: string; scope_id: string | null; limit_micros: number | null; period: string; mode: string;
  rpm: number | null; tpm: number | null; alert_thresholds: string | null; velocity_limit_micros: number | null;
  velocity_window_seconds: number | null; velocity_cooldown_seconds: number | null; team_id: string | null;
  created_by_role: string | null; team_name: string | null; key_name: string | null; user_email: string | null;
};

/**
 * The org row's plan and billing anchor, and Σ its prepaid credit grants. The gate nulls
 * `credits_micros` when the deployment has credits off and adds the low-balance threshold. `admission`: the org's admission mode setting
 * (docs/budgets.md "Leases").
 */
export type OrgSourceRow = { plan: string; billing_anchor: number | null; credits_micros: number | null; credits_low_micros?: number | null; admission: string | null };

/** `model_aliases` columns the gate copies (`targets`: JSON array of `{provider, model}`, in order). */
export type AliasSourceRow = { name: string; targets: string };

/**
 * One version of a prompt (docs/prompts.md) with its prompt's name and labels (JSON object label →
 * version, repeated on each version row). A prompt without versions yields one row with `version` null.
 */
export type PromptSourceRow = { id: string; name: string; version: number | null; messages: string | null; variables: string | null; labels: string };
/** Enabled `guardrails` rows, in evaluation order (docs/guardrails.md). */
export type GuardrailSourceRow = { id: string; name: string; kind: string; action: string; scope: string; scope_id: string | null; config: string };

/** Rows of each part as read from D1. */
export type PartRows = {
  keys: KeySourceRow;
  providers: ProviderSourceRow;
  pricing: PricingSourceRow;
  budgets: BudgetSourceRow;
  org: OrgSourceRow;
  aliases: AliasSourceRow;
  prompts: PromptSourceRow;
  guardrails: GuardrailSourceRow;
};

/** The parts read by one {@link fetchParts} call (absent: not asked for). `org` is empty when the org is not in D1. */
export type Loaded = { [P in HotPart]?: PartRows[P][] };

const QUERIES: Record<HotPart, string> = {
  keys: "SELECT id, key_hash, team_id, created_by, allowed_models, rpm, tpm, expires_at, revoked_at, name, byok FROM api_keys WHERE org_id = ?1",
  providers: "SELECT id, name, type, base_url, api_key_sealed, is_default FROM providers WHERE org_id = ?1",
  pricing: "SELECT model, input_per_mtok, cached_input_per_mtok, cache_write_per_mtok, cache_write_1h_per_mtok, output_per_mtok, max_output_tokens FROM pricing_overrides WHERE org_id = ?1",
  budgets: `SELECT b.id, b.scope, b.scope_id, b.limit_micros, b.period, b.mode, b.rpm, b.tpm, b.alert_thresholds,
      b.velocity_limit_micros, b.velocity_window_seconds, b.velocity_cooldown_seconds, b.team_id, b.created_by_role,
      t.name AS team_name, k.name AS key_name, u.email AS user_email
    FROM budgets b
    LEFT JOIN teams t ON t.org_id = b.org_id AND ((b.scope = 'team' AND t.id = b.scope_id) OR (b.scope = 'member' AND b.scope_id IS NULL AND t.id = b.team_id))
    LEFT JOIN api_keys k ON b.scope = 'key' AND k.id = b.scope_id AND k.org_id = b.org_id
    LEFT JOIN memberships m ON b.scope = 'member' AND m.org_id = b.org_id AND m.user_id = b.scope_id
    LEFT JOIN users u ON u.id = m.user_id
    WHERE b.org_id = ?1`,
  org: "SELECT plan, billing_anchor, (SELECT COALESCE(SUM(amount_micros), 0) FROM credit_grants WHERE org_id = ?1) AS credits_micros, json_extract(settings, '$.admission') AS admission FROM orgs WHERE id = ?1",
  aliases: "SELECT name, targets FROM model_aliases WHERE org_id = ?1",
  prompts: `SELECT p.id, p.name, v.version, v.messages, v.variables,
      (SELECT json_group_object(l.label, l.version) FROM prompt_labels l WHERE l.prompt_id = p.id AND l.org_id = p.org_id) AS labels
    FROM prompts p LEFT JOIN prompt_versions v ON v.prompt_id = p.id AND v.org_id = p.org_id
    WHERE p.org_id = ?1`,
  guardrails: `SELECT id, name, kind, action, scope, scope_id, config FROM guardrails WHERE org_id = ?1 AND enabled = 1
    ORDER BY position, CASE scope WHEN 'org' THEN 0 WHEN 'team' THEN 1 ELSE 2 END, id`,
};

/** Reads the named parts of an org's hot copy from D1 in one batch (one round trip). */
export async function fetchParts(db: D1Database, orgId: string, parts: HotPart[]): Promise<Loaded> {
  const unique = [...new Set(parts)];
  const results = await db.batch(unique.map((p) => db.prepare(QUERIES[p]).bind(orgId)));
  const out: Record<string, unknown[]> = {};
  unique.forEach((p, i) => (out[p] = results[i]!.results ?? []));
  return out as Loaded;
}

/** True when the org row exists in D1; throws when D1 cannot be read. */
export async function orgExists(db: D1Database, orgId: string): Promise<boolean> {
  return (await db.prepare("SELECT 1 AS one FROM orgs WHERE id = ?").bind(orgId).first()) !== null;
}

/** What one seed query sums: a budget's cost events since a period start. */
export type SeedQuery = {
  periodStart: number;
  /** Which cost events count; `member` needs the key creator, which cost events do not carry. */
  filter:
    | { by: "all" }
    | { by: "team" | "key"; id: string | null }
    | { by: "customer"; id: string | null }
    | { by: "creator"; userId: string }
    | { by: "tag"; name: string; value: string };
  /** How the sum is split into instances: one total, per customer id, or per key creator. */
  per: "none" | "customer" | "creator";
};

/** The creator of a cost event's key, from D1 (cost events carry the key, not the user). */
const CREATOR_SQL = "(SELECT k.created_by FROM api_keys k WHERE k.id = cost_events.key_id AND k.org_id = cost_events.org_id)";

/**
 * Sums each query's cost events per instance subject ('' when not split), one statement per query,
 * one batch. A subject D1 has no value for (NULL) counts as ''.
 */
export async function fetchSeedSpend(db: D1Database, orgId: string, queries: SeedQuery[]): Promise<Array<Map<string, number>>> {
  if (!queries.length) return [];
  const stmts = queries.map(({ periodStart, filter: f, per }) => {
    const subject = per === "customer" ? "customer_id" : per === "creator" ? CREATOR_SQL : "''";
    let where = "";
    const binds: unknown[] = [orgId, periodStart];
    if (f.by === "team") (where = "AND team_id = ?"), binds.push(f.id);
    else if (f.by === "key") (where = "AND key_id = ?"), binds.push(f.id);
    else if (f.by === "customer") where = f.id === null ? "AND customer_id IS NOT NULL" : ((binds.push(f.id), "AND customer_id = ?"));
    else if (f.by === "creator") (where = `AND ${CREATOR_SQL} = ?`), binds.push(f.userId);
    else if (f.by === "tag") (where = "AND EXISTS (SELECT 1 FROM json_each(cost_events.tags) je WHERE je.key = ? AND je.value = ?)"), binds.push(f.name, f.value);
    return db
      .prepare(`SELECT ${subject} AS subject, COALESCE(SUM(cost_micros), 0) AS spent FROM cost_events WHERE org_id = ? AND created_at >= ? ${where} GROUP BY 1`)
      .bind(...binds);
  });
  const results = await db.batch<{ subject: string | null; spent: number }>(stmts);
  return results.map((r) => new Map((r.results ?? []).map((x) => [x.subject ?? "", Number(x.spent)])));
}
