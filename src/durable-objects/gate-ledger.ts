/**
 * The money ledger of the OrgGate: spend counters, settle/release of reservations, expiry, and
 * threshold alerts recorded exactly once per budget instance, period and threshold.
 * All functions run inside `transactionSync`.
 */
import { randomBase62 } from "../lib/encoding";
import { costOfUsage, tokensOfUsage } from "../pricing/cost";
import { appliedWithPlan, PLAN_CAP_ID, type AppliedBudget } from "./gate-budgets";
import { HotCache } from "./gate-hot-cache";
import { readMeta } from "./gate-schema";
import { queueBudgetEvent, queueCostEvent, type CostEventRow } from "./gate-outbox";
import type { Attribution, Endpoint, Price, ReleaseRequest, ReleaseResult, SettleRequest, SettleResult, Usage } from "./gate-protocol";
import { correctTokenWindows } from "./gate-windows";

/** How long settled ids are remembered for idempotency (far longer than any settle retry). */
export const SETTLED_RETENTION_MS = 7 * 86_400_000;

/** New `budget_events` id. */
export function newEventId(): string {
  return `evt_${randomBase62(16)}`;
}

/** Spend and open reservations of one budget instance in one period. */
export function readCounter(sql: SqlStorage, budgetId: string, subject: string, periodStart: number): { spent: number; reserved: number } {
  const r = sql.exec<{ spent: number; reserved: number }>(
    "SELECT spent, reserved FROM counters WHERE budget_id = ? AND subject = ? AND period_start = ?", budgetId, subject, periodStart,
  ).toArray()[0];
  return r ?? { spent: 0, reserved: 0 };
}

/**
 * Records an alert for a budget instance, period, kind and threshold unless it was already
 * recorded; queues the D1 `budget_events` row only the first time. Returns true when new.
 */
export function recordAlertOnce(sql: SqlStorage, orgId: string, a: AppliedBudget, kind: "threshold" | "exceeded", threshold: number, spent: number, now: number): boolean {
  const seen = sql.exec("SELECT 1 FROM alerts WHERE budget_id = ? AND subject = ? AND period_start = ? AND kind = ? AND threshold = ?",
    a.budget.id, a.subject, a.periodStart, kind, threshold).toArray().length > 0;
  if (seen) return false;
  sql.exec("INSERT INTO alerts (budget_id, subject, period_start, kind, threshold) VALUES (?, ?, ?, ?, ?)", a.budget.id, a.subject, a.periodStart, kind, threshold);
  queueBudgetEvent(sql, {
    id: newEventId(), org_id: orgId, budget_id: a.budget.id, scope_id: a.budget.scopeId ?? (a.subject || null), kind,
    period_start: a.periodStart, threshold, spent_micros: spent, limit_micros: a.budget.limitMicros, created_at: now,
  }, now);
  return true;
}

/** Fires every threshold the instance's spend has reached (each once per period). */
function checkThresholds(sql: SqlStorage, orgId: string, a: AppliedBudget, now: number): void {
  const limit = a.budget.limitMicros;
  if (a.budget.id === PLAN_CAP_ID || limit === null || limit <= 0) return;
  const { spent } = readCounter(sql, a.budget.id, a.subject, a.periodStart);
  for (const t of a.budget.thresholds) {
    if (spent * 100 >= t * limit) recordAlertOnce(sql, orgId, a, "threshold", t, spent, now);
  }
}

type ReservationRow = {
  id: string; request_id: string; created_at: number; expires_at: number; micros: number; tokens: number; price: string; counters: string; windows: string;
  /** JSON {@link ReservationContext}; null on reservations admitted before schema v3. */
  context: string | null;
};

/** What admission stores with a reservation so its expiry can write a complete cost event. */
export type ReservationContext = {
  keyId: string;
  teamId: string | null;
  endpoint: Endpoint;
  providerName: string;
  model: string;
  attribution: Attribution;
  /** The reserved tokens (input estimate, output after the model's cap). */
  inputTokens: number;
  outputTokens: number;
};

function readReservation(sql: SqlStorage, id: string): ReservationRow | undefined {
  return sql.exec<ReservationRow>("SELECT * FROM reservations WHERE id = ?", id).toArray()[0];
}

function findSettled(sql: SqlStorage, reservationId: string, requestId: string) {
  return sql.exec<{ cost: number; late: number }>("SELECT cost, late FROM settled WHERE reservation_id = ? OR request_id = ?", reservationId, requestId).toArray()[0];
}

/** Removes a reservation's hold from every counter, optionally charging `cost` instead. */
function unwind(sql: SqlStorage, r: ReservationRow, cost: number, hot?: HotCache): Array<[string, string, number]> {
  const counters = JSON.parse(r.counters) as Array<[string, string, number]>;
  for (const [budgetId, subject, periodStart] of counters) {
    sql.exec("UPDATE counters SET reserved = MAX(0, reserved - ?), spent = spent + ? WHERE budget_id = ? AND subject = ? AND period_start = ?",
      r.micros, cost, budgetId, subject, periodStart);
    const c = hot?.cachedCounter(budgetId, subject, periodStart);
    if (c) {
      c.reserved = Math.max(0, c.reserved - r.micros);
      c.spent += cost;
    }
  }
  sql.exec("DELETE FROM reservations WHERE id = ?", r.id);
  return counters;
}

