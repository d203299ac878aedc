/**
 * The gate's ledger: the one owner of its money and rate state, in SQLite and in memory together.
 * Tables: `counters` (spend and open reservations per budget instance and period), `reservations`,
 * `settled` (idempotency), `windows` (RPM/TPM), `velocity` samples, `breakers`, `alerts` (the
 * exactly-once of threshold alerts) and `customers`. Nothing else reads or writes them; the
 * in-memory view (counters, window usage, known customers) is private, changed only after SQLite
 * accepted the write, and dropped here whenever a write bypasses it or a transaction fails.
 * Rules: docs/budgets.md and docs/money.md; layout: docs/storage.md.
 */
import { randomBase62 } from "../lib/encoding";
import { costOfUsage, tokensOfUsage } from "../pricing/cost";
import { appliedWithPlan, CREDITS_ID, isoOrNull, labelOf, PLAN_CAP_ID, type AppliedBudget, type BudgetIndex } from "./gate-budgets";
import type { GateKey, GateOrg } from "./gate-hot-copy";
import { readMeta } from "./gate-schema";
import { queueBudgetEvent, queueCostEvent, type CostEventRow } from "./gate-outbox";
import { RESERVATION_TTL_MS, type AdmissionContext, type LeaseAdmission, type Denial, type Endpoint, type Price, type ReleaseRequest, type ReleaseResult, type SettleRequest, type SettleResult, type Usage } from "./gate-protocol";
import { firstFullWindow, WINDOW_MS, windowStartOf, type RateWindow, type WindowState } from "./gate-windows";

/** How long settled ids are remembered for idempotency (far longer than any settle retry). */
export const SETTLED_RETENTION_MS = 7 * 86_400_000;

/** Counters and alert marks of periods that started this long ago are dropped (D1 keeps the events). */
export const COUNTER_RETENTION_MS = 400 * 86_400_000;

/** Ledger entries (counters, windows, customers) kept in memory before the maps are reset (they reload from SQLite). */
const MAX_LEDGER = 50_000;

/** New `budget_events` id. */
export function newEventId(): string {
  return `evt_${randomBase62(16)}`;
}

/** What the ledger reads from the hot copy: budgets, plan/anchor, keys (never writes it). */
export type LedgerView = {
  budgets(): BudgetIndex;
  org(): GateOrg;
  key(id: string): GateKey | undefined;
};

/** Spend and open reservations of one budget instance in one period. */
export type Counter = { readonly spent: number; readonly reserved: number };

/** What admission stores with a reservation so its expiry can write a complete cost event. */
export type ReservationContext = AdmissionContext;

/** One admission as the ledger decides it: the instances to charge, the windows to fill, the estimate. */
export type LedgerAdmit = {
  orgId: string;
  requestId: string;
  now: number;
  applied: AppliedBudget[];
  windows: RateWindow[];
  /** Reserved micro-dollars and tokens (input + output) of the estimate. */
  micros: number;
  tokens: number;
  price: Price;
  context: ReservationContext;
};

/** Admitted (with the reservation and the windows as they stand after it), or a typed refusal. */
export type LedgerAdmitResult =
  | { ok: true; reservationId: string; expiresAt: number; windows: WindowState[] }
  | { ok: false; denial: Denial };

/** Live state of one budget in the period containing `now`, summed over its instances. */
export type LedgerBudgetStatus = { spent: number; reserved: number; instances: number; trippedUntil: number | null };

/** Diagnostics: every counter, open reservations and customers seen. */
export type LedgerSnapshot = {
  counters: Array<{ budgetId: string; subject: string; periodStart: number; spent: number; reserved: number }>;
  reservations: number;
  reservedMicros: number;
  customers: number;
  /** Leases not yet returned, and the headroom they hold. */
  leases: number;
  leasedMicros: number;
};

/** How much more every applicable limit allows (Infinity where none applies). */
export type Headroom = { micros: number; tokens: number; requests: number };

/** Headroom to lease: the amounts and when the isolate must stop using it. */
export type LeaseSlice = { leaseId: string; micros: number; tokens: number; requests: number; expiresAt: number };

type LeaseRow = {
  id: string; created_at: number; expires_at: number; micros: number; tokens: number; requests: number; price: string; counters: string; windows: string; closed: number;
};
type LeaseWindows = Array<{ wkey: string; kind: "rpm" | "tpm"; windowStart: number }>;

/** Closed leases are kept this long, so a report arriving late still finds the counters it held. */
export const CLOSED_LEASE_RETENTION_MS = 10 * 60_000;

/** A counter value to seed (never lowers what is already counted). */
export type SeedCounter = { budgetId: string; subject: string; periodStart: number; spent: number };

type ReservationRow = {
  id: string; request_id: string; created_at: number; expires_at: number; micros: number; tokens: number; price: string; counters: string; windows: string;
  /** JSON {@link ReservationContext}; null on reservations admitted before schema v4. */
  context: string | null;
};

