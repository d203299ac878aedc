/**
 * The OrgGate outbox: cost events and budget events are appended to SQLite in the same transaction
 * as the spend they describe, then an alarm copies them to D1 in batches and deletes them.
 * Both D1 inserts are idempotent (`ON CONFLICT DO NOTHING` on `cost_events.request_id` and on the
 * `budget_events_once_uq` index), so a flush repeated after a crash between "D1 committed" and
 * "outbox rows deleted" writes nothing twice.
 *
 * The org's data policy is applied here, at the D1 write: with `data_policy.store_request_metadata`
 * false, cost events reach D1 without customer id, tags and trace id (docs/architecture.md, "Data policy").
 */
import type { Endpoint } from "./gate-protocol";

/** A `cost_events` row as queued in the outbox (column names as in D1). */
export type CostEventRow = {
  request_id: string;
  org_id: string;
  team_id: string | null;
  key_id: string;
  customer_id: string | null;
  tags: string;
  trace_id: string | null;
  provider: string;
  model: string;
  endpoint: Endpoint;
  status: number;
  input_tokens: number;
  cached_input_tokens: number;
  cache_write_tokens: number;
  output_tokens: number;
  reasoning_tokens: number;
  cost_micros: number;
  latency_ms: number;
  ttfb_ms: number | null;
  estimated: number;
  created_at: number;
  /** The prompt template rendered (docs/prompts.md); absent on rows queued before prompts existed. */
  prompt_id?: string | null;
  prompt_version?: number | null;
  /** JSON `[{id, action}]` of the guardrails that acted (absent in rows queued before guardrails existed). */
  guardrail_hits?: string | null;
};

/** A `budget_events` row as queued in the outbox. */
export type BudgetEventRow = {
  id: string;
  org_id: string;
  budget_id: string;
  scope_id: string | null;
  /** `credits_low`: the prepaid balance fell below the low-balance threshold (`threshold`, µ$). */
  kind: "threshold" | "exceeded" | "velocity_tripped" | "credits_low";
  period_start: number;
  threshold: number;
  spent_micros: number;
  limit_micros: number | null;
  created_at: number;
};

const COST_COLUMNS = [
  "request_id", "org_id", "team_id", "key_id", "customer_id", "tags", "trace_id", "provider", "model", "endpoint", "status",
  "input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens", "cost_micros",
  "latency_ms", "ttfb_ms", "estimated", "created_at", "prompt_id", "prompt_version", "guardrail_hits",
] as const;

const BUDGET_COLUMNS = ["id", "org_id", "budget_id", "scope_id", "kind", "period_start", "threshold", "spent_micros", "limit_micros", "created_at"] as const;

/**
 * Rows per D1 statement. Each statement inserts a whole JSON array through `json_each(?)`, so one
 * bound parameter carries many rows: a flush stays far below D1's per-invocation query limit
 * (1,000) and keeps up with thousands of settles per second per org.
 */
export const FLUSH_ROWS_PER_STATEMENT = 200;
/** Statements per D1 batch (one batch = one D1 transaction = one round trip). */
export const FLUSH_STATEMENTS_PER_BATCH = 10;

/** Queues a cost event (INSERT OR IGNORE: one event per request id, whatever happens). */
export function queueCostEvent(sql: SqlStorage, row: CostEventRow, now: number): void {
  sql.exec("INSERT OR IGNORE INTO outbox_cost (request_id, row, queued_at) VALUES (?, ?, ?)", row.request_id, JSON.stringify(row), now);
}

/** Queues a budget event. */
export function queueBudgetEvent(sql: SqlStorage, row: BudgetEventRow, now: number): void {
  sql.exec("INSERT OR IGNORE INTO outbox_budget (id, row, queued_at) VALUES (?, ?, ?)", row.id, JSON.stringify(row), now);
}

/** Number of rows waiting in the outbox. */
export function outboxDepth(sql: SqlStorage): { cost: number; budget: number } {
  const cost = sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM outbox_cost").one().n;
  const budget = sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM outbox_budget").one().n;
  return { cost, budget };
}

