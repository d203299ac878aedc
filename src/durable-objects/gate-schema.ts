/**
 * OrgGate's own SQLite schema, versioned in `meta.schema_version` and migrated forward explicitly
 * at construction (inside `blockConcurrencyWhile`, so no request sees a half-migrated object).
 * Never edit a shipped migration: append a new one. Table roles: docs/storage.md.
 */

/** Ordered migrations; index + 1 is the version each one produces. */
const MIGRATIONS: string[][] = [
  // v1: hot copy of the org's virtual keys.
  [
    `CREATE TABLE IF NOT EXISTS keys (
      id TEXT PRIMARY KEY, key_hash TEXT NOT NULL, team_id TEXT, created_by TEXT NOT NULL,
      allowed_models TEXT, rpm INTEGER, tpm INTEGER, expires_at INTEGER, revoked_at INTEGER)`,
  ],
  // v2: the rest of the hot copy, the money ledger, rate windows, breakers and the outbox.
  [
    "ALTER TABLE keys ADD COLUMN name TEXT NOT NULL DEFAULT ''",
    `CREATE TABLE providers (
      id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, type TEXT NOT NULL, base_url TEXT NOT NULL,
      api_key_sealed TEXT NOT NULL, is_default INTEGER NOT NULL DEFAULT 0)`,
    `CREATE TABLE pricing (
      model TEXT PRIMARY KEY, input INTEGER NOT NULL, cached_input INTEGER, cache_write INTEGER,
      cache_write_1h INTEGER, output INTEGER NOT NULL, max_output INTEGER)`,
    `CREATE TABLE budgets (
      id TEXT PRIMARY KEY, scope TEXT NOT NULL, scope_id TEXT, limit_micros INTEGER, period TEXT NOT NULL,
      mode TEXT NOT NULL, rpm INTEGER, tpm INTEGER, thresholds TEXT NOT NULL, velocity_limit INTEGER,
      velocity_window_s INTEGER, velocity_cooldown_s INTEGER, label TEXT NOT NULL)`,
    "CREATE INDEX budgets_scope ON budgets (scope, scope_id)",
    // Spend per budget instance and period. subject = customer id for default customer budgets, else ''.
    `CREATE TABLE counters (
      budget_id TEXT NOT NULL, subject TEXT NOT NULL, period_start INTEGER NOT NULL,
      spent INTEGER NOT NULL DEFAULT 0, reserved INTEGER NOT NULL DEFAULT 0,
      PRIMARY KEY (budget_id, subject, period_start))`,
    `CREATE TABLE windows (
      wkey TEXT NOT NULL, kind TEXT NOT NULL, window_start INTEGER NOT NULL, used INTEGER NOT NULL,
      PRIMARY KEY (wkey, kind, window_start))`,
    `CREATE TABLE reservations (
      id TEXT PRIMARY KEY, request_id TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
      micros INTEGER NOT NULL, tokens INTEGER NOT NULL, price TEXT NOT NULL, counters TEXT NOT NULL, windows TEXT NOT NULL)`,
    "CREATE INDEX reservations_expiry ON reservations (expires_at)",
    `CREATE TABLE settled (
      reservation_id TEXT PRIMARY KEY, request_id TEXT NOT NULL UNIQUE, cost INTEGER NOT NULL,
      late INTEGER NOT NULL, settled_at INTEGER NOT NULL)`,
    "CREATE INDEX settled_at ON settled (settled_at)",
    `CREATE TABLE velocity (
      budget_id TEXT NOT NULL, subject TEXT NOT NULL, at INTEGER NOT NULL, micros INTEGER NOT NULL, ref TEXT NOT NULL)`,
    "CREATE INDEX velocity_window ON velocity (budget_id, subject, at)",
    "CREATE INDEX velocity_ref ON velocity (ref)",
    `CREATE TABLE breakers (
      budget_id TEXT NOT NULL, subject TEXT NOT NULL, tripped_at INTEGER NOT NULL, tripped_until INTEGER NOT NULL,
      PRIMARY KEY (budget_id, subject))`,
    // One row per (budget instance, period, kind, threshold): the "exactly once" of alerts.
    `CREATE TABLE alerts (
      budget_id TEXT NOT NULL, subject TEXT NOT NULL, period_start INTEGER NOT NULL, kind TEXT NOT NULL,
      threshold INTEGER NOT NULL, PRIMARY KEY (budget_id, subject, period_start, kind, threshold))`,
    "CREATE TABLE customers (id TEXT PRIMARY KEY, first_seen INTEGER NOT NULL)",
    "CREATE TABLE outbox_cost (request_id TEXT PRIMARY KEY, row TEXT NOT NULL, queued_at INTEGER NOT NULL)",
    "CREATE TABLE outbox_budget (id TEXT PRIMARY KEY, row TEXT NOT NULL, queued_at INTEGER NOT NULL)",
  ],
  // v3: member budgets: the team of a default member budget, and whether an admin set the budget.
  [
    "ALTER TABLE budgets ADD COLUMN team_id TEXT",
    "ALTER TABLE budgets ADD COLUMN admin_set INTEGER NOT NULL DEFAULT 1",
  ],
  // v4: what an expired reservation's cost event needs (key, team, endpoint, provider, model,
  // attribution, estimated tokens), as JSON, so the alarm settles it at its estimate (docs/money.md).
  ["ALTER TABLE reservations ADD COLUMN context TEXT"],
  // v5: whether a key lets the caller bring their own provider key (docs/proxy.md#byok).
  ["ALTER TABLE keys ADD COLUMN byok TEXT NOT NULL DEFAULT 'off'"],
  // v6: prompt templates (docs/prompts.md): each prompt's labels, and its immutable versions.
  [
    "CREATE TABLE prompts (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, labels TEXT NOT NULL)",
    "CREATE TABLE prompt_versions (prompt_id TEXT NOT NULL, version INTEGER NOT NULL, messages TEXT NOT NULL, variables TEXT NOT NULL, PRIMARY KEY (prompt_id, version))",
  ],
  // v7: headroom leased to Worker isolates (docs/budgets.md "Leases"): what is left of each lease,
  // the counters and windows it holds, and when the gate takes it back.
  [
    `CREATE TABLE leases (
      id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, micros INTEGER NOT NULL,
      tokens INTEGER NOT NULL, requests INTEGER NOT NULL, price TEXT NOT NULL, counters TEXT NOT NULL, windows TEXT NOT NULL,
      closed INTEGER NOT NULL DEFAULT 0)`,
    "CREATE INDEX leases_open ON leases (closed, expires_at)",
  ],
];