type Held = Array<[budgetId: string, subject: string, periodStart: number]>;
type HeldWindows = Array<{ wkey: string; windowStart: number }>;

/** Serialised prices, so repeated admissions of the same cached price do not re-serialise it. */
const PRICE_JSON = new WeakMap<Price, string>();
function priceJson(p: Price): string {
  let j = PRICE_JSON.get(p);
  if (j === undefined) PRICE_JSON.set(p, (j = JSON.stringify(p)));
  return j;
}

const counterKey = (budgetId: string, subject: string, periodStart: number) => `${budgetId}\u0000${subject}\u0000${periodStart}`;
const windowKey = (wkey: string, kind: "rpm" | "tpm", windowStart: number) => `${wkey}\u0000${kind}\u0000${windowStart}`;

/**
 * The one owner of the ledger tables and their in-memory view (see the file comment). Every method
 * that writes must run inside {@link transaction}; reads may run anywhere.
 */
export class Ledger {
  private readonly sql: SqlStorage;
  private readonly counterMap = new Map<string, { spent: number; reserved: number }>();
  private readonly windowMap = new Map<string, number>();
  private readonly customersSeen = new Set<string>();

  constructor(private readonly storage: DurableObjectStorage, private readonly view: LedgerView) {
    this.sql = storage.sql;
  }

  /**
   * Runs `fn` in one SQLite transaction. The memory view is written only after SQLite accepted each
   * write, but a later statement may still fail and roll SQLite back: then the view is dropped.
   */
  transaction<T>(fn: () => T): T {
    try {
      return this.storage.transactionSync(fn);
    } catch (err) {
      this.forget();
      throw err;
    }
  }

  /** Drops the memory view (it reloads from SQLite, the durable truth, on the next read). */
  private forget(): void {
    this.counterMap.clear();
    this.windowMap.clear();
    this.customersSeen.clear();
  }

  private cell(budgetId: string, subject: string, periodStart: number): { spent: number; reserved: number } {
    const k = counterKey(budgetId, subject, periodStart);
    let c = this.counterMap.get(k);
    if (!c) {
      if (this.counterMap.size >= MAX_LEDGER) this.counterMap.clear();
      const r = this.sql.exec<{ spent: number; reserved: number }>(
        "SELECT spent, reserved FROM counters WHERE budget_id = ? AND subject = ? AND period_start = ?", budgetId, subject, periodStart,
      ).toArray()[0];
      c = { spent: r?.spent ?? 0, reserved: r?.reserved ?? 0 };
      this.counterMap.set(k, c);
    }
    return c;
  }

  /** Spend and open reservations of one budget instance and period (0/0 when none exists yet). */
  counter(budgetId: string, subject: string, periodStart: number): Counter {
    const c = this.cell(budgetId, subject, periodStart);
    return { spent: c.spent, reserved: c.reserved };
  }

  /** Adds to a counter in SQLite, then (only if cached) in memory. */
  private addToCounter(budgetId: string, subject: string, periodStart: number, spent: number, reserved: number): void {
    this.sql.exec(
      `INSERT INTO counters (budget_id, subject, period_start, spent, reserved) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (budget_id, subject, period_start) DO UPDATE SET spent = spent + excluded.spent, reserved = reserved + excluded.reserved`,
      budgetId, subject, periodStart, spent, reserved,
    );
    const c = this.counterMap.get(counterKey(budgetId, subject, periodStart));
    if (c) {
      c.spent += spent;
      c.reserved += reserved;
    }
  }

  private windowUsed(wkey: string, kind: "rpm" | "tpm", windowStart: number): number {
    const k = windowKey(wkey, kind, windowStart);
    let used = this.windowMap.get(k);
    if (used === undefined) {
      if (this.windowMap.size >= MAX_LEDGER) this.windowMap.clear();
      used = this.sql.exec<{ used: number }>("SELECT used FROM windows WHERE wkey = ? AND kind = ? AND window_start = ?", wkey, kind, windowStart).toArray()[0]?.used ?? 0;
      this.windowMap.set(k, used);
    }
    return used;
  }

  /** Current usage of each window (0 for a fresh minute). */
  private readWindows(windows: RateWindow[], now: number): WindowState[] {
    const start = windowStartOf(now);
    return windows.map((w) => ({ ...w, windowStart: start, used: this.windowUsed(w.wkey, w.kind, start) }));
  }

  /** Adds this request to every window (SQLite, then the states and the memory view). */
  private chargeWindows(states: WindowState[], tokens: number): void {
    for (const w of states) {
      const add = w.kind === "rpm" ? 1 : tokens;
      this.sql.exec(
        "INSERT INTO windows (wkey, kind, window_start, used) VALUES (?, ?, ?, ?) ON CONFLICT (wkey, kind, window_start) DO UPDATE SET used = used + excluded.used",
        w.wkey, w.kind, w.windowStart, add,
      );
      w.used += add;
      const k = windowKey(w.wkey, w.kind, w.windowStart);
      const used = this.windowMap.get(k);
      if (used !== undefined) this.windowMap.set(k, used + add);
    }
  }

