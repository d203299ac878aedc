/**
 * Route × caller × org matrix, generated from the OpenAPI document: every org-scoped operation must
 * declare `x-tollgate-min-role`, and every caller gets exactly the outcome that role implies.
 * Denied requests must change nothing in either org. New routes are covered automatically; a route
 * with `x-tollgate-creator-role` needs a seeder in test/factories/route-catalog.ts (the test says so if missing).
 */
import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { Role } from "../src/db/schema";
import { getConfig } from "../src/env";
import { roleAtLeast } from "../src/lib/roles";
import { SESSION_JWT, signSessionJwt } from "../src/lib/session-jwt";
import { call, createOrg, createOrgWithCast, createUser, snapshotTable, type TestUser } from "./factories";
import { createKey } from "./factories/keys";
import { createTeam } from "./factories/org-resources";
import {
  createManagementToken, fill, loadOperations, orgOwnedTables, paramsOf, pool, SEEDERS, seedObjects, segmentBefore, snapshotOrgs, type Cast, type Operation,
} from "./factories/route-catalog";

type Op = Operation;
type Caller = { label: string; user: TestUser | null; cookie?: string; token?: string; role?: Role };

const ROLES: Role[] = ["viewer", "member", "admin", "owner"];
const ORG_404 = "Organization not found";
const CONCURRENCY = 8;

async function send(caller: Caller, method: string, path: string) {
  const withBody = method !== "GET" && method !== "DELETE";
  if (caller.token) return call({ token: caller.token }, method, path, withBody ? {} : undefined);
  if (caller.user) return call(caller.user, method, path, withBody ? {} : undefined);
  const headers: Record<string, string> = caller.cookie ? { cookie: caller.cookie } : {};
  return call(null, method, path, withBody ? {} : undefined, { headers });
}

let ops: Op[] = [];
let userOps: Op[] = [];
let tables: string[] = [];
let a: Cast;
let b: Cast;
let outsider: TestUser;
const objects: Record<string, Record<string, string>> = {};
let anonCallers: Caller[] = [];
/** Org A's management tokens, one per role they can hold, each made by the user of that role. */
let tokenCallers: Caller[] = [];

beforeAll(async () => {
  const all = await loadOperations();
  ops = all.filter((o) => o.path.startsWith("/api/orgs/{orgId}"));
  userOps = all.filter((o) => o.auth === "user");
  tables = await orgOwnedTables();

  [a, b] = await Promise.all([createOrgWithCast(), createOrgWithCast()]);
  outsider = await createUser();
  await createOrg(outsider);
  for (const cast of [a, b]) objects[cast.org.id] = await seedObjects(cast);
  const cfg = getConfig(env);
  const expired = await signSessionJwt(cfg, { userId: a.owner.id, sessionId: a.owner.sessionId }, Date.now() - 60_000);
  const [h, p, s] = a.owner.cookie.slice(SESSION_JWT.cookie.length + 1).split(".");
  const claims = JSON.parse(atob(p!.replace(/-/g, "+").replace(/_/g, "/")));
  const forged = btoa(JSON.stringify({ ...claims, sub: b.owner.id })).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
  const dead = await Promise.all([
    createManagementToken(a.org, a.admin, "admin", { revoked: true }),
    createManagementToken(a.org, a.admin, "admin", { expiresAt: Date.now() - 1000 }),
  ]);
  tokenCallers = await Promise.all(
    (["admin", "member", "viewer"] as const).map(async (role) => ({
      label: `${role} management token`, user: null, token: (await createManagementToken(a.org, a[role], role)).token, role,
    })),
  );
  anonCallers = [
    { label: "revoked management token", user: null, token: dead[0].token },
    { label: "expired management token", user: null, token: dead[1].token },
    { label: "no session", user: null },
    { label: "expired JWT", user: null, cookie: `${SESSION_JWT.cookie}=${expired}` },
    { label: "tampered JWT", user: null, cookie: `${SESSION_JWT.cookie}=${h}.${forged}.${s}` },
  ];
});

