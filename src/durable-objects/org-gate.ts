import { DurableObject } from "cloudflare:workers";
import { getConfig, type Env } from "../env";
import { admitTx, checkKey } from "./gate-admit";
import { leaseTx } from "./gate-lease";
import { CREDITS_ID, creditsBudget, indexBudgets, isoOrNull, periodBounds, planCapBudget, type BudgetIndex } from "./gate-budgets";
import { ALL_PARTS, fetchParts, fetchSeedSpend, orgExists, type HotPart, type Loaded } from "../db/gate-source";
import { anchorFromLoaded, applyParts, budgetsFromRows, creditsFromLoaded, readBudgets, readOrg, upsertKey, type GateKey } from "./gate-hot-copy";
import { HotCache } from "./gate-hot-cache";
import { seedCounters, seedQueries, seedTargets, type SeedSpend, type SeedTarget } from "./gate-seed";
import { Ledger } from "./gate-ledger";
import { flushOutbox, outboxDepth } from "./gate-outbox";
import { listModelsFor } from "./gate-models";
import { readPromptTemplate } from "./gate-prompts";
import type { AdmitRequest, AdmitResult, KeyRefusal, LeaseRequest, LeaseResult, ModelsRequest, ModelsResult, PromptRequest, PromptResult, ReleaseRequest, ReleaseResult, SettleRequest, SettleResult } from "./gate-protocol";
import { hasGateSchema, migrateGateSchema, readMeta, writeMeta } from "./gate-schema";
import { notifyBudgetEvents } from "./gate-alerts";
import { changedParts, readFingerprints, RECONCILE_IDLE_STOP_MS, RECONCILE_INTERVAL_MS, RECONCILE_STALE_MS, storeFingerprints } from "./gate-reconcile";

export type { GateKey } from "./gate-hot-copy";

/** Why a key was refused. Returned, never thrown. */
export type KeyCheck = { ok: true; key: GateKey } | { ok: false; reason: KeyRefusal };

/** Live state of one budget (for `GET /budgets/:id/status`). */
export type BudgetStatus =
  | {
      ok: true;
      budgetId: string;
      spentMicros: number;
      reservedMicros: number;
      limitMicros: number | null;
      periodStart: string;
      resetsAt: string | null;
      /** Instances counted (customers seen, for the default customer budget; else 1). */
      instances: number;
      breaker: { tripped: boolean; trippedUntil: string | null };
    }
  | { ok: false; reason: "not_found" };

/** Delay between a settle and the outbox flush (lets one alarm carry many events per D1 batch). */
export const FLUSH_DELAY_MS = 1_000;
/** Back-off after a failed flush (D1 unavailable). */
export const FLUSH_RETRY_MS = 15_000;
/**
 * How long an object remembers (in memory only) that its org id is not in D1: repeated keys with a
 * made-up org id cost no D1 read meanwhile, and nothing is ever stored for them.
 */
export const UNKNOWN_ORG_TTL_MS = 60_000;

/**
 * One per org (named by org id), SQLite-backed. Holds the org's hot copy (keys, providers, pricing
 * overrides, budgets, plan), the money ledger (spend counters, open reservations), RPM/TPM windows,
 * velocity breakers and the outbox of cost/budget events not yet in D1. D1 stays the system of
 * record; the control plane writes D1 first, then updates this object before it answers, so every
 * change applies to the very next request. Layout: docs/storage.md; rules: docs/budgets.md.
 */