  /** Corrects the TPM windows a reservation charged by `delta` tokens (never below zero). */
  private correctTokenWindows(charged: HeldWindows, delta: number): void {
    if (delta === 0) return;
    for (const w of charged) {
      this.sql.exec("UPDATE windows SET used = MAX(0, used + ?) WHERE wkey = ? AND kind = 'tpm' AND window_start = ?", delta, w.wkey, w.windowStart);
      const k = windowKey(w.wkey, "tpm", w.windowStart);
      const used = this.windowMap.get(k);
      if (used !== undefined) this.windowMap.set(k, Math.max(0, used + delta));
    }
  }

  /**
   * Records an alert for a budget instance, period, kind and threshold unless it was already
   * recorded; queues the D1 `budget_events` row only the first time. Returns true when new.
   */
  private recordAlertOnce(orgId: string, a: AppliedBudget, kind: "threshold" | "exceeded", threshold: number, spent: number, now: number): boolean {
    const seen = this.sql.exec("SELECT 1 FROM alerts WHERE budget_id = ? AND subject = ? AND period_start = ? AND kind = ? AND threshold = ?",
      a.budget.id, a.subject, a.periodStart, kind, threshold).toArray().length > 0;
    if (seen) return false;
    this.sql.exec("INSERT INTO alerts (budget_id, subject, period_start, kind, threshold) VALUES (?, ?, ?, ?, ?)", a.budget.id, a.subject, a.periodStart, kind, threshold);
    queueBudgetEvent(this.sql, {
      id: newEventId(), org_id: orgId, budget_id: a.budget.id, scope_id: a.budget.scopeId ?? (a.subject || null), kind,
      period_start: a.periodStart, threshold, spent_micros: spent, limit_micros: a.budget.limitMicros, created_at: now,
    }, now);
    return true;
  }

  /** Fires every threshold the instance's spend has reached (each once per period). */
  private checkThresholds(orgId: string, a: AppliedBudget, now: number): void {
    const limit = a.budget.limitMicros;
    if (a.budget.id === PLAN_CAP_ID || a.budget.id === CREDITS_ID || limit === null || limit <= 0) return;
    const { spent } = this.cell(a.budget.id, a.subject, a.periodStart);
    for (const t of a.budget.thresholds) {
      if (spent * 100 >= t * limit) this.recordAlertOnce(orgId, a, "threshold", t, spent, now);
    }
  }

  /**
   * The low-balance alert: when a charge of `cost` takes the prepaid balance (Σ grants − spent) from at
   * least the threshold to below it, queues one `credits_low` event. Each crossing is seen by exactly
   * one settling transaction (the object is single-threaded), so it fires once per crossing; a grant
   * that lifts the balance back over the threshold re-arms it. `period_start` is the crossing time.
   */
  private checkCreditsLow(orgId: string, cost: number, now: number): void {
    const org = this.view.org();
    const threshold = org.creditsLowMicros;
    if (org.creditsMicros === null || threshold <= 0 || cost <= 0) return;
    const { spent } = this.cell(CREDITS_ID, "", 0);
    const after = org.creditsMicros - spent;
    if (after >= threshold || after + cost < threshold) return;
    queueBudgetEvent(this.sql, {
      id: newEventId(), org_id: orgId, budget_id: CREDITS_ID, scope_id: null, kind: "credits_low", period_start: now,
      threshold, spent_micros: spent, limit_micros: org.creditsMicros, created_at: now,
    }, now);
  }

