/**
 * In-memory view of the hot copy for the admission path: parsed keys, providers, price overrides,
 * org state and the budget index, read from SQLite once and dropped whenever the hot copy changes
 * (load, refresh, syncKey, revokeKeys, deleteOrg). SQLite stays the durable copy; this only saves
 * re-reading and re-parsing the same rows on every request.
 */
import { indexBudgets, type BudgetIndex } from "./gate-budgets";
import { readAliases, readBudgets, readKey, readOrg, readOverride, readProviders, type GateKey, type GateOrg, type GateProvider, type HotPart } from "./gate-hot-copy";
import type { Price } from "./gate-protocol";

/** Entries kept for lookups by client-supplied names (key ids, model names) before the map is reset. */
const MAX_LOOKUPS = 5_000;
/** Ledger entries (counters, windows) kept before the maps are reset (they reload from SQLite). */
const MAX_LEDGER = 50_000;

/** Spend and open reservations of one budget instance in one period (a live, mutable view). */
export type CounterView = { spent: number; reserved: number };

export class HotCache {
  private keys = new Map<string, GateKey | null>();
  private prices = new Map<string, Price | null>();
  private providerList: GateProvider[] | null = null;
  private overrideList: string[] | null = null;
  private orgState: GateOrg | null = null;
  private aliasMap: Map<string, string[]> | null = null;
  private budgetIndex: BudgetIndex | null = null;
  /**
   * Ledger read cache for admission: counters and RPM/TPM window usage, loaded from SQLite on a miss
   * and kept equal to it by write-through in admit/settle/release. Any other writer (seeding,
   * expiry, pruning, deletion) and any failed transaction drop it ({@link forgetLedger}).
   */
  private counterMap = new Map<string, CounterView>();
  private windowMap = new Map<string, number>();
  private customersSeen = new Set<string>();

  constructor(private readonly sql: SqlStorage) {}

  key(id: string): GateKey | undefined {
    if (!this.keys.has(id)) {
      if (this.keys.size >= MAX_LOOKUPS) this.keys.clear();
      this.keys.set(id, readKey(this.sql, id) ?? null);
    }
    return this.keys.get(id) ?? undefined;
  }

  providers(): GateProvider[] {
    this.providerList ??= readProviders(this.sql);
    return this.providerList;
  }

  override(model: string): Price | null {
    if (!this.prices.has(model)) {
      if (this.prices.size >= MAX_LOOKUPS) this.prices.clear();
      this.prices.set(model, readOverride(this.sql, model));
    }
    return this.prices.get(model) ?? null;
  }

  /** Model names the org prices itself (for `listModels`). */
  overrideModels(): string[] {
    this.overrideList ??= this.sql.exec<{ model: string }>("SELECT model FROM pricing ORDER BY model").toArray().map((r) => r.model);
    return this.overrideList;
  }

  /** The ordered targets of a model alias, or undefined when `name` is not an alias. */
  alias(name: string): string[] | undefined {
    this.aliasMap ??= readAliases(this.sql);
    return this.aliasMap.get(name);
  }

  org(): GateOrg {
    this.orgState ??= readOrg(this.sql);
    return this.orgState;
  }

  budgets(): BudgetIndex {
    this.budgetIndex ??= indexBudgets(readBudgets(this.sql));
    return this.budgetIndex;
  }

  /** The counter of one budget instance and period (0/0 when none exists yet). */
  counter(budgetId: string, subject: string, periodStart: number): CounterView {
    const k = `${budgetId}\u0000${subject}\u0000${periodStart}`;
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

  /** The cached counter, or undefined when it is not cached (write-through only touches cached ones). */
  cachedCounter(budgetId: string, subject: string, periodStart: number): CounterView | undefined {
    return this.counterMap.get(`${budgetId}\u0000${subject}\u0000${periodStart}`);
  }

  /** Usage of one RPM/TPM window. */
  windowUsed(wkey: string, kind: "rpm" | "tpm", windowStart: number): number {
    const k = `${wkey}\u0000${kind}\u0000${windowStart}`;
    let used = this.windowMap.get(k);
    if (used === undefined) {
      if (this.windowMap.size >= MAX_LEDGER) this.windowMap.clear();
      used = this.sql.exec<{ used: number }>("SELECT used FROM windows WHERE wkey = ? AND kind = ? AND window_start = ?", wkey, kind, windowStart).toArray()[0]?.used ?? 0;
      this.windowMap.set(k, used);
    }
    return used;
  }

  /** Write-through after SQLite was updated: sets a window's usage if it is cached. */
  updateWindow(wkey: string, kind: "rpm" | "tpm", windowStart: number, update: (used: number) => number): void {
    const k = `${wkey}\u0000${kind}\u0000${windowStart}`;
    const used = this.windowMap.get(k);
    if (used !== undefined) this.windowMap.set(k, update(used));
  }

  /** True when this customer id is known to be recorded in SQLite already. */
  customerKnown(id: string): boolean {
    return this.customersSeen.has(id);
  }

  /** Notes a customer id recorded in SQLite (call after the transaction's writes succeeded). */
  noteCustomer(id: string): void {
    if (this.customersSeen.size >= MAX_LEDGER) this.customersSeen.clear();
    this.customersSeen.add(id);
  }

  /** Drops the ledger cache (it reloads from SQLite, the durable truth, on the next read). */
  forgetLedger(): void {
    this.counterMap.clear();
    this.windowMap.clear();
    this.customersSeen.clear();
  }

  /** Forgets one key (after `syncKey` / `revokeKeys`). */
  forgetKey(id: string): void {
    this.keys.delete(id);
  }

  /** Forgets the given parts of the hot copy, or everything. */
  invalidate(parts: HotPart[] | "all" = "all"): void {
    const all = parts === "all";
    if (all || parts.includes("keys")) this.keys.clear();
    if (all || parts.includes("providers")) this.providerList = null;
    if (all || parts.includes("pricing")) {
      this.prices.clear();
      this.overrideList = null;
    }
    if (all || parts.includes("org")) this.orgState = null;
    if (all || parts.includes("aliases")) this.aliasMap = null;
    // Budget labels embed team and key names, so a keys refresh rebuilds the index too.
    if (all || parts.includes("budgets") || parts.includes("keys")) this.budgetIndex = null;
    if (all) this.forgetLedger();
  }
}
