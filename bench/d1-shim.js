/**
 * Bench-only D1 binding for raw workerd (wrangler/Miniflare provide D1 in dev and tests; bare workerd
 * does not). A wrapped binding: the D1 API (`prepare/bind/all/first/run/raw`, `batch`, `exec`) on top
 * of a SQLite-backed Durable Object (`D1Store` in d1-store.js), which counts every statement, so the
 * benchmark can report D1 queries per proxied request.
 */
class Statement {
  constructor(db, sql, params = []) {
    this.db = db;
    this.sql = sql;
    this.params = params;
  }
  bind(...params) {
    return new Statement(this.db, this.sql, params.map((p) => (p === undefined ? null : typeof p === "boolean" ? (p ? 1 : 0) : p)));
  }
  async all() {
    const r = await this.db.store().query(this.sql, this.params);
    return { success: true, results: r.rows, meta: { changes: r.changes, last_row_id: r.lastRowId, duration: 0 } };
  }
  async first(column) {
    const { results } = await this.all();
    const row = results[0] ?? null;
    return column ? (row ? row[column] ?? null : null) : row;
  }
  async run() {
    return this.all();
  }
  async raw(opts = {}) {
    const r = await this.db.store().query(this.sql, this.params);
    const rows = r.rows.map((o) => r.columns.map((c) => o[c]));
    return opts.columnNames ? [r.columns, ...rows] : rows;
  }
}

class Database {
  constructor(ns) {
    this.ns = ns;
  }
  store() {
    return this.ns.get(this.ns.idFromName("db"));
  }
  prepare(sql) {
    return new Statement(this, sql);
  }
  async batch(statements) {
    const rs = await this.store().batch(statements.map((s) => ({ sql: s.sql, params: s.params })));
    return rs.map((r) => ({ success: true, results: r.rows, meta: { changes: r.changes, last_row_id: r.lastRowId, duration: 0 } }));
  }
  async exec(sql) {
    await this.store().exec(sql);
    return { count: 1, duration: 0 };
  }
  withSession() {
    return this;
  }
}

export default function makeD1(env) {
  return new Database(env.ns);
}