  /**
   * Admits or refuses one request against the ledger: every hard budget must still fit the estimate
   * (soft ones only record the crossing), no velocity breaker may be tripped or trip now, every
   * RPM/TPM window must have room. Every check happens before any write, so a refusal records only
   * what it must (an `exceeded` alert, a tripped breaker). Admitted: reserves the estimate in every
   * instance, so for hard budgets `spent + reserved <= limit` holds at every moment.
   */
  admit(req: LedgerAdmit): LedgerAdmitResult {
    const { orgId, now, applied, micros } = req;
    for (const a of applied) {
      const limit = a.budget.limitMicros;
      if (limit === null) continue;
      const c = this.cell(a.budget.id, a.subject, a.periodStart);
      if (c.spent + c.reserved + micros <= limit) continue;
      const synthetic = a.budget.id === PLAN_CAP_ID || a.budget.id === CREDITS_ID;
      if (!synthetic) this.recordAlertOnce(orgId, a, "exceeded", 100, c.spent, now);
      if (a.budget.mode === "soft") continue;
      return {
        ok: false,
        denial: {
          kind: "budget_exceeded", source: a.budget.id === PLAN_CAP_ID ? "plan_cap" : a.budget.id === CREDITS_ID ? "prepaid" : "budget", scope: a.budget.scope,
          scopeId: a.budget.scopeId ?? (a.subject || null), budgetId: synthetic ? null : a.budget.id,
          limitMicros: limit, spentMicros: c.spent, reservedMicros: c.reserved, resetsAt: isoOrNull(a.resetsAt), label: labelOf(a), period: a.budget.period,
        },
      };
    }

    // Velocity: a tripped breaker refuses until its cool-down ends; spend in the sliding window + this
    // estimate over the limit trips it.
    for (const a of applied) {
      const v = a.budget.velocity;
      if (!v) continue;
      const scopeId = a.budget.scopeId ?? (a.subject || null);
      const br = this.sql.exec<{ tripped_until: number }>("SELECT tripped_until FROM breakers WHERE budget_id = ? AND subject = ?", a.budget.id, a.subject).toArray()[0];
      if (br && br.tripped_until > now) {
        return { ok: false, denial: { kind: "velocity_tripped", scope: a.budget.scope, scopeId, budgetId: a.budget.id, retryAfterMs: br.tripped_until - now, label: labelOf(a) } };
      }
      const inWindow = this.sql.exec<{ s: number }>(
        "SELECT COALESCE(SUM(micros), 0) AS s FROM velocity WHERE budget_id = ? AND subject = ? AND at > ?", a.budget.id, a.subject, now - v.windowSeconds * 1000,
      ).one().s;
      if (inWindow + micros > v.limitMicros) {
        const until = now + v.cooldownSeconds * 1000;
        this.sql.exec("INSERT OR REPLACE INTO breakers (budget_id, subject, tripped_at, tripped_until) VALUES (?, ?, ?, ?)", a.budget.id, a.subject, now, until);
        queueBudgetEvent(this.sql, {
          id: newEventId(), org_id: orgId, budget_id: a.budget.id, scope_id: scopeId, kind: "velocity_tripped", period_start: now,
          threshold: 0, spent_micros: inWindow, limit_micros: v.limitMicros, created_at: now,
        }, now);
        return { ok: false, denial: { kind: "velocity_tripped", scope: a.budget.scope, scopeId, budgetId: a.budget.id, retryAfterMs: until - now, label: labelOf(a) } };
      }
    }

    const windows = this.readWindows(req.windows, now);
    const full = firstFullWindow(windows, req.tokens);
    if (full) {
      return {
        ok: false,
        denial: {
          kind: "rate_limited", scope: full.scope, scopeId: full.scopeId, window: full.kind, limit: full.limit,
          retryAfterMs: Math.max(1, full.windowStart + WINDOW_MS - now), label: full.label,
        },
      };
    }

    const reservationId = `rsv_${randomBase62(16)}`;
    const expiresAt = now + RESERVATION_TTL_MS;
    this.noteCustomer(req.context.attribution.customerId, now);
    for (const a of applied) {
      this.addToCounter(a.budget.id, a.subject, a.periodStart, 0, micros);
      if (a.budget.velocity) {
        this.sql.exec("INSERT INTO velocity (budget_id, subject, at, micros, ref) VALUES (?, ?, ?, ?, ?)", a.budget.id, a.subject, now, micros, reservationId);
      }
    }
    this.chargeWindows(windows, req.tokens);
    this.sql.exec(
      "INSERT INTO reservations (id, request_id, created_at, expires_at, micros, tokens, price, counters, windows, context) VALUES (?,?,?,?,?,?,?,?,?,?)",
      reservationId, req.requestId, now, expiresAt, micros, req.tokens, priceJson(req.price),
      JSON.stringify(applied.map((a) => [a.budget.id, a.subject, a.periodStart])),
      JSON.stringify(windows.filter((w) => w.kind === "tpm").map((w) => ({ wkey: w.wkey, windowStart: w.windowStart }))),
      JSON.stringify(req.context),
    );
    return { ok: true, reservationId, expiresAt, windows };
  }

  /** Records a customer as seen (the default customer budget's instances); memory only after SQLite. */
  private noteCustomer(customerId: string | null, at: number): void {
    if (!customerId || this.customersSeen.has(customerId)) return;
    this.sql.exec("INSERT OR IGNORE INTO customers (id, first_seen) VALUES (?, ?)", customerId, at);
    if (this.customersSeen.size >= MAX_LEDGER) this.customersSeen.clear();
    this.customersSeen.add(customerId);
  }

  private readReservation(id: string): ReservationRow | undefined {
    return this.sql.exec<ReservationRow>("SELECT * FROM reservations WHERE id = ?", id).toArray()[0];
  }

  private findSettled(reservationId: string, requestId: string) {
    return this.sql.exec<{ cost: number; late: number }>("SELECT cost, late FROM settled WHERE reservation_id = ? OR request_id = ?", reservationId, requestId).toArray()[0];
  }

