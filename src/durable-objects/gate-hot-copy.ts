/**
 * The hot copy: the org's keys, providers (API keys stay sealed), pricing overrides, budgets, plan
 * and billing anchor, loaded from D1 once per object (and per `refresh`), kept in the object's
 * SQLite and served to admission from memory (gate-hot-cache.ts), so the hot path never touches D1.
 */
import { catalogPrice } from "../pricing/catalog";
import type { AdmissionMode, Price } from "./gate-protocol";
import type { GateBudget, Period } from "./gate-budgets";
import { readMeta, writeMeta } from "./gate-schema";
import type { HotPart, Loaded, ProviderType } from "../db/gate-source";
import { applyPrompts } from "./gate-prompts";
import type { GuardrailScope, GuardrailSpec } from "../guardrails/spec";

export { ALL_PARTS, type HotPart } from "../db/gate-source";

/** The hot copy of one virtual key held by the org's gate. */
export type GateKey = {
  id: string;
  keyHash: string;
  teamId: string | null;
  createdBy: string;
  allowedModels: string[] | null;
  rpm: number | null;
  tpm: number | null;
  expiresAt: number | null;
  revokedAt: number | null;
  /** Display name (labels in denial messages); optional for callers of `syncKey`. */
  name?: string;
  /** Caller-supplied provider keys (docs/proxy.md#byok); `off` when absent. */
  byok?: "off" | "allowed" | "required";
};

export type GateProvider = { id: string; name: string; type: ProviderType; baseUrl: string; apiKeySealed: string; isDefault: boolean };

/** An enabled guardrail of the hot copy with the scope it applies to. */
export type GateGuardrail = { scope: GuardrailScope; scopeId: string | null; spec: GuardrailSpec };

/**
 * `creditsMicros`: Σ prepaid credit grants when credits are on for this deployment, else null (no
 * credits scope); `creditsLowMicros`: the low-balance alert threshold (0: none).
 */
export type GateOrg = { plan: string; billingAnchor: number | null; deletedAt: number | null; missing: boolean; creditsMicros: number | null; creditsLowMicros: number;
  /** The org's admission mode setting (docs/budgets.md "Leases"); strict unless set to lease. */
  admission: AdmissionMode;
};

type Row = Record<string, unknown>;

function budgetLabel(r: Row): string {
  switch (r.scope) {
    case "org":
      return "org";
    case "team":
      return `team '${(r.team_name as string | null) ?? r.scope_id}'`;
    case "key":
      return `key '${(r.key_name as string | null) ?? r.scope_id}'`;
    case "customer":
      return r.scope_id === null ? "default customer budget" : `customer '${r.scope_id}'`;
    case "member":
      return r.scope_id === null
        ? `default member budget of team '${(r.team_name as string | null) ?? r.team_id}'`
        : `member '${(r.user_email as string | null) ?? r.scope_id}'`;
    default:
      return `tag '${r.scope_id}'`;
  }
}

/** Budgets from before roles were recorded count as set by an admin (members could not create member budgets then). */
function isAdminSet(r: Row): boolean {
  return r.created_by_role !== "member" && r.created_by_role !== "viewer";
}

