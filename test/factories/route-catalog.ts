/**
 * The API's own description of itself, for generic security tests: operations from
 * `/api/openapi.json`, path filling with real or plausible ids, minimal valid bodies generated from
 * the request schemas, and a one-batch snapshot of every org-owned table.
 */
import { env, SELF } from "cloudflare:test";
import { getDb } from "../../src/db/client";
import { managementTokens, type Role } from "../../src/db/schema";
import { sha256Hex } from "../../src/lib/crypto";
import { randomBase62 } from "../../src/lib/encoding";
import { newId, type IdPrefix } from "../../src/lib/ids";
import { createOrgWithCast, type TestOrg, type TestUser } from "../factories";
import { createKey } from "./keys";
import { createGuardrail, createModelAlias, createProvider, createTeam } from "./org-resources";
import { createPrompt } from "./prompts";
import { createWebhook } from "./webhooks";

type Schema = Record<string, any>;
export type Operation = {
  method: string;
  path: string;
  auth?: string;
  minRole?: Role;
  creatorRole?: Role;
  /** JSON schema of the request body, if any. */
  bodySchema?: Schema;
};
export type Cast = Awaited<ReturnType<typeof createOrgWithCast>>;

const METHODS = ["get", "post", "put", "patch", "delete"];
let docCache: { paths: Record<string, Record<string, Schema>>; components?: { schemas?: Record<string, Schema> } } | undefined;

/** Every operation of the OpenAPI document. */
export async function loadOperations(): Promise<Operation[]> {
  if (!docCache) docCache = (await (await SELF.fetch("http://localhost/api/openapi.json")).json()) as typeof docCache;
  const ops: Operation[] = [];
  for (const [path, item] of Object.entries(docCache!.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      ops.push({
        method: method.toUpperCase(), path, auth: op["x-tollgate-auth"], minRole: op["x-tollgate-min-role"], creatorRole: op["x-tollgate-creator-role"],
        bodySchema: op.requestBody?.content?.["application/json"]?.schema,
      });
    }
  }
  return ops;
}

/**
 * Real objects, by the collection segment that precedes a path parameter (`/keys/{keyId}` → "keys").
 * `creator` is whoever the object is attributed to (for `x-tollgate-creator-role` routes).
 */
export const SEEDERS: Record<string, (org: TestOrg, cast: Cast, creator: TestUser) => Promise<string>> = {
  keys: async (org, _cast, creator) => (await createKey(org, creator)).id,
  teams: async (org, cast) => (await createTeam(org, { memberIds: [cast.member.id] })).id,
  providers: async (org) => (await createProvider(org)).id,
  "model-aliases": async (org) => (await createModelAlias(org)).id,
  guardrails: async (org) => (await createGuardrail(org)).id,
  members: async (_org, cast) => cast.viewer.id,
  webhooks: async (org, _cast, creator) => (await createWebhook(org, creator)).id,
  prompts: async (org, _cast, creator) => (await createPrompt(org, creator)).id,
};

/** One real object per seeder segment, created by the org's owner. */
export async function seedObjects(cast: Cast): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [seg, seed] of Object.entries(SEEDERS)) out[seg] = await seed(cast.org, cast, cast.owner);
  return out;
}

const FAKE_PREFIX: Record<string, IdPrefix> = {
  keys: "key", teams: "team", members: "usr", providers: "prv", "model-aliases": "mal", budgets: "bud", invitations: "inv", webhooks: "whk", prompts: "prm",
  deliveries: "whd", tokens: "tgm", "management-tokens": "tgm", "cost-events": "req",
};

/** Path parameters other than `orgId`. */
export const paramsOf = (path: string) => [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!).filter((p) => p !== "orgId");

/** The collection segment right before `{param}`. */
export function segmentBefore(path: string, param: string): string {
  const parts = path.split("/");
  return parts[parts.indexOf(`{${param}}`) - 1] ?? "";
}

/** A plausible id of an object that does not exist. */
export function fakeId(segment: string): string {
  const prefix = FAKE_PREFIX[segment];
  return prefix ? newId(prefix) : segment === "pricing" ? "no-such-model-xyz" : newId("evt");
}

/** The path with `orgId` and each parameter filled: `objects[param]`, else `objects[segment]`, else a fake id. */
export function fill(path: string, orgId: string, objects: Record<string, string> = {}): string {
  let out = path.replace("{orgId}", orgId);
  for (const p of paramsOf(path)) {
    const seg = segmentBefore(path, p);
    out = out.replace(`{${p}}`, encodeURIComponent(objects[p] ?? objects[seg] ?? fakeId(seg)));
  }
  return out;
}