  /** Removes a reservation's hold from every counter, charging `cost` instead (and deletes its row when it has one). */
  private unwind(r: ReservationRow, cost: number, stored = true): Held {
    const held = JSON.parse(r.counters) as Held;
    for (const [budgetId, subject, periodStart] of held) {
      this.sql.exec("UPDATE counters SET reserved = MAX(0, reserved - ?), spent = spent + ? WHERE budget_id = ? AND subject = ? AND period_start = ?",
        r.micros, cost, budgetId, subject, periodStart);
      const c = this.counterMap.get(counterKey(budgetId, subject, periodStart));
      if (c) {
        c.reserved = Math.max(0, c.reserved - r.micros);
        c.spent += cost;
      }
    }
    if (stored) this.sql.exec("DELETE FROM reservations WHERE id = ?", r.id);
    return held;
  }

  /**
   * Replaces a reservation by the actual cost in every budget instance it held. Idempotent on the
   * reservation id and the request id. A settle whose reservation already expired still records the
   * spend (`late`), charged to the budgets that apply to its context at the time it was created.
   */
  settle(orgId: string, req: SettleRequest, now: number, unstored?: ReservationRow): SettleResult {
    const dup = this.findSettled(req.reservationId, req.context.requestId);
    if (dup) return { ok: true, costMicros: dup.cost, duplicate: true, late: dup.late === 1 };

    const r = unstored ?? this.readReservation(req.reservationId);
    const price = r ? (JSON.parse(r.price) as Price) : req.context.price;
    const cost = costOfUsage(req.usage, price);
    const touched: AppliedBudget[] = [];

    let chargedCredits = false;
    if (r) {
      for (const [budgetId, subject, periodStart] of this.unwind(r, cost, !unstored)) {
        if (budgetId === CREDITS_ID) chargedCredits = true;
        const budget = this.view.budgets().byId.get(budgetId);
        if (budget) touched.push({ budget, subject, periodStart, resetsAt: null });
      }
      this.correctTokenWindows(JSON.parse(r.windows) as HeldWindows, tokensOfUsage(req.usage) - r.tokens);
      // Leases never cover velocity budgets, so a lease admission has no sample.
      if (!unstored) this.sql.exec("UPDATE velocity SET micros = ? WHERE ref = ?", cost, r.id);
    } else {
      const ctx = req.context;
      const subject = { keyId: ctx.keyId, teamId: ctx.teamId, userId: this.view.key(ctx.keyId)?.createdBy ?? null, attribution: ctx.attribution };
      for (const a of appliedWithPlan(this.view.budgets(), this.view.org(), subject, ctx.createdAt)) {
        this.addToCounter(a.budget.id, a.subject, a.periodStart, cost, 0);
        if (a.budget.velocity) {
          this.sql.exec("INSERT INTO velocity (budget_id, subject, at, micros, ref) VALUES (?, ?, ?, ?, ?)", a.budget.id, a.subject, now, cost, req.reservationId);
        }
        if (a.budget.id === CREDITS_ID) chargedCredits = true;
        else if (a.budget.id !== PLAN_CAP_ID) touched.push(a);
      }
    }
    for (const a of touched) this.checkThresholds(orgId, a, now);
    if (chargedCredits) this.checkCreditsLow(orgId, cost, now);

    const late = !r;
    this.sql.exec("INSERT INTO settled (reservation_id, request_id, cost, late, settled_at) VALUES (?, ?, ?, ?, ?)",
      req.reservationId, req.context.requestId, cost, late ? 1 : 0, now);
    queueCostEvent(this.sql, costRow(orgId, req.context, req.status, req.usage, cost, req.latencyMs, req.ttfbMs, req.estimated), now);
    return { ok: true, costMicros: cost, duplicate: false, late };
  }

  /** Drops a reservation, charges nothing, records a $0 cost event with the status. Idempotent. */
  release(orgId: string, req: ReleaseRequest, now: number, unstored?: ReservationRow): ReleaseResult {
    if (this.findSettled(req.reservationId, req.context.requestId)) return { ok: true, duplicate: true };
    const r = unstored ?? this.readReservation(req.reservationId);
    if (r) {
      this.unwind(r, 0, !unstored);
      this.correctTokenWindows(JSON.parse(r.windows) as HeldWindows, -r.tokens);
      if (!unstored) this.sql.exec("DELETE FROM velocity WHERE ref = ?", r.id);
    }
    this.sql.exec("INSERT INTO settled (reservation_id, request_id, cost, late, settled_at) VALUES (?, ?, 0, ?, ?)", req.reservationId, req.context.requestId, r ? 0 : 1, now);
    queueCostEvent(this.sql, costRow(orgId, req.context, req.status, null, 0, req.latencyMs, null, false), now);
    return { ok: true, duplicate: false };
  }