describe("route × role matrix (from /api/openapi.json)", () => {
  it("finds the org routes, and every one declares its auth and minimum role", () => {
    expect(ops.length).toBeGreaterThanOrEqual(15);
    const missing = ops.filter((o) => o.auth !== "org" || !o.minRole || !ROLES.includes(o.minRole)).map((o) => `${o.method} ${o.path}`);
    expect(missing, "org-scoped routes without x-tollgate-auth: org / x-tollgate-min-role").toEqual([]);
    const badCreator = ops.filter((o) => o.creatorRole && !(roleAtLeast(o.minRole!, o.creatorRole) && o.minRole !== o.creatorRole));
    expect(badCreator, "x-tollgate-creator-role must be below x-tollgate-min-role").toEqual([]);
    const unseeded = ops.filter((o) => o.creatorRole && !paramsOf(o.path).some((p) => SEEDERS[segmentBefore(o.path, p)]));
    expect(unseeded.map((o) => `${o.method} ${o.path}`), "creator routes need a seeder in SEEDERS").toEqual([]);
  });

  it("denies anonymous, expired and tampered sessions and dead tokens (401), non-members and other orgs (404), and lower roles (403), changing nothing", async () => {
    const baseline = await snapshotOrgs(tables, [a.org.id, b.org.id]);
    const failures: string[] = [];
    type Case = { op: Op; caller: Caller; orgId: string; expect: number; objects?: Record<string, string> };
    const cases: Case[] = [];
    for (const op of ops) {
      for (const org of [a.org, b.org]) {
        for (const caller of anonCallers) cases.push({ op, caller, orgId: org.id, expect: 401, objects: objects[org.id] });
        cases.push({ op, caller: { label: "non-member", user: outsider }, orgId: org.id, expect: 404, objects: objects[org.id] });
      }
      const members: Caller[] = [...ROLES.map((role) => ({ label: role, user: a[role], role })), ...tokenCallers];
      for (const caller of members) {
        const role = caller.role!;
        // Org A's cast calling org B's paths (with B's real object ids): B does not exist for them.
        cases.push({ op, caller: { ...caller, label: `${caller.label} of another org` }, orgId: b.org.id, expect: 404, objects: objects[b.org.id] });
        const floor = op.creatorRole ?? op.minRole!;
        if (!roleAtLeast(role, floor)) cases.push({ op, caller, orgId: a.org.id, expect: 403, objects: objects[a.org.id] });
        else if (!roleAtLeast(role, op.minRole!)) {
          // Admitted only for objects they created: on the owner's object it must be 403.
          cases.push({ op, caller: { ...caller, label: `${caller.label} on another user's object` }, orgId: a.org.id, expect: 403, objects: objects[a.org.id] });
        }
      }
    }
    // The org-owned rows are compared after each route's denied calls (not after every call: that was
    // thousands of full-table reads), which still names the route that changed something.
    for (const op of ops) {
      await pool(cases.filter((c) => c.op === op), CONCURRENCY, async (c) => {
        const path = fill(c.op.path, c.orgId, c.objects);
        const res = await send(c.caller, c.op.method, path);
        const label = `${c.caller.label}: ${c.op.method} ${c.op.path} (${c.orgId === a.org.id ? "own org" : "other org"})`;
        const code = res.body?.error?.code;
        const wantCode = c.expect === 401 ? "invalid_api_key" : c.expect === 403 ? "permission_denied" : "not_found";
        if (res.status !== c.expect || code !== wantCode) failures.push(`${label} → ${res.status} ${code ?? ""}, expected ${c.expect} ${wantCode}`);
      });
      const after = await snapshotOrgs(tables, [a.org.id, b.org.id]);
      if (after !== baseline) failures.push(`a denied ${op.method} ${op.path} changed org-owned rows`);
    }
    expect(cases.length).toBeGreaterThan(ops.length * 8);
    expect(failures).toEqual([]);
    expect(await snapshotTable("api_keys", a.org.id)).toHaveLength(1);
    expect(await snapshotTable("audit_log", a.org.id)).toEqual([]);
    expect(await snapshotTable("audit_log", b.org.id)).toEqual([]);
  }, 120_000);

  it("admits every role at or above the minimum (no 401/403, no 404 for the org, no 5xx)", async () => {
    const failures: string[] = [];
    await pool(ops, CONCURRENCY, async (op) => {
      // A fresh org per route: allowed calls may change state (leave, delete, create…).
      const cast = await createOrgWithCast();
      for (const role of ROLES.filter((r) => roleAtLeast(r, op.minRole!))) {
        const res = await send({ label: role, user: cast[role], role }, op.method, fill(op.path, cast.org.id));
        const orgMissing = res.status === 404 && res.body?.error?.message === ORG_404;
        if (res.status === 401 || res.status === 403 || orgMissing || res.status >= 500) {
          failures.push(`${role}: ${op.method} ${op.path} → ${res.status} ${res.body?.error?.code ?? ""} ${res.body?.error?.message ?? ""}`);
        }
      }
      if (op.creatorRole) {
        // The creator role acting on its own object is admitted.
        const objs: Record<string, string> = {};
        for (const p of paramsOf(op.path)) {
          const seg = segmentBefore(op.path, p);
          if (SEEDERS[seg]) objs[seg] = await SEEDERS[seg]!(cast.org, cast, cast[op.creatorRole as Exclude<Role, "owner">] ?? cast.owner);
        }
        const res = await send({ label: op.creatorRole, user: cast[op.creatorRole] }, op.method, fill(op.path, cast.org.id, objs));
        if (res.status === 401 || res.status === 403 || res.status === 404 || res.status >= 500) {
          failures.push(`${op.creatorRole} on own object: ${op.method} ${op.path} → ${res.status} ${res.body?.error?.message ?? ""}`);
        }
      }
    });
    expect(failures).toEqual([]);
  });

  it("answers 401 on every signed-in-user route without a valid session", async () => {
    const failures: string[] = [];
    await pool(userOps.flatMap((op) => anonCallers.map((caller) => ({ op, caller }))), CONCURRENCY, async ({ op, caller }) => {
      const res = await send(caller, op.method, fill(op.path, a.org.id));
      if (res.status !== 401) failures.push(`${caller.label}: ${op.method} ${op.path} → ${res.status}`);
    });
    expect(failures).toEqual([]);
  });
});