/** A minimal body that satisfies `schema` (required fields only; examples and defaults preferred). */
export function sampleBody(schema: Schema | undefined): unknown {
  if (!schema) return undefined;
  return sample(schema, 0);
}

function sample(s: Schema, depth: number): unknown {
  if (depth > 8) return null;
  if (s.$ref) return sample(docCache?.components?.schemas?.[String(s.$ref).split("/").pop()!] ?? {}, depth + 1);
  if (s.example !== undefined) return s.example;
  if (Array.isArray(s.examples) && s.examples.length) return s.examples[0];
  if (s.default !== undefined) return s.default;
  if (s.const !== undefined) return s.const;
  if (Array.isArray(s.enum)) return s.enum[0];
  for (const k of ["anyOf", "oneOf"]) if (Array.isArray(s[k])) return sample(s[k].find((x: Schema) => x.type !== "null") ?? s[k][0], depth + 1);
  if (Array.isArray(s.allOf)) return Object.assign({}, ...s.allOf.map((x: Schema) => sample(x, depth + 1)));
  const type = Array.isArray(s.type) ? s.type.find((t: string) => t !== "null") : s.type;
  switch (type) {
    case "object": {
      const out: Record<string, unknown> = {};
      for (const k of s.required ?? []) out[k] = sample(s.properties?.[k] ?? {}, depth + 1);
      return out;
    }
    case "array":
      return Array.from({ length: s.minItems ?? 0 }, () => sample(s.items ?? {}, depth + 1));
    case "integer":
    case "number":
      return s.minimum ?? (s.exclusiveMinimum !== undefined ? s.exclusiveMinimum + 1 : 1);
    case "boolean":
      return false;
    case "string":
      if (s.format === "date-time") return new Date(Date.now() + 86_400_000).toISOString();
      if (s.format === "email") return `probe-${Date.now()}@example.com`;
      if (s.format === "uri" || s.format === "url") return "https://example.com/hook";
      return "x".repeat(Math.max(1, s.minLength ?? 1));
    default:
      return {};
  }
}

/** Every table with an `org_id` column: the org-owned tables (read from the schema, so new tables count too). */
export async function orgOwnedTables(): Promise<string[]> {
  const { results } = await env.DB.prepare(
    "SELECT m.name AS name FROM sqlite_master m WHERE m.type = 'table' AND m.name NOT LIKE '\\_cf%' ESCAPE '\\' AND m.name NOT LIKE 'sqlite%' AND EXISTS (SELECT 1 FROM pragma_table_info(m.name) p WHERE p.name = 'org_id')",
  ).all<{ name: string }>();
  return results.map((r) => r.name).sort();
}

/**
 * Every org-owned row of the given orgs (and their `orgs` rows) as one string: the statements of
 * `snapshotTable`, sent as one D1 batch so tests can afford a snapshot after every request.
 */
export async function snapshotOrgs(tables: string[], orgIds: string[]): Promise<string> {
  const stmts = orgIds.flatMap((id) => [
    env.DB.prepare("SELECT * FROM orgs WHERE id = ?").bind(id),
    ...tables.map((t) => env.DB.prepare(`SELECT * FROM ${t} WHERE org_id = ? ORDER BY rowid`).bind(id)),
  ]);
  const results = (await env.DB.batch<Record<string, unknown>>(stmts)).map((r) => r.results.map(withoutBookkeeping));
  return JSON.stringify(results);
}

/**
 * Columns that record use, not state: authenticating with a management token stamps `last_used_at`
 * even when the request is then refused. Everything else must stay byte-identical.
 */
const BOOKKEEPING_COLUMNS = ["last_used_at"];
function withoutBookkeeping(row: Record<string, unknown>) {
  const out = { ...row };
  for (const c of BOOKKEEPING_COLUMNS) delete out[c];
  return out;
}

/** Runs `fn` over `items` with at most `n` in flight. */
export async function pool<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

/** An org management token (`tgm_…`) with a role, written to D1; `token` is usable as a `call()` caller. */
export async function createManagementToken(
  org: TestOrg,
  creator: TestUser,
  role: "admin" | "member" | "viewer",
  opts: { revoked?: boolean; expiresAt?: number | null } = {},
): Promise<{ id: string; token: string }> {
  const id = newId("tgm");
  const token = `tgm_${randomBase62(40)}`;
  await getDb(env.DB).insert(managementTokens).values({
    id, orgId: org.id, createdBy: creator.id, rootUserId: creator.id, name: `${role} automation`, role, tokenHash: await sha256Hex(token), hint: `tgm_…${token.slice(-4)}`,
    expiresAt: opts.expiresAt ?? null, revokedAt: opts.revoked ? Date.now() : null,
  });
  return { id, token };
}