export class OrgGate extends DurableObject<Env> {
  private sql: SqlStorage;
  private loadedOrg: string | null = null;
  private loading: Promise<void> | null = null;
  /** The alarm time we last set (null: none). Mirrors storage so the hot path never awaits getAlarm. */
  private alarmAt: number | null = null;
  /** Parsed hot copy for the admission path; dropped on every change to the hot copy. */
  private hot: HotCache;
  /** Counters, reservations, windows, velocity, breakers, alerts and customers: only through here. */
  private ledger: Ledger;
  /** In-flight outbox flush, and how many seedings hold flushes back (see {@link seedFor}). */
  private flushing: Promise<unknown> | null = null;
  private seeding = 0;
  /**
   * Wall time of the last load or reconciliation with D1, and of the last admission (both in memory:
   * a restarted object reconciles before its first admission). See docs/convergence.md.
   */
  private reconciledAt = 0;
  private activeAt = 0;
  private reconciling: Promise<void> | null = null;
  /** False until this object's SQLite schema exists: it is created only once the org is found in D1. */
  private schemaReady = false;
  /** Until when the org is known to be missing from D1 (memory only; see {@link UNKNOWN_ORG_TTL_MS}). */
  private unknownUntil = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.hot = new HotCache(this.sql);
    this.ledger = new Ledger(ctx.storage, this.hot);
    ctx.blockConcurrencyWhile(async () => {
      // A fresh object (possibly named by a made-up org id) stays empty: the schema waits for the org.
      if (hasGateSchema(this.sql)) {
        this.ensureSchema();
        this.loadedOrg = readMeta(this.sql, "loaded_org") ?? null;
      }
      this.alarmAt = await ctx.storage.getAlarm();
    });
  }

  private ensureSchema(): void {
    if (this.schemaReady) return;
    migrateGateSchema(this.ctx.storage);
    this.schemaReady = true;
  }

  /**
   * Loads the whole hot copy from D1 the first time this object is used (one D1 batch). Returns false,
   * writing nothing, when the org is not in D1. `trustUnknown` (data plane) answers from the in-memory
   * "not in D1" note without reading D1; the control plane, which has just written the org, never does.
   */
  private async ensureLoaded(orgId: string, trustUnknown = false): Promise<boolean> {
    if (this.loadedOrg) return true;
    if (trustUnknown && this.unknownUntil > Date.now()) return false;
    this.loading ??= (async () => {
      try {
        const loaded = await this.fetchParts(orgId, ALL_PARTS);
        if (!loaded.org?.length) {
          this.unknownUntil = Date.now() + UNKNOWN_ORG_TTL_MS;
          return;
        }
        this.unknownUntil = 0;
        this.ensureSchema();
        const { targets, spend } = await this.seedFor(orgId, loaded, null);
        this.ledger.transaction(() => {
          if (readMeta(this.sql, "loaded_org")) return;
          applyParts(this.sql, loaded);
          writeMeta(this.sql, "loaded_org", orgId);
          if (targets.length) this.ledger.seed(seedCounters(this.sql, indexBudgets(readBudgets(this.sql)), targets, spend));
        });
        this.hot.invalidate();
        this.loadedOrg = orgId;
        this.reconciledAt = Date.now();
      } finally {
        this.loading = null;
      }
    })();
    await this.loading;
    return this.loadedOrg !== null;
  }

  /**
   * Reads parts of the hot copy from D1 and applies this deployment's credit settings to the `org`
   * part: no credits scope when prepaid credits are off, and the low-balance threshold when on.
   */
  private async fetchParts(orgId: string, parts: HotPart[]): Promise<Loaded> {
    const loaded = await fetchParts(this.env.DB, orgId, parts);
    const cfg = getConfig(this.env);
    for (const r of loaded.org ?? []) {
      if (!cfg.CREDITS_ENABLED) r.credits_micros = null;
      r.credits_low_micros = cfg.CREDITS_LOW_THRESHOLD_MICROS;
    }
    return loaded;
  }

  /**
   * Budgets in `loaded` that the gate has not counted yet (all of them, plus the plan cap, on a cold
   * load) and their current-period spend from D1. Outbox flushes wait meanwhile, so an event is
   * either in the D1 sum or still in the outbox when the seed is applied, never both.
   */
  private async seedFor(orgId: string, loaded: Loaded, before: BudgetIndex | null): Promise<{ targets: SeedTarget[]; spend: SeedSpend[] }> {
    if (!loaded.budgets && !loaded.org) return { targets: [], spend: [] };
    const now = Date.now();
    const current = readOrg(this.sql);
    const org = {
      ...current,
      ...(loaded.org ? { plan: String(loaded.org[0]?.plan ?? "free"), billingAnchor: anchorFromLoaded(loaded) ?? null, creditsMicros: creditsFromLoaded(loaded) ?? null } : {}),
    };
    const list = loaded.budgets ? budgetsFromRows(loaded.budgets) : readBudgets(this.sql);
    const targets = seedTargets(before, list, now, org.billingAnchor);
    // A moved billing anchor moves every monthly period: those counters start over from D1.
    const anchorMoved = before !== null && org.billingAnchor !== current.billingAnchor;
    if (anchorMoved) {
      const seeded = new Set(targets.map((t) => t.budget.id));
      for (const b of list) if (b.period === "monthly" && !seeded.has(b.id)) targets.push({ budget: b, periodStart: periodBounds("monthly", now, org.billingAnchor).start });
    }
    const cap = before === null || anchorMoved || org.plan !== current.plan ? planCapBudget(org) : null;
    if (cap) targets.push({ budget: cap, periodStart: periodBounds("monthly", now, org.billingAnchor).start });
    // The prepaid balance counts the org's whole spend: seeded (from every cost event) when credits first apply here.
    const credits = before === null || current.creditsMicros === null ? creditsBudget(org) : null;
    if (credits) targets.push({ budget: credits, periodStart: 0 });
    if (!targets.length) return { targets, spend: [] };
    this.seeding++;
    try {
      await this.flushing;
      return { targets, spend: await fetchSeedSpend(this.env.DB, orgId, seedQueries(targets)) };
    } finally {
      this.seeding--;
    }
  }

  private budgets(): BudgetIndex {
    return this.hot.budgets();
  }

  /** Arms the alarm for `at` unless an earlier one is already set. */
  private async armAlarm(at: number): Promise<void> {
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    this.alarmAt = at;
    await this.ctx.storage.setAlarm(at);
  }

  /**
   * Admits a proxied request or refuses it with a typed denial, in one synchronous transaction:
   * key, route, allowed models, price, every budget, velocity breaker and RPM/TPM window, then the
   * reservation. `now` exists for tests; the Worker never passes it.
   */
  async admit(req: AdmitRequest, now = Date.now()): Promise<AdmitResult> {
    // Hot path: no awaits (no extra turns) once loaded and when an early enough alarm is already set.
    // An org id missing from D1 is refused exactly like a wrong secret (never "deleted"): no oracle.
    if (!this.loadedOrg && !(await this.ensureLoaded(req.orgId, true))) return { ok: false, denial: { kind: "invalid_key", reason: "unknown" } };
    if (req.orgId !== this.loadedOrg) return { ok: false, denial: { kind: "invalid_key", reason: "unknown" } };
    const wall = Date.now();
    this.activeAt = wall;
    if (wall - this.reconciledAt > RECONCILE_STALE_MS) await this.reconcileQuietly();
    if (this.alarmAt === null || this.alarmAt > wall + RECONCILE_INTERVAL_MS) await this.armAlarm(wall + RECONCILE_INTERVAL_MS);
    const result = this.ledger.transaction(() => admitTx(this.hot, this.ledger, req, now));
    if (result.ok && (this.alarmAt === null || this.alarmAt > result.reservationExpiresAt)) await this.armAlarm(result.reservationExpiresAt);
    // Tells the data plane to switch this org to leases (docs/budgets.md "Leases").
    if (result.ok && this.hot.org().admission === "lease") result.admission = "lease";
    return result;
  }

  /**
   * The lease protocol (gate-lease.ts): applies an isolate's reports (admissions from its leases,
   * settles, releases, returned leases) and answers its needs (a new lease, or an exact admission), in
   * one transaction. `now` exists for tests.
   */
  async lease(req: LeaseRequest, now = Date.now()): Promise<LeaseResult> {
    if ((!this.loadedOrg && !(await this.ensureLoaded(req.orgId, true))) || req.orgId !== this.loadedOrg) {
      if (req.reports.length) throw new Error(`org ${req.orgId} is not in D1: nothing to settle or release`);
      return { mode: "strict", answers: req.needs.map(() => ({ kind: "exact", result: { ok: false, denial: { kind: "invalid_key", reason: "unknown" } } })) };
    }
    const wall = Date.now();
    if (req.needs.length) {
      this.activeAt = wall;
      if (wall - this.reconciledAt > RECONCILE_STALE_MS) await this.reconcileQuietly();
    }
    if (this.alarmAt === null || this.alarmAt > wall + RECONCILE_INTERVAL_MS) await this.armAlarm(wall + RECONCILE_INTERVAL_MS);
    const result = this.ledger.transaction(() => leaseTx(this.hot, this.ledger, req, now));
    const next = this.ledger.nextExpiry();
    if (next !== null) await this.armAlarm(next);
    if (req.reports.some((r) => r.kind === "settle" || r.kind === "release")) await this.armAlarm(Date.now() + FLUSH_DELAY_MS);
    return result;
  }

  /** Replaces a reservation with the exact cost; idempotent; records late settles. */
  async settle(req: SettleRequest, now = Date.now()): Promise<SettleResult> {
    await this.requireLoaded(req.orgId);
    const result = this.ledger.transaction(() => this.ledger.settle(req.orgId, req, now));
    if (!result.duplicate) await this.armAlarm(Date.now() + FLUSH_DELAY_MS);
    return result;
  }

  /** Drops a reservation without charge (upstream failed before any output); idempotent. */
  async release(req: ReleaseRequest, now = Date.now()): Promise<ReleaseResult> {
    await this.requireLoaded(req.orgId);
    const result = this.ledger.transaction(() => this.ledger.release(req.orgId, req, now));
    if (!result.duplicate) await this.armAlarm(Date.now() + FLUSH_DELAY_MS);
    return result;
  }

  /**
   * Expires reservations past their expiry (never earlier), flushes the outbox to D1 in idempotent
   * batches, sends alert emails for new budget events, prunes old bookkeeping, and re-arms while
   * work remains.
   */
  override async alarm(): Promise<void> {
    this.alarmAt = null;
    if (!this.schemaReady) return;
    const now = Date.now();
    this.ledger.transaction(() => {
      this.ledger.expire(now);
      this.ledger.expireLeases(now);
      this.ledger.prune(now);
    });
    let retryAt: number | null = null;
    const orgId = this.loadedOrg;
    if (orgId && this.seeding > 0) {
      retryAt = Date.now() + FLUSH_DELAY_MS;
    } else if (orgId && readOrg(this.sql).deletedAt === null) {
      try {
        const flushing = flushOutbox(this.sql, this.env.DB);
        this.flushing = flushing.catch(() => undefined);
        const flushed = await flushing;
        if (flushed.remaining) retryAt = Date.now() + FLUSH_DELAY_MS;
        if (flushed.budgetEvents.length) await notifyBudgetEvents(this.env, orgId, flushed.budgetEvents);
      } catch (err) {
        console.error("org-gate outbox flush failed", err instanceof Error ? err.message : String(err));
        retryAt = Date.now() + FLUSH_RETRY_MS;
        // The org row is gone from D1 (deleted before `deleteOrg` reached us): its events can never land.
        // A D1 that cannot answer proves nothing: only a clean "no such row" counts.
        if (!(await orgExists(this.env.DB, orgId).catch(() => true))) {
          await this.deleteOrg(orgId);
          retryAt = null;
        }
      } finally {
        this.flushing = null;
      }
    }
    let reconcileAt: number | null = null;
    if (orgId && readOrg(this.sql).deletedAt === null) {
      if (Date.now() - this.reconciledAt >= RECONCILE_INTERVAL_MS - FLUSH_DELAY_MS) await this.reconcileQuietly();
      // Keep checking while the org is in use; an idle gate reconciles before its next admission instead.
      if (Date.now() - this.activeAt < RECONCILE_IDLE_STOP_MS) reconcileAt = this.reconciledAt + RECONCILE_INTERVAL_MS;
    }
    const expiry = this.ledger.nextExpiry();
    const next = [retryAt, expiry, reconcileAt].filter((t): t is number => t !== null);
    if (next.length) await this.armAlarm(Math.max(Math.min(...next), Date.now() + 1));
  }

  /** Verifies a presented key (hash compared in constant time, status, expiry). */
  async verifyKey(orgId: string, keyId: string, keyHash: string, now = Date.now()): Promise<KeyCheck> {
    if (!(await this.ensureLoaded(orgId, true)) || orgId !== this.loadedOrg) return { ok: false, reason: "unknown" };
    return checkKey(this.hot, keyId, keyHash, now);
  }

  /** The models a key may use (`GET /v1/models`), key verified as in `admit`; read-only, no D1 once loaded. */
  async listModels(req: ModelsRequest, now = Date.now()): Promise<ModelsResult> {
    if (!(await this.ensureLoaded(req.orgId, true)) || req.orgId !== this.loadedOrg) return { ok: false, denial: { kind: "invalid_key", reason: "unknown" } };
    if (Date.now() - this.reconciledAt > RECONCILE_STALE_MS) await this.reconcileQuietly();
    return listModelsFor(this.hot, req.keyId, req.keyHash, now);
  }

  /**
   * The template a `/v1` request's `prompt` reference names (docs/prompts.md), key verified as in
   * `admit`; read-only, no D1 once loaded. The Worker renders it before `admit`, whose estimate needs it.
   */
  async resolvePrompt(req: PromptRequest, now = Date.now()): Promise<PromptResult> {
    if (!(await this.ensureLoaded(req.orgId, true)) || req.orgId !== this.loadedOrg) return { ok: false, denial: { kind: "invalid_key", reason: "unknown" } };
    if (Date.now() - this.reconciledAt > RECONCILE_STALE_MS) await this.reconcileQuietly();
    const key = checkKey(this.hot, req.keyId, req.keyHash, now);
    if (!key.ok) return { ok: false, denial: { kind: "invalid_key", reason: key.reason } };
    const found = readPromptTemplate(this.sql, req.ref);
    return found.ok ? { ok: true, template: found.template } : { ok: false, missing: found.missing };
  }

  /** Inserts or replaces the hot copy of a key (create, update, revoke all go through here). */
  async syncKey(orgId: string, key: GateKey): Promise<void> {
    if (!(await this.ensureLoaded(orgId))) return;
    upsertKey(this.sql, key);
    this.hot.invalidate(["keys"]);
  }

  /** Marks keys revoked at once (member removal, bulk revoke). */
  async revokeKeys(orgId: string, keyIds: string[], at = Date.now()): Promise<void> {
    if (!(await this.ensureLoaded(orgId))) return;
    this.ctx.storage.transactionSync(() => {
      for (const id of keyIds) this.sql.exec("UPDATE keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", at, id);
    });
    for (const id of keyIds) this.hot.forgetKey(id);
  }

  /**
   * Reloads parts of the hot copy from D1 after a control-plane change (keys, providers, budgets,
   * pricing overrides, org plan/billing anchor). Called by the control plane before it answers.
   * Counters, reservations and windows are untouched: a changed limit applies to the existing spend.
   */
  async refresh(orgId: string, parts: HotPart[]): Promise<void> {
    if (!this.loadedOrg) {
      await this.ensureLoaded(orgId);
      return;
    }
    if (!parts.length) return;
    const loaded = await this.fetchParts(orgId, parts);
    const { targets, spend } = await this.seedFor(orgId, loaded, this.budgets());
    this.ledger.transaction(() => {
      applyParts(this.sql, loaded);
      if (targets.length) this.ledger.seed(seedCounters(this.sql, indexBudgets(readBudgets(this.sql)), targets, spend));
    });
    this.hot.invalidate(parts);
  }

  /**
   * Compares the hot copy with D1 and reloads the parts that changed there (keys revoked, budgets edited,
   * the org deleted…) without this gate being told: the repair path for a control-plane push that
   * failed. One D1 batch when nothing changed. Runs on the alarm and before admitting on a stale copy.
   */
  async reconcile(orgId?: string): Promise<{ changed: HotPart[]; deleted: boolean }> {
    const id = orgId ?? this.loadedOrg;
    if (!id) return { changed: [], deleted: false };
    // An org never found in D1 has nothing here to reconcile (and must persist nothing).
    if (!(await this.ensureLoaded(id))) return { changed: [], deleted: false };
    if (readOrg(this.sql).deletedAt !== null) return { changed: [], deleted: true };
    const startedAt = Date.now();
    const fps = await readFingerprints(this.env.DB, id);
    // Turning prepaid credits on or off for the deployment must reload the org part too.
    if (fps.org !== null) fps.org += getConfig(this.env).CREDITS_ENABLED ? ":credits" : "";
    // Only an org that existed when loaded and is gone now counts as deleted (never a test or unknown id).
    if (fps.org === null && !readOrg(this.sql).missing) {
      await this.deleteOrg(id);
      this.reconciledAt = startedAt;
      return { changed: [], deleted: true };
    }
    const changed = changedParts(this.sql, fps);
    if (changed.length) await this.refresh(id, changed);
    storeFingerprints(this.sql, fps);
    this.reconciledAt = startedAt;
    return { changed, deleted: false };
  }

  /** {@link reconcile} for the alarm and the hot path: one at a time, and a D1 failure only logs (retried next interval). */
  private reconcileQuietly(): Promise<void> {
    this.reconciling ??= this.reconcile()
      .then(() => undefined)
      .catch((err: unknown) => {
        console.error("org-gate reconcile failed", err instanceof Error ? err.message : String(err));
        this.reconciledAt = Date.now();
      })
      .finally(() => {
        this.reconciling = null;
      });
    return this.reconciling;
  }

  /** The org was deleted: refuse every key from now on, and drop the hot state and unsent events. */
  async deleteOrg(orgId: string, at = Date.now()): Promise<void> {
    // Never loaded and already gone from D1: nothing is stored here, and its keys are refused as unknown.
    if (!(await this.ensureLoaded(orgId))) return;
    this.ledger.transaction(() => {
      for (const t of ["keys", "providers", "pricing", "budgets", "prompts", "prompt_versions", "outbox_cost", "outbox_budget"]) this.sql.exec(`DELETE FROM ${t}`);
      this.ledger.dropReservations();
      writeMeta(this.sql, "deleted_at", String(at));
    });
    this.hot.invalidate();
  }

  /** Live spend, reservations and breaker state of one budget in its current period. */
  async budgetStatus(orgId: string, budgetId: string, now = Date.now()): Promise<BudgetStatus> {
    if (!(await this.ensureLoaded(orgId))) return { ok: false, reason: "not_found" };
    const budget = this.budgets().byId.get(budgetId);
    if (!budget) return { ok: false, reason: "not_found" };
    const { start, end } = periodBounds(budget.period, now, readOrg(this.sql).billingAnchor);
    const live = this.ledger.budgetStatus(budgetId, start, now);
    return {
      ok: true, budgetId, spentMicros: live.spent, reservedMicros: live.reserved, limitMicros: budget.limitMicros,
      periodStart: new Date(start).toISOString(), resetsAt: isoOrNull(end), instances: live.instances,
      breaker: { tripped: live.trippedUntil !== null, trippedUntil: isoOrNull(live.trippedUntil) },
    };
  }

  /**
   * The live prepaid balance: Σ grants, spend and open reservations as the gate counts them (null when
   * credits are off or the org is not in D1). Balance = granted − spent; available = balance − reserved.
   */
  async creditBalance(orgId: string): Promise<{ grantedMicros: number; spentMicros: number; reservedMicros: number } | null> {
    if (!(await this.ensureLoaded(orgId))) return null;
    const granted = readOrg(this.sql).creditsMicros;
    if (granted === null) return null;
    const c = this.ledger.counter(CREDITS_ID, "", 0);
    return { grantedMicros: granted, spentMicros: c.spent, reservedMicros: c.reserved };
  }

  /** Settle and release follow an admission, so the org was loaded; anything else is a caller bug. */
  private async requireLoaded(orgId: string): Promise<void> {
    if (!(await this.ensureLoaded(orgId))) throw new Error(`org ${orgId} is not in D1: nothing to settle or release`);
  }

  /** Diagnostics and tests: every counter, open reservations and outbox depth. */
  async counters(): Promise<{
    counters: Array<{ budgetId: string; subject: string; periodStart: number; spent: number; reserved: number }>;
    reservations: number;
    reservedMicros: number;
    leases: number;
    leasedMicros: number;
    outbox: { cost: number; budget: number };
    customers: number;
    alarmAt: number | null;
  }> {
    if (!this.schemaReady) return { counters: [], reservations: 0, reservedMicros: 0, leases: 0, leasedMicros: 0, outbox: { cost: 0, budget: 0 }, customers: 0, alarmAt: this.alarmAt };
    return { ...this.ledger.snapshot(), outbox: outboxDepth(this.sql), alarmAt: this.alarmAt };
  }
}