/** Replaces the named parts of the hot copy (call inside `transactionSync`). */
export function applyParts(sql: SqlStorage, loaded: Loaded): void {
  if (loaded.keys) {
    // Keys gone from D1 leave; the rest are upserted so a revocation already applied here survives.
    const ids = loaded.keys.map((r) => r.id as string);
    sql.exec(`DELETE FROM keys WHERE id NOT IN (SELECT value FROM json_each(?))`, JSON.stringify(ids));
    for (const r of loaded.keys) {
      const allowed = r.allowed_models === null || r.allowed_models === undefined ? null : String(r.allowed_models);
      upsertKey(sql, {
        id: r.id as string, keyHash: r.key_hash as string, teamId: (r.team_id as string | null) ?? null, createdBy: r.created_by as string,
        allowedModels: allowed && allowed !== "null" ? (JSON.parse(allowed) as string[]) : null,
        rpm: (r.rpm as number | null) ?? null, tpm: (r.tpm as number | null) ?? null, expiresAt: (r.expires_at as number | null) ?? null,
        revokedAt: (r.revoked_at as number | null) ?? null, name: (r.name as string | null) ?? "", byok: (r.byok as GateKey["byok"]) ?? "off",
      });
    }
  }
  if (loaded.providers) {
    sql.exec("DELETE FROM providers");
    for (const r of loaded.providers) {
      sql.exec("INSERT INTO providers (id, name, type, base_url, api_key_sealed, is_default) VALUES (?,?,?,?,?,?)",
        r.id as string, r.name as string, r.type as string, r.base_url as string, r.api_key_sealed as string, r.is_default ? 1 : 0);
    }
  }
  if (loaded.pricing) {
    sql.exec("DELETE FROM pricing");
    for (const r of loaded.pricing) {
      sql.exec("INSERT INTO pricing (model, input, cached_input, cache_write, cache_write_1h, output, max_output) VALUES (?,?,?,?,?,?,?)",
        r.model as string, r.input_per_mtok as number, (r.cached_input_per_mtok as number | null) ?? null, (r.cache_write_per_mtok as number | null) ?? null,
        (r.cache_write_1h_per_mtok as number | null) ?? null, r.output_per_mtok as number, (r.max_output_tokens as number | null) ?? null);
    }
  }
  if (loaded.budgets) {
    sql.exec("DELETE FROM budgets");
    for (const r of loaded.budgets) {
      sql.exec(
        `INSERT INTO budgets (id, scope, scope_id, limit_micros, period, mode, rpm, tpm, thresholds, velocity_limit, velocity_window_s, velocity_cooldown_s, label, team_id, admin_set)
         VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
        r.id as string, r.scope as string, (r.scope_id as string | null) ?? null, (r.limit_micros as number | null) ?? null, r.period as string, r.mode as string,
        (r.rpm as number | null) ?? null, (r.tpm as number | null) ?? null, String(r.alert_thresholds ?? "[50,80,90,100]"),
        (r.velocity_limit_micros as number | null) ?? null, (r.velocity_window_seconds as number | null) ?? null, (r.velocity_cooldown_seconds as number | null) ?? null,
        budgetLabel(r), (r.team_id as string | null) ?? null, isAdminSet(r) ? 1 : 0,
      );
    }
  }
  if (loaded.aliases) {
    // Few and small: kept as one meta JSON value (alias name → ordered `provider-name/model` targets).
    const map: Record<string, string[]> = {};
    for (const r of loaded.aliases) {
      map[r.name as string] = (JSON.parse(r.targets as string) as Array<{ provider: string; model: string }>).map((t) => `${t.provider}/${t.model}`);
    }
    writeMeta(sql, "model_aliases", JSON.stringify(map));
  }
  if (loaded.prompts) applyPrompts(sql, loaded.prompts);
  if (loaded.guardrails) {
    // Few and small, like aliases: one meta JSON value, already in evaluation order.
    const list: GateGuardrail[] = loaded.guardrails.map((r) => ({
      scope: r.scope as GateGuardrail["scope"], scopeId: r.scope_id ?? null,
      spec: { id: r.id, name: r.name, kind: r.kind, action: r.action, config: JSON.parse(r.config) } as GuardrailSpec,
    }));
    writeMeta(sql, "guardrails", JSON.stringify(list));
  }
  if (loaded.org) {
    const r = loaded.org[0];
    writeMeta(sql, "org_plan", r ? String(r.plan) : "free");
    writeMeta(sql, "org_billing_anchor", r && r.billing_anchor !== null && r.billing_anchor !== undefined ? String(r.billing_anchor) : "");
    writeMeta(sql, "org_missing", r ? "" : "1");
    writeMeta(sql, "org_credits", r && r.credits_micros !== null && r.credits_micros !== undefined ? String(r.credits_micros) : "");
    writeMeta(sql, "org_credits_low", r?.credits_low_micros ? String(r.credits_low_micros) : "");
    writeMeta(sql, "org_admission", r?.admission === "lease" ? "lease" : "strict");
  }
}

/**
 * Inserts or updates one key. Revocation is one-way: an existing `revoked_at` is kept even when the
 * incoming copy has none (a stale `syncKey` or D1 read racing a revoke must never revive the key).
 */
export function upsertKey(sql: SqlStorage, k: GateKey): void {
  sql.exec(
    `INSERT INTO keys (id, key_hash, team_id, created_by, allowed_models, rpm, tpm, expires_at, revoked_at, name, byok) VALUES (?,?,?,?,?,?,?,?,?,?,?)
     ON CONFLICT (id) DO UPDATE SET key_hash = excluded.key_hash, team_id = excluded.team_id, created_by = excluded.created_by,
       allowed_models = excluded.allowed_models, rpm = excluded.rpm, tpm = excluded.tpm, expires_at = excluded.expires_at,
       revoked_at = COALESCE(keys.revoked_at, excluded.revoked_at), name = excluded.name, byok = excluded.byok`,
    k.id, k.keyHash, k.teamId, k.createdBy, k.allowedModels ? JSON.stringify(k.allowedModels) : null, k.rpm, k.tpm, k.expiresAt, k.revokedAt, k.name ?? "", k.byok ?? "off",
  );
}

/** One key of the hot copy. */
export function readKey(sql: SqlStorage, keyId: string): GateKey | undefined {
  const r = sql.exec<Record<string, string | number | null>>("SELECT * FROM keys WHERE id = ?", keyId).toArray()[0];
  if (!r) return undefined;
  return {
    id: r.id as string, keyHash: r.key_hash as string, teamId: r.team_id as string | null, createdBy: r.created_by as string,
    allowedModels: r.allowed_models ? (JSON.parse(r.allowed_models as string) as string[]) : null,
    rpm: r.rpm as number | null, tpm: r.tpm as number | null, expiresAt: r.expires_at as number | null, revokedAt: r.revoked_at as number | null,
    name: (r.name as string) ?? "", byok: ((r.byok as string | null) ?? "off") as GateKey["byok"],
  };
}

/** Every provider of the org. */
export function readProviders(sql: SqlStorage): GateProvider[] {
  return sql.exec<Record<string, string | number>>("SELECT * FROM providers ORDER BY name").toArray().map((r) => ({
    id: r.id as string, name: r.name as string, type: r.type as GateProvider["type"], baseUrl: r.base_url as string,
    apiKeySealed: r.api_key_sealed as string, isDefault: Number(r.is_default) === 1,
  }));
}

/**
 * Output cap of an override that sets none: the catalog's cap for the same model (as named, or
 * without its `provider/` prefix), else {@link DEFAULT_OUTPUT_CAP_TOKENS}. Never 0, so a request
 * without `max_tokens` always reserves output (docs/money.md).
 */
export function overrideOutputCap(model: string): number {
  const cap = catalogPrice(model)?.maxOutputTokens ?? catalogPrice(model.slice(model.indexOf("/") + 1))?.maxOutputTokens ?? 0;
  return cap > 0 ? cap : DEFAULT_OUTPUT_CAP_TOKENS;
}

/** Output cap assumed for an org-priced model the catalog does not know (the largest catalog cap). */
export const DEFAULT_OUTPUT_CAP_TOKENS = 128_000;

/** The org's price override for a model name, or null. Missing cache prices fall back to input-relative defaults. */
export function readOverride(sql: SqlStorage, model: string): Price | null {
  const r = sql.exec<Record<string, number | null>>("SELECT * FROM pricing WHERE model = ?", model).toArray()[0];
  if (!r) return null;
  const input = r.input as number;
  return {
    inputPerMtok: input,
    cachedInputPerMtok: r.cached_input ?? input,
    cacheWritePerMtok: r.cache_write ?? input,
    cacheWrite1hPerMtok: r.cache_write_1h ?? r.cache_write ?? input,
    outputPerMtok: r.output as number,
    maxOutputTokens: r.max_output ?? overrideOutputCap(model),
  };
}

/** Budgets as they will be once `loaded.budgets` is applied (for seeding before the apply). */
export function budgetsFromRows(rows: Row[]): GateBudget[] {
  return rows.map((r) => toBudget({
    id: r.id as string, scope: r.scope as string, scope_id: (r.scope_id as string | null) ?? null, limit_micros: (r.limit_micros as number | null) ?? null,
    period: r.period as string, mode: r.mode as string, rpm: (r.rpm as number | null) ?? null, tpm: (r.tpm as number | null) ?? null,
    thresholds: String(r.alert_thresholds ?? "[50,80,90,100]"), velocity_limit: (r.velocity_limit_micros as number | null) ?? null,
    velocity_window_s: (r.velocity_window_seconds as number | null) ?? null, velocity_cooldown_s: (r.velocity_cooldown_seconds as number | null) ?? null,
    label: budgetLabel(r), team_id: (r.team_id as string | null) ?? null, admin_set: isAdminSet(r) ? 1 : 0,
  }));
}

/** Σ credit grants carried by a loaded `org` part (null: credits off), or undefined when the part was not loaded. */
export function creditsFromLoaded(loaded: Loaded): number | null | undefined {
  if (!loaded.org) return undefined;
  const c = loaded.org[0]?.credits_micros;
  return c === null || c === undefined ? null : Number(c);
}

/** The billing anchor carried by a loaded `org` part, or undefined when the part was not loaded. */
export function anchorFromLoaded(loaded: Loaded): number | null | undefined {
  if (!loaded.org) return undefined;
  const a = loaded.org[0]?.billing_anchor;
  return a === null || a === undefined ? null : Number(a);
}


/** Every budget of the org. */
export function readBudgets(sql: SqlStorage): GateBudget[] {
  return sql.exec<Record<string, string | number | null>>("SELECT * FROM budgets ORDER BY id").toArray().map(toBudget);
}

function toBudget(r: Record<string, string | number | null>): GateBudget {
  return ({
    id: r.id as string, scope: r.scope as GateBudget["scope"], scopeId: r.scope_id as string | null, limitMicros: r.limit_micros as number | null,
    period: r.period as Period, mode: r.mode as "hard" | "soft", rpm: r.rpm as number | null, tpm: r.tpm as number | null,
    thresholds: JSON.parse(r.thresholds as string) as number[],
    velocity: r.velocity_limit !== null && r.velocity_window_s !== null
      ? { limitMicros: r.velocity_limit as number, windowSeconds: r.velocity_window_s as number, cooldownSeconds: (r.velocity_cooldown_s as number | null) ?? 300 }
      : null,
    label: r.label as string, teamId: (r.team_id as string | null) ?? null, adminSet: r.admin_set === null || r.admin_set === undefined || Number(r.admin_set) === 1,
  });
}

/** Plan, billing anchor and deletion state of the org. */
export function readOrg(sql: SqlStorage): GateOrg {
  const anchor = readMeta(sql, "org_billing_anchor");
  const deleted = readMeta(sql, "deleted_at");
  const credits = readMeta(sql, "org_credits");
  return {
    plan: readMeta(sql, "org_plan") ?? "free", billingAnchor: anchor ? Number(anchor) : null, deletedAt: deleted ? Number(deleted) : null, missing: readMeta(sql, "org_missing") === "1",
    creditsMicros: credits ? Number(credits) : null, creditsLowMicros: Number(readMeta(sql, "org_credits_low") || 0),
    admission: readMeta(sql, "org_admission") === "lease" ? "lease" : "strict",
  };
}

/** Model aliases of the org: name → ordered `provider-name/model` targets (docs/providers.md#fallbacks). */
export function readAliases(sql: SqlStorage): Map<string, string[]> {
  const raw = readMeta(sql, "model_aliases");
  return new Map(Object.entries(raw ? (JSON.parse(raw) as Record<string, string[]>) : {}));
}

/** Enabled guardrails of the org in evaluation order (docs/guardrails.md). */
export function readGuardrails(sql: SqlStorage): GateGuardrail[] {
  const raw = readMeta(sql, "guardrails");
  return raw ? (JSON.parse(raw) as GateGuardrail[]) : [];
}
