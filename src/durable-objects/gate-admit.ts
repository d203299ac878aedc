/**
 * Admission: one synchronous pass over the hot copy and the ledger (run inside `transactionSync`).
 * Every check happens before any write, so a denial changes nothing except what it must record
 * (an `exceeded` alert, a tripped velocity breaker). An admission reserves the estimate in every
 * budget instance that applies, so for hard budgets `spent + reserved <= limit` holds at every moment.
 */
import { timingSafeEqual } from "../lib/crypto";
import { randomBase62 } from "../lib/encoding";
import { planOf } from "../plans";
import { catalogPrice } from "../pricing/catalog";
import { costOfEstimate } from "../pricing/cost";
import { appliedWithPlan, isoOrNull, labelOf, PLAN_CAP_ID, type AppliedBudget } from "./gate-budgets";
import type { GateOrg } from "./gate-hot-copy";
import type { GateKey, GateProvider } from "./gate-hot-copy";
import type { HotCache } from "./gate-hot-cache";
import { queueBudgetEvent } from "./gate-outbox";
import { RESERVATION_TTL_MS, reservedOutputTokens, type AdmitRequest, type AdmitResult, type Denial, type Price } from "./gate-protocol";
import { chargeWindows, firstFullWindow, readWindows, snapshotOf, type RateWindow } from "./gate-windows";
import { newEventId, recordAlertOnce, type ReservationContext } from "./gate-ledger";