function costRow(orgId: string, ctx: SettleRequest["context"], status: number, usage: Usage | null, cost: number, latencyMs: number, ttfbMs: number | null, estimated: boolean): CostEventRow {
  const u = usage ?? { uncachedInputTokens: 0, cachedInputTokens: 0, cacheWriteTokens: 0, cacheWrite1hTokens: 0, outputTokens: 0, reasoningTokens: 0 };
  return {
    request_id: ctx.requestId, org_id: orgId, team_id: ctx.teamId, key_id: ctx.keyId, customer_id: ctx.attribution.customerId,
    tags: JSON.stringify(ctx.attribution.tags ?? {}), trace_id: ctx.attribution.traceId, provider: ctx.providerName, model: ctx.model,
    endpoint: ctx.endpoint, status,
    input_tokens: u.uncachedInputTokens + u.cachedInputTokens + u.cacheWriteTokens + u.cacheWrite1hTokens,
    cached_input_tokens: u.cachedInputTokens, cache_write_tokens: u.cacheWriteTokens + u.cacheWrite1hTokens,
    output_tokens: u.outputTokens, reasoning_tokens: u.reasoningTokens, cost_micros: cost,
    latency_ms: Math.max(0, Math.round(latencyMs)), ttfb_ms: ttfbMs === null ? null : Math.max(0, Math.round(ttfbMs)),
    estimated: estimated ? 1 : 0, created_at: ctx.createdAt,
  };
}

/**
 * Replaces a reservation by the actual cost in every budget instance it held. Idempotent on the
 * reservation id and the request id. A settle whose reservation already expired still records the
 * spend (`late`), charged to the budgets that apply to its context at the time it was created.
 */
export function settleTx(sql: SqlStorage, hot: HotCache, orgId: string, req: SettleRequest, now: number): SettleResult {
  const dup = findSettled(sql, req.reservationId, req.context.requestId);
  if (dup) return { ok: true, costMicros: dup.cost, duplicate: true, late: dup.late === 1 };

  const r = readReservation(sql, req.reservationId);
  const price = r ? (JSON.parse(r.price) as Price) : req.context.price;
  const cost = costOfUsage(req.usage, price);
  const touched: AppliedBudget[] = [];

  if (r) {
    for (const [budgetId, subject, periodStart] of unwind(sql, r, cost, hot)) {
      const budget = hot.budgets().byId.get(budgetId);
      if (budget) touched.push({ budget, subject, periodStart, resetsAt: null });
    }
    const windows = JSON.parse(r.windows) as Array<{ wkey: string; windowStart: number }>;
    correctTokenWindows(sql, windows, tokensOfUsage(req.usage) - r.tokens, hot);
    sql.exec("UPDATE velocity SET micros = ? WHERE ref = ?", cost, r.id);
  } else {
    const org = hot.org();
    const ctx = req.context;
    const applied = appliedWithPlan(hot.budgets(), org, { keyId: ctx.keyId, teamId: ctx.teamId, userId: hot.key(ctx.keyId)?.createdBy ?? null, attribution: ctx.attribution }, ctx.createdAt);
    for (const a of applied) {
      sql.exec(
        `INSERT INTO counters (budget_id, subject, period_start, spent, reserved) VALUES (?, ?, ?, ?, 0)
         ON CONFLICT (budget_id, subject, period_start) DO UPDATE SET spent = spent + excluded.spent`,
        a.budget.id, a.subject, a.periodStart, cost,
      );
      const cached = hot.cachedCounter(a.budget.id, a.subject, a.periodStart);
      if (cached) cached.spent += cost;
      if (a.budget.velocity) {
        sql.exec("INSERT INTO velocity (budget_id, subject, at, micros, ref) VALUES (?, ?, ?, ?, ?)", a.budget.id, a.subject, now, cost, req.reservationId);
      }
      if (a.budget.id !== PLAN_CAP_ID) touched.push(a);
    }
  }
  for (const a of touched) checkThresholds(sql, orgId, a, now);

  const late = !r;
  sql.exec("INSERT INTO settled (reservation_id, request_id, cost, late, settled_at) VALUES (?, ?, ?, ?, ?)",
    req.reservationId, req.context.requestId, cost, late ? 1 : 0, now);
  queueCostEvent(sql, costRow(orgId, req.context, req.status, req.usage, cost, req.latencyMs, req.ttfbMs, req.estimated), now);
  return { ok: true, costMicros: cost, duplicate: false, late };
}