/**
 * Whether the row's org lets request metadata be stored, read in the inserting statement itself so
 * the policy in force at the write decides, with no copy of it to go stale. Absent means allowed.
 */
const KEEP_METADATA = "COALESCE((SELECT json_extract(o.settings, '$.data_policy.store_request_metadata') FROM orgs o WHERE o.id = json_extract(value, '$.org_id')), 1)";

/** Cost-event columns the data policy may withhold, and what is stored instead. */
const COST_METADATA: Record<string, string> = {
  customer_id: `CASE WHEN ${KEEP_METADATA} THEN json_extract(value, '$.customer_id') END`,
  tags: `CASE WHEN ${KEEP_METADATA} THEN json_extract(value, '$.tags') ELSE '{}' END`,
  trace_id: `CASE WHEN ${KEEP_METADATA} THEN json_extract(value, '$.trace_id') END`,
};

/**
 * One idempotent multi-row insert: the rows travel as one JSON array and are unpacked by
 * `json_each`; `WHERE true` keeps SQLite from reading `ON CONFLICT` as part of the SELECT.
 * `exprs` replaces the plain extraction of some columns.
 */
function insertJsonRows(db: D1Database, table: string, columns: readonly string[], conflict: string, rows: unknown[], exprs: Record<string, string> = {}) {
  const select = columns.map((c) => exprs[c] ?? `json_extract(value, '$.${c}')`).join(", ");
  return db
    .prepare(`INSERT INTO ${table} (${columns.join(", ")}) SELECT ${select} FROM json_each(?) WHERE true ON CONFLICT ${conflict} DO NOTHING`)
    .bind(JSON.stringify(rows));
}

function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * Copies up to `maxBatches` D1 batches of each outbox to D1 and deletes what D1 committed.
 * Returns the budget events written (for alert emails) and whether rows remain.
 */
export async function flushOutbox(
  sql: SqlStorage,
  db: D1Database,
  maxBatches = 5,
): Promise<{ costRows: number; budgetEvents: BudgetEventRow[]; remaining: boolean }> {
  const perBatch = FLUSH_ROWS_PER_STATEMENT * FLUSH_STATEMENTS_PER_BATCH;
  // Budget events first: few, and they drive the alert emails.
  const budgetEvents: BudgetEventRow[] = [];
  for (let i = 0; i < maxBatches; i++) {
    const rows = sql.exec<{ id: string; row: string }>("SELECT id, row FROM outbox_budget ORDER BY queued_at LIMIT ?", perBatch).toArray();
    if (!rows.length) break;
    const parsed = rows.map((r) => JSON.parse(r.row) as BudgetEventRow);
    await db.batch(chunk(parsed, FLUSH_ROWS_PER_STATEMENT).map((part) => insertJsonRows(db, "budget_events", BUDGET_COLUMNS, "", part)));
    for (const r of rows) sql.exec("DELETE FROM outbox_budget WHERE id = ?", r.id);
    budgetEvents.push(...parsed);
  }
  let costRows = 0;
  for (let i = 0; i < maxBatches; i++) {
    const rows = sql.exec<{ request_id: string; row: string }>("SELECT request_id, row FROM outbox_cost ORDER BY queued_at LIMIT ?", perBatch).toArray();
    if (!rows.length) break;
    const parsed = rows.map((r) => JSON.parse(r.row) as CostEventRow);
    await db.batch(chunk(parsed, FLUSH_ROWS_PER_STATEMENT).map((part) => insertJsonRows(db, "cost_events", COST_COLUMNS, "(request_id)", part, COST_METADATA)));
    for (const r of rows) sql.exec("DELETE FROM outbox_cost WHERE request_id = ?", r.request_id);
    costRows += rows.length;
  }
  const depth = outboxDepth(sql);
  return { costRows, budgetEvents, remaining: depth.cost + depth.budget > 0 };
}
