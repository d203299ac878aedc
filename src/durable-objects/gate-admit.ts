/**
 * Admission: one synchronous pass over the hot copy (key, route, allowed models, price, the budgets
 * and windows that apply), then the ledger's own checks and reservation (`Ledger.admit`, run inside
 * its transaction). Every check happens before any write, so a denial changes nothing except what it
 * must record (an `exceeded` alert, a tripped velocity breaker).
 */
import { timingSafeEqual } from "../lib/crypto";
import { planOf } from "../plans";
import { catalogPrice } from "../pricing/catalog";
import { costOfEstimate } from "../pricing/cost";
import { appliedWithPlan, labelOf, type AppliedBudget } from "./gate-budgets";
import type { GateOrg } from "./gate-hot-copy";
import type { GateKey, GateProvider } from "./gate-hot-copy";
import type { HotCache } from "./gate-hot-cache";
import { reservedOutputTokens, type AdmitOk, type AdmitRequest, type AdmitResult, type AdmitTemplate, type Denial, type KeyRefusal, type Price } from "./gate-protocol";
import { snapshotOf, type RateWindow } from "./gate-windows";
import type { Ledger, LedgerAdmit } from "./gate-ledger";

/** Constant-time key check against the hot copy. */
export function checkKey(hot: HotCache, keyId: string, keyHash: string, now: number):
  | { ok: true; key: GateKey }
  | { ok: false; reason: KeyRefusal } {
  const org = hot.org();
  if (org.deletedAt !== null || org.missing) return { ok: false, reason: "org_deleted" };
  const key = hot.key(keyId);
  if (!key || !timingSafeEqual(key.keyHash, keyHash)) return { ok: false, reason: "unknown" };
  if (key.revokedAt !== null) return { ok: false, reason: "revoked" };
  if (key.expiresAt !== null && key.expiresAt <= now) return { ok: false, reason: "expired" };
  return { ok: true, key };
}

/** `provider-name/model` → that provider; anything else → the org's default provider with the whole name. */
export function resolveRoute(providers: GateProvider[], model: string): { provider: GateProvider; upstreamModel: string } | null {
  const slash = model.indexOf("/");
  if (slash > 0) {
    const named = providers.find((p) => p.name === model.slice(0, slash));
    if (named) return { provider: named, upstreamModel: model.slice(slash + 1) };
  }
  const def = providers.find((p) => p.isDefault);
  return def ? { provider: def, upstreamModel: model } : null;
}

function modelMatches(pattern: string, name: string): boolean {
  return pattern.endsWith("*") ? name.startsWith(pattern.slice(0, -1)) : pattern === name;
}

/** Allowed-model check against the name as addressed, the bare upstream name and `provider/model`. */
export function modelAllowed(allowed: string[] | null, names: string[]): boolean {
  if (!allowed) return true;
  return allowed.some((p) => names.some((n) => modelMatches(p, n)));
}

/** Org override (as addressed, `provider/model`, bare), else the catalog. */
export function resolvePrice(hot: HotCache, names: string[], upstreamModel: string): Price | null {
  for (const n of names) {
    const o = hot.override(n);
    if (o) return o;
  }
  return catalogPrice(upstreamModel);
}

function rateWindowsFor(org: GateOrg, key: GateKey, applied: AppliedBudget[]): RateWindow[] {
  const plan = planOf(org.plan);
  const out: RateWindow[] = [];
  if (plan.orgRpm !== null) out.push({ wkey: "plan", kind: "rpm", limit: plan.orgRpm, scope: "org", scopeId: null, label: `the ${plan.name} plan's org RPM` });
  if (plan.orgTpm !== null) out.push({ wkey: "plan", kind: "tpm", limit: plan.orgTpm, scope: "org", scopeId: null, label: `the ${plan.name} plan's org TPM` });
  const keyLabel = `key '${key.name || key.id}'`;
  if (key.rpm !== null) out.push({ wkey: `key:${key.id}`, kind: "rpm", limit: key.rpm, scope: "key", scopeId: key.id, label: keyLabel });
  if (key.tpm !== null) out.push({ wkey: `key:${key.id}`, kind: "tpm", limit: key.tpm, scope: "key", scopeId: key.id, label: keyLabel });
  for (const a of applied) {
    const b = a.budget;
    const scopeId = b.scopeId ?? (a.subject || null);
    const wkey = `bud:${b.id}:${a.subject}`;
    if (b.rpm !== null) out.push({ wkey, kind: "rpm", limit: b.rpm, scope: b.scope, scopeId, label: labelOf(a) });
    if (b.tpm !== null) out.push({ wkey, kind: "tpm", limit: b.tpm, scope: b.scope, scopeId, label: labelOf(a) });
  }
  return out;
}

function deny(denial: Denial): { ok: false; denial: Denial } {
  return { ok: false, denial };
}

/** Everything admission decides before the ledger: the template of the answer, the budgets and windows, the estimate. */
export type PreparedAdmission = {
  template: AdmitTemplate;
  ledger: LedgerAdmit;
};