/** Constant-time key check against the hot copy. */
export function checkKey(hot: HotCache, keyId: string, keyHash: string, now: number):
  | { ok: true; key: GateKey }
  | { ok: false; reason: "unknown" | "revoked" | "expired" | "org_deleted" } {
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

/** Serialised prices, so repeated admissions of the same cached price do not re-serialise it. */
const PRICE_JSON = new WeakMap<Price, string>();
function priceJson(p: Price): string {
  let j = PRICE_JSON.get(p);
  if (j === undefined) PRICE_JSON.set(p, (j = JSON.stringify(p)));
  return j;
}

function deny(denial: Denial): AdmitResult {
  return { ok: false, denial };
}

/** Admits or refuses one request; see the file comment. Call inside `transactionSync`. */
export function admitTx(sql: SqlStorage, hot: HotCache, req: AdmitRequest, now: number): AdmitResult {
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

  // Money: every hard budget must still fit the estimate; soft budgets only record the crossing.
  for (const a of applied) {
    const limit = a.budget.limitMicros;
    if (limit === null) continue;
    const c = hot.counter(a.budget.id, a.subject, a.periodStart);
    if (c.spent + c.reserved + estimate <= limit) continue;
    if (a.budget.id !== PLAN_CAP_ID) {
      recordAlertOnce(sql, req.orgId, a, "exceeded", 100, c.spent, now);
    }
    if (a.budget.mode === "soft") continue;
    return deny({
      kind: "budget_exceeded", source: a.budget.id === PLAN_CAP_ID ? "plan_cap" : "budget", scope: a.budget.scope,
      scopeId: a.budget.scopeId ?? (a.subject || null), budgetId: a.budget.id === PLAN_CAP_ID ? null : a.budget.id,
      limitMicros: limit, spentMicros: c.spent, reservedMicros: c.reserved, resetsAt: isoOrNull(a.resetsAt), label: labelOf(a), period: a.budget.period,
    });
  }

  // Velocity: a tripped breaker refuses until its cool-down ends; spend in the sliding window + this
  // estimate over the limit trips it.
  for (const a of applied) {
    const v = a.budget.velocity;
    if (!v) continue;
    const scopeId = a.budget.scopeId ?? (a.subject || null);
    const br = sql.exec<{ tripped_until: number }>("SELECT tripped_until FROM breakers WHERE budget_id = ? AND subject = ?", a.budget.id, a.subject).toArray()[0];
    if (br && br.tripped_until > now) {
      return deny({ kind: "velocity_tripped", scope: a.budget.scope, scopeId, budgetId: a.budget.id, retryAfterMs: br.tripped_until - now, label: labelOf(a) });
    }
    const inWindow = sql.exec<{ s: number }>(
      "SELECT COALESCE(SUM(micros), 0) AS s FROM velocity WHERE budget_id = ? AND subject = ? AND at > ?", a.budget.id, a.subject, now - v.windowSeconds * 1000,
    ).one().s;
    if (inWindow + estimate > v.limitMicros) {
      const until = now + v.cooldownSeconds * 1000;
      sql.exec("INSERT OR REPLACE INTO breakers (budget_id, subject, tripped_at, tripped_until) VALUES (?, ?, ?, ?)", a.budget.id, a.subject, now, until);
      queueBudgetEvent(sql, {
        id: newEventId(), org_id: req.orgId, budget_id: a.budget.id, scope_id: scopeId, kind: "velocity_tripped", period_start: now,
        threshold: 0, spent_micros: inWindow, limit_micros: v.limitMicros, created_at: now,
      }, now);
      return deny({ kind: "velocity_tripped", scope: a.budget.scope, scopeId, budgetId: a.budget.id, retryAfterMs: until - now, label: labelOf(a) });
    }
  }

  // Rate: every RPM/TPM window must have room.
  const windows = readWindows(hot, rateWindowsFor(org, key, applied), now);
  const full = firstFullWindow(windows, tokens);
  if (full) {
    return deny({
      kind: "rate_limited", scope: full.scope, scopeId: full.scopeId, window: full.kind, limit: full.limit,
      retryAfterMs: Math.max(1, full.windowStart + 60_000 - now), label: full.label,
    });
  }

  // Admitted: reserve everywhere, in this same transaction.
  const reservationId = `rsv_${randomBase62(16)}`;
  const expiresAt = now + RESERVATION_TTL_MS;
  const customerId = req.attribution.customerId;
  if (customerId && !hot.customerKnown(customerId)) {
    sql.exec("INSERT OR IGNORE INTO customers (id, first_seen) VALUES (?, ?)", customerId, now);
  }
  for (const a of applied) {
    sql.exec(
      `INSERT INTO counters (budget_id, subject, period_start, spent, reserved) VALUES (?, ?, ?, 0, ?)
       ON CONFLICT (budget_id, subject, period_start) DO UPDATE SET reserved = reserved + excluded.reserved`,
      a.budget.id, a.subject, a.periodStart, estimate,
    );
    if (a.budget.velocity) {
      sql.exec("INSERT INTO velocity (budget_id, subject, at, micros, ref) VALUES (?, ?, ?, ?, ?)", a.budget.id, a.subject, now, estimate, reservationId);
    }
  }
  chargeWindows(sql, hot, windows, tokens);
  sql.exec(
    "INSERT INTO reservations (id, request_id, created_at, expires_at, micros, tokens, price, counters, windows, context) VALUES (?,?,?,?,?,?,?,?,?,?)",
    reservationId, req.requestId, now, expiresAt, estimate, tokens, priceJson(price),
    JSON.stringify(applied.map((a) => [a.budget.id, a.subject, a.periodStart])),
    JSON.stringify(windows.filter((w) => w.kind === "tpm").map((w) => ({ wkey: w.wkey, windowStart: w.windowStart }))),
    JSON.stringify({
      keyId: key.id, teamId: key.teamId, endpoint: req.endpoint, providerName: provider.name, model: upstreamModel,
      attribution: req.attribution, inputTokens, outputTokens,
    } satisfies ReservationContext),
  );

  // SQLite has every write: bring the cached counters along (the transaction can no longer fail here).
  for (const a of applied) {
    const c = hot.cachedCounter(a.budget.id, a.subject, a.periodStart);
    if (c) c.reserved += estimate;
  }
  if (customerId) hot.noteCustomer(customerId);

  return {
    ok: true, reservationId, reservationExpiresAt: expiresAt, keyId: key.id, teamId: key.teamId, userId: key.createdBy,
    route: {
      providerId: provider.id, providerName: provider.name, type: provider.type, baseUrl: provider.baseUrl,
      apiKeySealed: provider.apiKeySealed, upstreamModel,
    },
    price, reservedMicros: estimate, rateLimit: snapshotOf(windows, now),
    ...(targets && aliasName !== null && req.alias === undefined ? { alias: { name: aliasName, targets } } : {}),
  };
}