  /**
   * Expires reservations whose expiry has passed (never earlier). The request was handed to the
   * provider and its settle never came, so the provider may have billed it: each one is charged its
   * reservation (the estimate, an upper bound) in every budget instance it held, recorded as settled
   * (a settle that still arrives later is a duplicate), and a cost event flagged `estimated` is queued
   * in the same transaction. Returns how many.
   */
  expire(now: number): number {
    const due = this.sql.exec<ReservationRow>("SELECT * FROM reservations WHERE expires_at <= ?", now).toArray();
    if (!due.length) return 0;
    // Reservations exist only once the hot copy was loaded for an org.
    const orgId = readMeta(this.sql, "loaded_org") ?? "";
    const budgets = this.view.budgets();
    for (const r of due) {
      const held = this.unwind(r, r.micros);
      // The velocity sample already holds the estimate, and the TPM windows were charged its tokens: both stand.
      for (const [budgetId, subject, periodStart] of held) {
        if (budgetId === CREDITS_ID) this.checkCreditsLow(orgId, r.micros, now);
        const budget = budgets.byId.get(budgetId);
        if (budget && budgetId !== PLAN_CAP_ID) this.checkThresholds(orgId, { budget, subject, periodStart, resetsAt: null }, now);
      }
      this.sql.exec("INSERT OR IGNORE INTO settled (reservation_id, request_id, cost, late, settled_at) VALUES (?, ?, ?, 1, ?)", r.id, r.request_id, r.micros, now);
      queueCostEvent(this.sql, expiredCostRow(orgId, r), now);
    }
    return due.length;
  }

  /** Earliest reservation expiry or lease return, or null. */
  nextExpiry(): number | null {
    const r = this.sql.exec<{ t: number | null }>("SELECT MIN(expires_at) AS t FROM reservations").one().t;
    const l = this.sql.exec<{ t: number | null }>("SELECT MIN(expires_at) AS t FROM leases WHERE closed = 0").one().t;
    return r === null ? l : l === null ? r : Math.min(r, l);
  }

  /**
   * What every limit that applies still allows: money (hard and soft dollar budgets, the plan cap:
   * limit − spent − reserved), requests (RPM windows) and tokens (TPM windows).
   */
  headroom(applied: AppliedBudget[], windows: RateWindow[], now: number): Headroom {
    const h: Headroom = { micros: Infinity, tokens: Infinity, requests: Infinity };
    for (const a of applied) {
      if (a.budget.limitMicros === null) continue;
      const c = this.cell(a.budget.id, a.subject, a.periodStart);
      h.micros = Math.min(h.micros, a.budget.limitMicros - c.spent - c.reserved);
    }
    for (const w of this.readWindows(windows, now)) {
      if (w.kind === "rpm") h.requests = Math.min(h.requests, w.limit - w.used);
      else h.tokens = Math.min(h.tokens, w.limit - w.used);
    }
    return h;
  }

  /**
   * Leases headroom to an isolate: reserves `slice.micros` in every budget instance and charges the
   * windows `slice.requests` requests and `slice.tokens` tokens, exactly as that many reservations
   * would. The caller sized the slice within {@link headroom}, so every limit still holds with the
   * whole lease counted as spent. Returns the windows after the grant.
   */
  grantLease(req: LedgerAdmit, slice: LeaseSlice, gateExpiresAt: number): WindowState[] {
    const { now, applied } = req;
    this.noteCustomer(req.context.attribution.customerId, now);
    for (const a of applied) this.addToCounter(a.budget.id, a.subject, a.periodStart, 0, slice.micros);
    const windows = this.readWindows(req.windows, now);
    for (const w of windows) {
      const add = w.kind === "rpm" ? slice.requests : slice.tokens;
      this.adjustWindow(w.wkey, w.kind, w.windowStart, add);
      w.used += add;
    }
    this.sql.exec(
      "INSERT INTO leases (id, created_at, expires_at, micros, tokens, requests, price, counters, windows) VALUES (?,?,?,?,?,?,?,?,?)",
      slice.leaseId, now, gateExpiresAt, slice.micros, slice.tokens, slice.requests, priceJson(req.price),
      JSON.stringify(applied.map((a) => [a.budget.id, a.subject, a.periodStart])),
      JSON.stringify(windows.map((w) => ({ wkey: w.wkey, kind: w.kind, windowStart: w.windowStart }))),
    );
    return windows;
  }

  /** Adds `delta` to one window row (never below zero), SQLite then memory. */
  private adjustWindow(wkey: string, kind: "rpm" | "tpm", windowStart: number, delta: number): void {
    if (delta === 0) return;
    this.sql.exec(
      "INSERT INTO windows (wkey, kind, window_start, used) VALUES (?, ?, ?, MAX(0, ?)) ON CONFLICT (wkey, kind, window_start) DO UPDATE SET used = MAX(0, used + excluded.used)",
      wkey, kind, windowStart, delta,
    );
    if (delta < 0) this.sql.exec("UPDATE windows SET used = MAX(0, used + ?) WHERE wkey = ? AND kind = ? AND window_start = ?", delta, wkey, kind, windowStart);
    const k = windowKey(wkey, kind, windowStart);
    const used = this.windowMap.get(k);
    if (used !== undefined) this.windowMap.set(k, Math.max(0, used + delta));
  }

  private readLease(id: string): LeaseRow | undefined {
    return this.sql.exec<LeaseRow>("SELECT * FROM leases WHERE id = ?", id).toArray()[0];
  }