/** The schema version this code expects. */
export const GATE_SCHEMA_VERSION = MIGRATIONS.length;

/** True once this object has its schema (read-only check: a fresh object stays empty). */
export function hasGateSchema(sql: SqlStorage): boolean {
  return sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").toArray().length > 0;
}

/** Brings the object's SQLite schema up to {@link GATE_SCHEMA_VERSION}; each step is atomic. */
export function migrateGateSchema(storage: DurableObjectStorage): void {
  const sql = storage.sql;
  sql.exec("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)");
  const row = sql.exec<{ v: string }>("SELECT v FROM meta WHERE k = 'schema_version'").toArray()[0];
  let version = row ? Number(row.v) : 0;
  while (version < MIGRATIONS.length) {
    const steps = MIGRATIONS[version]!;
    storage.transactionSync(() => {
      for (const stmt of steps) sql.exec(stmt);
      sql.exec("INSERT OR REPLACE INTO meta (k, v) VALUES ('schema_version', ?)", String(version + 1));
    });
    version++;
  }
}

/** Reads a meta value. */
export function readMeta(sql: SqlStorage, k: string): string | undefined {
  return sql.exec<{ v: string }>("SELECT v FROM meta WHERE k = ?", k).toArray()[0]?.v;
}

/** Writes a meta value. */
export function writeMeta(sql: SqlStorage, k: string, v: string): void {
  sql.exec("INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)", k, v);
}