/** Drops a reservation, charges nothing, records a $0 cost event with the status. Idempotent. */
export function releaseTx(sql: SqlStorage, orgId: string, req: ReleaseRequest, now: number, hot?: HotCache): ReleaseResult {
  if (findSettled(sql, req.reservationId, req.context.requestId)) return { ok: true, duplicate: true };
  const r = readReservation(sql, req.reservationId);
  if (r) {
    unwind(sql, r, 0, hot);
    correctTokenWindows(sql, JSON.parse(r.windows) as Array<{ wkey: string; windowStart: number }>, -r.tokens, hot);
    sql.exec("DELETE FROM velocity WHERE ref = ?", r.id);
  }
  sql.exec("INSERT INTO settled (reservation_id, request_id, cost, late, settled_at) VALUES (?, ?, 0, ?, ?)", req.reservationId, req.context.requestId, r ? 0 : 1, now);
  queueCostEvent(sql, costRow(orgId, req.context, req.status, null, 0, req.latencyMs, null, false), now);
  return { ok: true, duplicate: false };
}

/**
 * Expires reservations whose expiry has passed (never earlier). The request was handed to the
 * provider and its settle never came, so the provider may have billed it: each one is charged its
 * reservation (the estimate, an upper bound) in every budget instance it held, recorded as settled
 * (a settle that still arrives later is a duplicate), and a cost event flagged `estimated` is queued
 * in the same transaction. Returns how many.
 */
export function expireTx(sql: SqlStorage, now: number, hot?: HotCache): number {
  const due = sql.exec<ReservationRow>("SELECT * FROM reservations WHERE expires_at <= ?", now).toArray();
  if (!due.length) return 0;
  // Reservations exist only once the hot copy was loaded for an org.
  const orgId = readMeta(sql, "loaded_org") ?? "";
  const budgets = (hot ?? new HotCache(sql)).budgets();
  for (const r of due) {
    const counters = unwind(sql, r, r.micros, hot);
    // The velocity sample already holds the estimate, and the TPM windows were charged its tokens: both stand.
    for (const [budgetId, subject, periodStart] of counters) {
      const budget = budgets.byId.get(budgetId);
      if (budget && budgetId !== PLAN_CAP_ID) checkThresholds(sql, orgId, { budget, subject, periodStart, resetsAt: null }, now);
    }
    sql.exec("INSERT OR IGNORE INTO settled (reservation_id, request_id, cost, late, settled_at) VALUES (?, ?, ?, 1, ?)", r.id, r.request_id, r.micros, now);
    queueCostEvent(sql, expiredCostRow(orgId, r), now);
  }
  return due.length;
}

/** The cost event of an expired reservation: status 504 (no answer reached the gate), estimated. */
function expiredCostRow(orgId: string, r: ReservationRow): CostEventRow {
  const rc: Partial<ReservationContext> = r.context ? (JSON.parse(r.context) as ReservationContext) : {};
  const outputTokens = rc.outputTokens ?? 0;
  const ctx: SettleRequest["context"] = {
    requestId: r.request_id, keyId: rc.keyId ?? "", teamId: rc.teamId ?? null, endpoint: rc.endpoint ?? "chat.completions",
    providerName: rc.providerName ?? "", model: rc.model ?? "", price: JSON.parse(r.price) as Price,
    attribution: rc.attribution ?? { customerId: null, tags: {}, traceId: null }, createdAt: r.created_at,
  };
  const usage: Usage = {
    uncachedInputTokens: rc.inputTokens ?? Math.max(0, r.tokens - outputTokens), cachedInputTokens: 0, cacheWriteTokens: 0,
    cacheWrite1hTokens: 0, outputTokens, reasoningTokens: 0,
  };
  return costRow(orgId, ctx, 504, usage, r.micros, r.expires_at - r.created_at, null, true);
}

/** Earliest reservation expiry, or null. */
export function nextExpiry(sql: SqlStorage): number | null {
  return sql.exec<{ t: number | null }>("SELECT MIN(expires_at) AS t FROM reservations").one().t;
}

/** Counters and alert marks of periods that started this long ago are dropped (D1 keeps the events). */
export const COUNTER_RETENTION_MS = 400 * 86_400_000;

/**
 * Drops bookkeeping nobody needs any more: old settled ids, velocity samples, ended breakers, and
 * counters/alert marks of periods long over (`total` counters, period start 0, are kept forever).
 */
export function pruneLedger(sql: SqlStorage, now: number): void {
  sql.exec("DELETE FROM counters WHERE period_start > 0 AND period_start < ? AND reserved = 0", now - COUNTER_RETENTION_MS);
  sql.exec("DELETE FROM alerts WHERE period_start > 0 AND period_start < ?", now - COUNTER_RETENTION_MS);
  sql.exec("DELETE FROM settled WHERE settled_at < ?", now - SETTLED_RETENTION_MS);
  const maxWindow = sql.exec<{ w: number | null }>("SELECT MAX(velocity_window_s) AS w FROM budgets").one().w ?? 0;
  sql.exec("DELETE FROM velocity WHERE at <= ? AND ref NOT IN (SELECT id FROM reservations)", now - maxWindow * 1000);
  sql.exec("DELETE FROM breakers WHERE tripped_until <= ?", now);
}
