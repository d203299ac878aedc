/**
 * Storage behind the bench D1 binding (d1-shim.js): one SQLite-backed Durable Object holding the
 * database, counting statements and round trips (a batch is one round trip). The worker's fetch is the bench admin API: POST /exec (SQL script),
 * POST /query ({sql, params}), GET /stats ({ queries }).
 */
import { DurableObject } from "cloudflare:workers";

export class D1Store extends DurableObject {
  queries = 0;
  roundTrips = 0;
  run(sql, params) {
    this.queries++;
    const cur = this.ctx.storage.sql.exec(sql, ...params);
    const rows = cur.toArray();
    return { rows, columns: cur.columnNames, changes: cur.rowsWritten, lastRowId: 0 };
  }
  query(sql, params) {
    this.roundTrips++;
    return this.run(sql, params);
  }
  batch(list) {
    this.roundTrips++;
    return this.ctx.storage.transactionSync(() => list.map((s) => this.run(s.sql, s.params)));
  }
  exec(script) {
    this.ctx.storage.sql.exec(script);
  }
  stats() {
    return { queries: this.queries, roundTrips: this.roundTrips };
  }
}

export default {
  async fetch(request, env) {
    const stub = env.STORE.get(env.STORE.idFromName("db"));
    const url = new URL(request.url);
    if (url.pathname === "/exec") {
      await stub.exec(await request.text());
      return Response.json({ ok: true });
    }
    if (url.pathname === "/query") {
      const { sql, params } = await request.json();
      return Response.json(await stub.query(sql, params ?? []));
    }
    if (url.pathname === "/stats") return Response.json(await stub.stats());
    return new Response("not found", { status: 404 });
  },
};