/**
 * Steps 1–5 of admission (key, BYOK, alias, route, allowed models, price, estimate, applicable budgets and
 * windows, unbounded check) over the hot copy; writes nothing. Shared by exact admission and lease grants.
 */
export function prepareAdmission(hot: HotCache, req: AdmitRequest, now: number): PreparedAdmission | { ok: false; denial: Denial } {
  const org = hot.org();
  const keyCheck = checkKey(hot, req.keyId, req.keyHash, now);
  if (!keyCheck.ok) return deny({ kind: "invalid_key", reason: keyCheck.reason });
  const key = keyCheck.key;
  const byok = key.byok ?? "off";
  if (req.byok && byok === "off") return deny({ kind: "byok_refused", reason: "not_allowed" });
  if (!req.byok && byok === "required") return deny({ kind: "byok_refused", reason: "required" });

  // A model alias is admitted as its first target; later targets come back as `alias` attempts.
  const aliasName = req.alias ?? (hot.alias(req.model) ? req.model : null);
  const targets = aliasName === null ? null : hot.alias(aliasName);
  if (aliasName !== null && (!targets || (req.alias !== undefined && !targets.includes(req.model)))) return deny({ kind: "model_not_allowed", model: req.model });
  // One caller key cannot serve targets of several providers: it would be sent to each of them.
  if (targets && req.byok) return deny({ kind: "byok_refused", reason: "alias" });
  const model = targets && req.alias === undefined ? targets[0]! : req.model;
  const route = resolveRoute(hot.providers(), model);
  // A target names its provider: it never falls through to the default provider.
  if (!route || (targets && !model.startsWith(`${route.provider.name}/`))) return deny({ kind: "no_provider", model });
  const { provider, upstreamModel } = route;
  const names = [...new Set([model, `${provider.name}/${upstreamModel}`, upstreamModel])];
  if (!modelAllowed(key.allowedModels, aliasName !== null ? [aliasName] : names)) return deny({ kind: "model_not_allowed", model: aliasName ?? model });
  const price = resolvePrice(hot, names, upstreamModel);
  if (!price) return deny({ kind: "model_not_priced", model });

  const inputTokens = Math.max(0, Math.ceil(req.estimate.inputTokens));
  const requested = Math.max(0, Math.ceil(req.estimate.outputTokens));
  const outputTokens = reservedOutputTokens(price, requested, req.outputCapFromModel === true, req.choices);
  const estimate = costOfEstimate(inputTokens, outputTokens, price);
  const tokens = inputTokens + outputTokens;

  const applied = appliedWithPlan(hot.budgets(), org, { keyId: key.id, teamId: key.teamId, userId: key.createdBy, attribution: req.attribution }, now);

  // A request without an upper bound could overrun any hard cap: refuse it before touching anything.
  if (req.unbounded) {
    const hard = applied.find((a) => a.budget.mode === "hard" && a.budget.limitMicros !== null);
    if (hard) return deny({ kind: "unbounded_request", param: req.unbounded.param, reason: req.unbounded.reason, label: labelOf(hard) });
  }

  return {
    template: {
      ok: true, keyId: key.id, teamId: key.teamId, userId: key.createdBy,
      route: {
        providerId: provider.id, providerName: provider.name, type: provider.type, baseUrl: provider.baseUrl,
        apiKeySealed: provider.apiKeySealed, upstreamModel,
      },
      price,
      ...(targets && aliasName !== null && req.alias === undefined ? { alias: { name: aliasName, targets } } : {}),
      ...guardrailsField(hot, key),
    },
    ledger: {
      orgId: req.orgId, requestId: req.requestId, now, applied, windows: rateWindowsFor(org, key, applied), micros: estimate, tokens, price,
      context: {
        keyId: key.id, teamId: key.teamId, endpoint: req.endpoint, providerName: provider.name, model: upstreamModel,
        attribution: req.attribution, inputTokens, outputTokens,
      },
    },
  };
}

/**
 * Admits or refuses one request; see the file comment. Key, route, allowed models and price come from
 * the hot copy; budgets, velocity, windows and the reservation from the ledger. Call inside
 * `ledger.transaction`.
 */
export function admitTx(hot: HotCache, ledger: Ledger, req: AdmitRequest, now: number): AdmitResult {
  const prepared = prepareAdmission(hot, req, now);
  if (!("template" in prepared)) return prepared;
  return admitPrepared(ledger, prepared, now);
}

/** The ledger half of exact admission for an already prepared request. */
export function admitPrepared(ledger: Ledger, prepared: PreparedAdmission, now: number): AdmitResult {
  const held = ledger.admit(prepared.ledger);
  if (!held.ok) return held;
  return {
    ...prepared.template, reservationId: held.reservationId, reservationExpiresAt: held.expiresAt,
    reservedMicros: prepared.ledger.micros, rateLimit: snapshotOf(held.windows, now),
  };
}

function guardrailsField(hot: HotCache, key: GateKey): { guardrails?: AdmitOk["guardrails"] } {
  const list = hot.guardrailsFor(key);
  return list.length ? { guardrails: list } : {};
}