  /**
   * Turns one request an isolate admitted from a lease into an ordinary reservation (same id), moving
   * its estimate out of the lease: counters and windows do not change, they already held it.
   * Idempotent. A report whose lease was already returned (the isolate stalled past the grace) is
   * still recorded — spend is never lost — and charged on top of the counters the lease held.
   */
  materialize(a: LeaseAdmission): void {
    if (this.readReservation(a.reservationId) || this.findSettled(a.reservationId, a.requestId)) return;
    const r = this.takeFromLease(a);
    this.sql.exec(
      "INSERT INTO reservations (id, request_id, created_at, expires_at, micros, tokens, price, counters, windows, context) VALUES (?,?,?,?,?,?,?,?,?,?)",
      r.id, r.request_id, r.created_at, r.expires_at, r.micros, r.tokens, r.price, r.counters, r.windows, r.context,
    );
  }

  /**
   * Settles a request admitted from a lease that the isolate reports already finished: its estimate
   * moves out of the lease and is replaced by the cost in the same step, so no reservation row is
   * written and deleted (docs/performance.md "Leases"). Same result and idempotency as
   * {@link materialize} followed by {@link settle}.
   */
  settleLeased(orgId: string, a: LeaseAdmission, req: SettleRequest, now: number): SettleResult {
    if (this.findSettled(req.reservationId, req.context.requestId) || this.readReservation(a.reservationId)) return this.settle(orgId, req, now);
    return this.settle(orgId, req, now, this.takeFromLease(a));
  }

  /** {@link settleLeased} for a release. */
  releaseLeased(orgId: string, a: LeaseAdmission, req: ReleaseRequest, now: number): ReleaseResult {
    if (this.findSettled(req.reservationId, req.context.requestId) || this.readReservation(a.reservationId)) return this.release(orgId, req, now);
    return this.release(orgId, req, now, this.takeFromLease(a));
  }

  /**
   * Moves one lease admission's estimate out of its lease (or, when the lease was returned or is
   * short, adds it to the counters the lease held — or that apply now, if the lease row is gone) and
   * returns the reservation it becomes, not yet stored.
   */
  private takeFromLease(a: LeaseAdmission): ReservationRow {
    this.noteCustomer(a.context.attribution.customerId, a.at);
    const lease = this.readLease(a.leaseId);
    let held: Held;
    let tpm: HeldWindows = [];
    if (lease && lease.closed === 0 && lease.micros >= a.micros && lease.tokens >= a.tokens && lease.requests >= 1) {
      this.sql.exec("UPDATE leases SET micros = micros - ?, tokens = tokens - ?, requests = requests - 1 WHERE id = ?", a.micros, a.tokens, a.leaseId);
      held = JSON.parse(lease.counters) as Held;
      tpm = (JSON.parse(lease.windows) as LeaseWindows).filter((w) => w.kind === "tpm").map((w) => ({ wkey: w.wkey, windowStart: w.windowStart }));
    } else {
      const ctx = a.context;
      if (lease) {
        held = JSON.parse(lease.counters) as Held;
        for (const w of JSON.parse(lease.windows) as LeaseWindows) this.adjustWindow(w.wkey, w.kind, w.windowStart, w.kind === "rpm" ? 1 : a.tokens);
        tpm = (JSON.parse(lease.windows) as LeaseWindows).filter((w) => w.kind === "tpm").map((w) => ({ wkey: w.wkey, windowStart: w.windowStart }));
      } else {
        const subject = { keyId: ctx.keyId, teamId: ctx.teamId, userId: this.view.key(ctx.keyId)?.createdBy ?? null, attribution: ctx.attribution };
        held = appliedWithPlan(this.view.budgets(), this.view.org(), subject, a.at).map((x) => [x.budget.id, x.subject, x.periodStart]);
      }
      for (const [budgetId, subject, periodStart] of held) this.addToCounter(budgetId, subject, periodStart, 0, a.micros);
    }
    return {
      id: a.reservationId, request_id: a.requestId, created_at: a.at, expires_at: a.at + RESERVATION_TTL_MS, micros: a.micros, tokens: a.tokens,
      price: priceJson(a.price), counters: JSON.stringify(held), windows: JSON.stringify(tpm), context: JSON.stringify(a.context),
    };
  }

  /** Gives a lease's unused headroom back to every counter and window it held. Idempotent. */
  closeLease(id: string): void {
    const lease = this.readLease(id);
    if (!lease || lease.closed !== 0) return;
    for (const [budgetId, subject, periodStart] of JSON.parse(lease.counters) as Held) this.addToCounter(budgetId, subject, periodStart, 0, -lease.micros);
    for (const w of JSON.parse(lease.windows) as LeaseWindows) this.adjustWindow(w.wkey, w.kind, w.windowStart, w.kind === "rpm" ? -lease.requests : -lease.tokens);
    this.sql.exec("UPDATE leases SET closed = 1, micros = 0, tokens = 0, requests = 0 WHERE id = ?", id);
  }

