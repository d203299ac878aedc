/// <reference types="vite/client" />
/**
 * Tenant isolation (design §5). D1 has no row-level security, so isolation is structural:
 * (a) route files never touch the raw database or build SQL; every query goes through the org-scoped
 *     functions in src/db/;
 * (b) behaviourally, org A can neither read nor change org B's objects, by any route, through A's
 *     paths with B's ids or through B's paths, and A's lists never mention B's objects.
 */
import { is, Table } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import * as schema from "../src/db/schema";
import { call, createOrgWithCast } from "./factories";
import {
  fill, loadOperations, orgOwnedTables, paramsOf, pool, sampleBody, SEEDERS, seedObjects, segmentBefore, snapshotOrgs, type Cast, type Operation,
} from "./factories/route-catalog";

const routeSources = import.meta.glob("../src/routes/**/*.ts", { query: "?raw", import: "default", eager: true }) as Record<string, string>;

/** Source without comments, so documentation that mentions SQL does not trip the checks. */
const stripComments = (src: string) => src.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");

describe("tenant isolation: structure of src/routes", () => {
  const files = Object.entries(routeSources).map(([path, src]) => ({ path, src: stripComments(src) }));

  it("finds the route files", () => {
    expect(files.length).toBeGreaterThanOrEqual(4);
    expect(files.map((f) => f.path)).toContain("../src/routes/keys.ts");
  });

  it.each(files.map((f) => [f.path, f.src] as const))("%s uses the D1 binding only as getDb(c.env.DB)", (_path, src) => {
    const rest = src.replaceAll("getDb(c.env.DB)", "");
    expect(rest).not.toMatch(/\benv\.DB\b/);
    expect(rest).not.toMatch(/\bDB\b/); // no destructuring such as `const { DB } = c.env`
    expect(rest).not.toMatch(/\bD1Database\b/);
  });

  it.each(files.map((f) => [f.path, f.src] as const))("%s neither imports drizzle nor writes SQL", (_path, src) => {
    // Types from drizzle are harmless; values (eq, sql, sqliteTable, drizzle…) would let a route build queries.
    expect(src).not.toMatch(/import\s+(?!type\b)[^;]*from\s+["']drizzle-orm(\/[^"']*)?["']/);
    expect(src).not.toMatch(/\bsql\s*`/);
    expect(src).not.toMatch(/\.prepare\s*\(/);
    expect(src).not.toMatch(/\.sql\s*\.\s*exec\s*\(/);
    expect(src).not.toMatch(/["'`]\s*(SELECT\s+[\w*]|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b/i);
    // Query builders on the handle are the db modules' job; routes only batch statements those modules return.
    expect(src).not.toMatch(/\bdb\s*\.\s*(select|insert|update|delete|run|all|get|values|query)\s*[(.]/);
    // Table objects stay in src/db: a route may import constants and types from the schema, never a table.
    for (const m of src.matchAll(/import\s+(type\s+)?\{([^}]*)\}\s+from\s+["'][./]*db\/schema["']/g)) {
      if (m[1]) continue;
      const values = m[2]!.split(",").map((s) => s.trim().split(/\s+as\s+/)[0]!).filter((s) => s && !s.startsWith("type "));
      const tables = values.filter((name) => is((schema as Record<string, unknown>)[name], Table));
      expect(tables, "tables imported into a route").toEqual([]);
    }
    expect(src).not.toMatch(/import\s+\*\s+as\s+\w+\s+from\s+["'][./]*db\/schema["']/);
  });
});

describe("tenant isolation: behaviour", () => {
  let ops: Operation[] = [];
  let tables: string[] = [];
  let a: Cast;
  let b: Cast;
  let aObjects: Record<string, string> = {};
  let bObjects: Record<string, string> = {};

  beforeAll(async () => {
    ops = (await loadOperations()).filter((o) => o.path.startsWith("/api/orgs/{orgId}"));
    tables = await orgOwnedTables();
    [a, b] = await Promise.all([createOrgWithCast(), createOrgWithCast()]);
    aObjects = await seedObjects(a);
    bObjects = await seedObjects(b);
    // More of B's data for the lists to (not) leak: a member's key on B's team.
    await SEEDERS.keys!(b.org, b, b.member);
  });

  /** Every way to point one of A's requests at B: A's path with all of B's ids, with one of B's ids, and B's own path. */
  function crossTenantCases() {
    const cases: Array<{ op: Operation; label: string; path: string; orgMissing: boolean }> = [];
    for (const op of ops) {
      const params = paramsOf(op.path).filter((p) => bObjects[segmentBefore(op.path, p)]);
      if (!params.length) continue;
      cases.push({ op, label: "A's path, B's ids", path: fill(op.path, a.org.id, bObjects), orgMissing: false });
      if (params.length > 1) {
        for (const p of params) {
          const mixed = { ...Object.fromEntries(params.map((q) => [q, aObjects[segmentBefore(op.path, q)]!])), [p]: bObjects[segmentBefore(op.path, p)]! };
          cases.push({ op, label: `A's path, A's ids but B's ${p}`, path: fill(op.path, a.org.id, mixed), orgMissing: false });
        }
      }
      cases.push({ op, label: "B's path, B's ids", path: fill(op.path, b.org.id, bObjects), orgMissing: true });
    }
    return cases;
  }

  it("A's owner gets 404 for every route on B's objects, and neither org changes", async () => {
    const cases = crossTenantCases();
    expect(cases.length).toBeGreaterThanOrEqual(10);
    const covered = new Set(cases.map((c) => c.op.method));
    for (const m of ["GET", "PATCH", "DELETE", "POST", "PUT"]) expect(covered, `a ${m} route on an object`).toContain(m);

    const baseline = await snapshotOrgs(tables, [a.org.id, b.org.id]);
    const failures: string[] = [];
    await pool(cases, 8, async (c) => {
      const body = c.op.method === "GET" || c.op.method === "DELETE" ? undefined : sampleBody(c.op.bodySchema) ?? {};
      const res = await call(a.owner, c.op.method, c.path, body);
      if (res.status !== 404 || res.body?.error?.code !== "not_found") {
        failures.push(`${c.op.method} ${c.op.path} (${c.label}) with ${JSON.stringify(body)} → ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
      }
      const text = JSON.stringify(res.body);
      for (const id of Object.values(bObjects)) if (text.includes(id) && !c.path.includes(encodeURIComponent(id))) failures.push(`${c.op.method} ${c.path} leaked ${id}`);
      if ((await snapshotOrgs(tables, [a.org.id, b.org.id])) !== baseline) failures.push(`${c.op.method} ${c.op.path} (${c.label}) changed rows`);
    });
    expect(failures).toEqual([]);
  });

  it("A's reads (lists and A's own objects) never contain B's ids", async () => {
    const bIds = new Set([b.org.id, ...Object.values(bObjects).filter((id) => id !== b.viewer.id), ...(await orgRowIds(tables, b.org.id))]);
    const reads = ops.filter((o) => o.method === "GET");
    expect(reads.length).toBeGreaterThanOrEqual(4);
    const failures: string[] = [];
    let sawA = 0;
    await pool(reads, 8, async (op) => {
      const res = await call(a.owner, "GET", fill(op.path, a.org.id, aObjects));
      if (res.status !== 200) return; // e.g. CSV exports of empty ranges; reads that fail cannot leak.
      const text = typeof res.body === "string" ? res.body : JSON.stringify(res.body);
      for (const id of bIds) if (text.includes(id)) failures.push(`GET ${op.path} contains B's ${id}`);
      if (Object.values(aObjects).some((id) => text.includes(id))) sawA++;
    });
    expect(failures).toEqual([]);
    expect(sawA, "A's own objects show up in A's reads").toBeGreaterThanOrEqual(3);
  });
});

/** Ids of every org-owned row of one org that has an `id` column (keys, teams, providers, audit entries…). */
async function orgRowIds(tables: string[], orgId: string): Promise<string[]> {
  const { env } = await import("cloudflare:test");
  const ids: string[] = [];
  for (const t of tables) {
    const { results } = await env.DB.prepare(`SELECT * FROM ${t} WHERE org_id = ?`).bind(orgId).all<Record<string, unknown>>();
    for (const r of results) if (typeof r.id === "string") ids.push(r.id);
  }
  return ids;
}