describe("members only tighten (budgets on their own scopes, keys in their teams, key limits narrowed)", () => {
  type Req = { method: string; path: string; body: unknown };
  type World = { cast: Cast; team: { id: string }; otherTeam: { id: string }; memberKey: { id: string }; ownerKey: { id: string } };
  /** Per case: the request, and whether a member (session or member token) is allowed. Owners and admins always are; viewers never. */
  const CASES: Array<{ label: string; memberAllowed: boolean; req: (w: World) => Req }> = [
    { label: "org-scope $0 hard budget", memberAllowed: false, req: (w) => ({ method: "POST", path: `/api/orgs/${w.cast.org.id}/budgets`, body: { scope: "org", limit_usd: "0", period: "monthly", mode: "hard" } }) },
    { label: "tag budget", memberAllowed: false, req: (w) => ({ method: "POST", path: `/api/orgs/${w.cast.org.id}/budgets`, body: { scope: "tag", scope_id: "env=prod", limit_usd: "0", period: "daily" } }) },
    { label: "default customer budget", memberAllowed: false, req: (w) => ({ method: "POST", path: `/api/orgs/${w.cast.org.id}/budgets`, body: { scope: "customer", limit_usd: "0", period: "daily" } }) },
    { label: "budget on another user's key", memberAllowed: false, req: (w) => ({ method: "POST", path: `/api/orgs/${w.cast.org.id}/budgets`, body: { scope: "key", scope_id: w.ownerKey.id, limit_usd: "0", period: "daily" } }) },
    { label: "member budget on someone else", memberAllowed: false, req: (w) => ({ method: "POST", path: `/api/orgs/${w.cast.org.id}/budgets`, body: { scope: "member", scope_id: w.cast.admin.id, limit_usd: "0", period: "daily" } }) },
    { label: "team budget on a team that does not let members manage budgets", memberAllowed: false, req: (w) => ({ method: "POST", path: `/api/orgs/${w.cast.org.id}/budgets`, body: { scope: "team", scope_id: w.team.id, limit_usd: "0", period: "daily" } }) },
    { label: "team default member budget without the team setting", memberAllowed: false, req: (w) => ({ method: "POST", path: `/api/orgs/${w.cast.org.id}/budgets`, body: { scope: "member", team_id: w.team.id, limit_usd: "0", period: "daily" } }) },
    { label: "key in a team the caller is not on", memberAllowed: false, req: (w) => ({ method: "POST", path: `/api/orgs/${w.cast.org.id}/keys`, body: { name: "escape", team_id: w.otherTeam.id } }) },
    { label: "team-less key while on a team", memberAllowed: false, req: (w) => ({ method: "POST", path: `/api/orgs/${w.cast.org.id}/keys`, body: { name: "escape", team_id: null } }) },
    { label: "PATCH own key out of its team", memberAllowed: false, req: (w) => ({ method: "PATCH", path: `/api/orgs/${w.cast.org.id}/keys/${w.memberKey.id}`, body: { team_id: null } }) },
    { label: "PATCH own key rpm up", memberAllowed: false, req: (w) => ({ method: "PATCH", path: `/api/orgs/${w.cast.org.id}/keys/${w.memberKey.id}`, body: { rpm: 120 } }) },
    { label: "PATCH own key tpm removed", memberAllowed: false, req: (w) => ({ method: "PATCH", path: `/api/orgs/${w.cast.org.id}/keys/${w.memberKey.id}`, body: { tpm: null } }) },
    { label: "PATCH own key allowed_models removed", memberAllowed: false, req: (w) => ({ method: "PATCH", path: `/api/orgs/${w.cast.org.id}/keys/${w.memberKey.id}`, body: { allowed_models: null } }) },
    { label: "PATCH own key allowed_models widened", memberAllowed: false, req: (w) => ({ method: "PATCH", path: `/api/orgs/${w.cast.org.id}/keys/${w.memberKey.id}`, body: { allowed_models: ["gpt-4o-mini", "gpt-4o"] } }) },
    { label: "member budget on oneself", memberAllowed: true, req: (w) => ({ method: "POST", path: `/api/orgs/${w.cast.org.id}/budgets`, body: { scope: "member", scope_id: w.cast.member.id, limit_usd: "5", period: "daily" } }) },
    { label: "budget on own key", memberAllowed: true, req: (w) => ({ method: "POST", path: `/api/orgs/${w.cast.org.id}/budgets`, body: { scope: "key", scope_id: w.memberKey.id, limit_usd: "5", period: "daily" } }) },
    { label: "key in own team", memberAllowed: true, req: (w) => ({ method: "POST", path: `/api/orgs/${w.cast.org.id}/keys`, body: { name: "mine", team_id: w.team.id } }) },
    { label: "PATCH own key rpm down and models narrowed", memberAllowed: true, req: (w) => ({ method: "PATCH", path: `/api/orgs/${w.cast.org.id}/keys/${w.memberKey.id}`, body: { rpm: 30, allowed_models: ["gpt-4o-mini"] } }) },
  ];
  const CALLERS = ["owner", "admin", "member", "member token", "viewer"] as const;

  it("owner/admin allowed, viewer 403, member 403 unless the change only tightens its own scope — denials change nothing", async () => {
    const tbl = await orgOwnedTables();
    const failures: string[] = [];
    const runs = CASES.flatMap((c) => CALLERS.map((who) => ({ c, who })));
    await pool(runs, 4, async ({ c, who }) => {
      const cast = await createOrgWithCast();
      const team = await createTeam(cast.org, { memberIds: [cast.member.id] });
      const otherTeam = await createTeam(cast.org);
      const memberKey = await createKey(cast.org, cast.member, { teamId: team.id, rpm: 60, tpm: 10_000, allowedModels: ["gpt-4o-mini", "gpt-4o-2024*"] });
      const ownerKey = await createKey(cast.org, cast.owner);
      const r = c.req({ cast, team, otherTeam, memberKey, ownerKey });
      const caller = who === "member token" ? { token: (await createManagementToken(cast.org, cast.member, "member")).token } : cast[who];
      const before = await snapshotOrgs(tbl, [cast.org.id]);
      const res = await call(caller, r.method, r.path, r.body);
      const allowed = who === "owner" || who === "admin" || (c.memberAllowed && (who === "member" || who === "member token"));
      const label = `${who}: ${c.label}`;
      if (allowed) {
        if (res.status !== 200 && res.status !== 201) failures.push(`${label} → ${res.status} ${res.body?.error?.message ?? ""}, expected success`);
      } else {
        if (res.status !== 403 || res.body?.error?.code !== "permission_denied") failures.push(`${label} → ${res.status} ${res.body?.error?.code ?? ""}, expected 403 permission_denied`);
        if ((await snapshotOrgs(tbl, [cast.org.id])) !== before) failures.push(`${label} changed org-owned rows`);
      }
    });
    expect(runs.length).toBe(CASES.length * CALLERS.length);
    expect(failures).toEqual([]);
  }, 300_000);
});