  /** Returns every lease whose grace ended (its isolate went quiet or away). Returns how many. */
  expireLeases(now: number): number {
    const due = this.sql.exec<{ id: string }>("SELECT id FROM leases WHERE closed = 0 AND expires_at <= ?", now).toArray();
    for (const r of due) this.closeLease(r.id);
    return due.length;
  }

  /**
   * Drops bookkeeping nobody needs any more: old settled ids, velocity samples, ended breakers, windows
   * that ended (the current and previous minute stay), and counters/alert marks of periods long over
   * (`total` counters, period start 0, are kept forever).
   */
  prune(now: number): void {
    this.sql.exec("DELETE FROM counters WHERE period_start > 0 AND period_start < ? AND reserved = 0", now - COUNTER_RETENTION_MS);
    this.sql.exec("DELETE FROM alerts WHERE period_start > 0 AND period_start < ?", now - COUNTER_RETENTION_MS);
    this.sql.exec("DELETE FROM settled WHERE settled_at < ?", now - SETTLED_RETENTION_MS);
    const maxWindow = this.sql.exec<{ w: number | null }>("SELECT MAX(velocity_window_s) AS w FROM budgets").one().w ?? 0;
    this.sql.exec("DELETE FROM velocity WHERE at <= ? AND ref NOT IN (SELECT id FROM reservations)", now - maxWindow * 1000);
    this.sql.exec("DELETE FROM breakers WHERE tripped_until <= ?", now);
    this.sql.exec("DELETE FROM windows WHERE window_start < ?", windowStartOf(now) - WINDOW_MS);
    this.sql.exec("DELETE FROM leases WHERE closed = 1 AND created_at < ?", now - CLOSED_LEASE_RETENTION_MS);
    // Rows left SQLite behind the view's back.
    this.forget();
  }

  /** Seeds counters; an existing counter keeps the larger spend, so seeding never lowers what was counted. */
  seed(counters: SeedCounter[]): void {
    for (const c of counters) {
      this.sql.exec(
        `INSERT INTO counters (budget_id, subject, period_start, spent, reserved) VALUES (?, ?, ?, ?, 0)
         ON CONFLICT (budget_id, subject, period_start) DO UPDATE SET spent = MAX(spent, excluded.spent)`,
        c.budgetId, c.subject, c.periodStart, c.spent,
      );
    }
    if (counters.length) this.forget();
  }

  /** Drops every open reservation without charge (the org was deleted). */
  dropReservations(): void {
    this.sql.exec("DELETE FROM reservations");
    this.sql.exec("DELETE FROM leases");
    this.forget();
  }

  /** Spend, reservations and instances of one budget in the period starting at `periodStart`, and its breaker. */
  budgetStatus(budgetId: string, periodStart: number, now: number): LedgerBudgetStatus {
    const agg = this.sql.exec<{ spent: number; reserved: number; n: number }>(
      "SELECT COALESCE(SUM(spent), 0) AS spent, COALESCE(SUM(reserved), 0) AS reserved, COUNT(*) AS n FROM counters WHERE budget_id = ? AND period_start = ?",
      budgetId, periodStart,
    ).one();
    const br = this.sql.exec<{ until: number | null }>("SELECT MAX(tripped_until) AS until FROM breakers WHERE budget_id = ?", budgetId).one();
    return { spent: agg.spent, reserved: agg.reserved, instances: agg.n, trippedUntil: br.until !== null && br.until > now ? br.until : null };
  }

  /** Diagnostics and tests. */
  snapshot(): LedgerSnapshot {
    const counters = this.sql
      .exec<{ budget_id: string; subject: string; period_start: number; spent: number; reserved: number }>("SELECT * FROM counters ORDER BY budget_id, subject, period_start")
      .toArray()
      .map((r) => ({ budgetId: r.budget_id, subject: r.subject, periodStart: r.period_start, spent: r.spent, reserved: r.reserved }));
    const res = this.sql.exec<{ n: number; s: number }>("SELECT COUNT(*) AS n, COALESCE(SUM(micros), 0) AS s FROM reservations").one();
    const customers = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM customers").one().n;
    const leases = this.sql.exec<{ n: number; s: number }>("SELECT COUNT(*) AS n, COALESCE(SUM(micros), 0) AS s FROM leases WHERE closed = 0").one();
    return { counters, reservations: res.n, reservedMicros: res.s, customers, leases: leases.n, leasedMicros: leases.s };
  }
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
    prompt_id: ctx.prompt?.id ?? null, prompt_version: ctx.prompt?.version ?? null,
    guardrail_hits: guardrailHitsJson(ctx.guardrailHits),
  };
}

/** Ids and actions only (the Worker sends nothing else; copied field by field so nothing else can slip in). */
function guardrailHitsJson(hits: SettleRequest["context"]["guardrailHits"]): string | null {
  if (!Array.isArray(hits) || !hits.length) return null;
  return JSON.stringify(hits.slice(0, 100).map((h) => ({ id: String(h.id), action: String(h.action) })));
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

