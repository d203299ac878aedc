/**
 * In-memory view of the hot copy for the admission path: parsed keys, providers, price overrides,
 * org state and the budget index, read from SQLite once and dropped whenever the hot copy changes
 * (load, refresh, syncKey, revokeKeys, deleteOrg). SQLite stays the durable copy; this only saves
 * re-reading and re-parsing the same rows on every request. The ledger's own memory view (counters,
 * windows, customers) lives with its tables in gate-ledger.ts.
 */
import { indexBudgets, type BudgetIndex } from "./gate-budgets";
import { readAliases, readBudgets, readGuardrails, readKey, readOrg, readOverride, readProviders, type GateGuardrail, type GateKey, type GateOrg, type GateProvider, type HotPart } from "./gate-hot-copy";
import type { Price } from "./gate-protocol";
import type { GuardrailSpec } from "../guardrails/spec";

/** Entries kept for lookups by client-supplied names (key ids, model names) before the map is reset. */
const MAX_LOOKUPS = 5_000;
export class HotCache {
  private keys = new Map<string, GateKey | null>();
  private prices = new Map<string, Price | null>();
  private providerList: GateProvider[] | null = null;
  private overrideList: string[] | null = null;
  private orgState: GateOrg | null = null;
  private aliasMap: Map<string, string[]> | null = null;
  private budgetIndex: BudgetIndex | null = null;
  private guardrailList: GateGuardrail[] | null = null;
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

  /** The enabled guardrails that apply to a key (org, its team, the key itself), in evaluation order. */
  guardrailsFor(key: GateKey): GuardrailSpec[] {
    this.guardrailList ??= readGuardrails(this.sql);
    if (!this.guardrailList.length) return [];
    return this.guardrailList
      .filter((g) => g.scope === "org" || (g.scope === "team" ? key.teamId !== null && g.scopeId === key.teamId : g.scopeId === key.id))
      .map((g) => g.spec);
  }

  org(): GateOrg {
    this.orgState ??= readOrg(this.sql);
    return this.orgState;
  }

  budgets(): BudgetIndex {
    this.budgetIndex ??= indexBudgets(readBudgets(this.sql));
    return this.budgetIndex;
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
    if (all || parts.includes("guardrails")) this.guardrailList = null;
    // Budget labels embed team and key names, so a keys refresh rebuilds the index too.
    if (all || parts.includes("budgets") || parts.includes("keys")) this.budgetIndex = null;
  }
}
