import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { orgGate } from "../src/durable-objects/org-gate-client";
import type { AdmitOk, AdmitResult } from "../src/durable-objects/gate-protocol";
import { call, createOrg, createOrgWithCast, createUser, snapshotTable } from "./factories";
import { admitRequest, auditActions, createProvider, createTeamRow, settleRequest, usageAtEstimate } from "./factories/gate";
import { createKey } from "./factories/keys";
import { createTeam } from "./factories/org-resources";

const base = (orgId: string) => `/api/orgs/${orgId}/budgets`;

describe("budgets routes", () => {
  it("admins create budgets (USD parsed to micros without floats), everyone lists them, with one audit row each", async () => {
    const { org, admin, viewer } = await createOrgWithCast();
    const res = await call(admin, "POST", base(org.id), { scope: "org", limit_usd: "500.10", period: "monthly", mode: "hard" });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ scope: "org", scope_id: null, team_id: null, limit_micros: 500_100_000, limit_usd: "500.100000", period: "monthly", mode: "hard", alert_thresholds: [50, 80, 90, 100] });
    expect(await auditActions(org.id, res.body.id)).toEqual(["budget.create"]);
    const list = await call(viewer, "GET", base(org.id));
    expect(list.status).toBe(200);
    expect(list.body.data.map((b: { id: string }) => b.id)).toEqual([res.body.id]);
    expect(list.body.next_cursor).toBeNull();
  });

  it("refuses bad input with 400 naming the field, and changes nothing", async () => {
    const { org, admin } = await createOrgWithCast();
    const before = await snapshotTable("budgets", org.id);
    const cases: Array<[unknown, string]> = [
      [{ scope: "org", limit_usd: "12.1234567", period: "monthly" }, "limit_usd"],
      [{ scope: "org", limit_usd: "-3", period: "monthly" }, "limit_usd"],
      [{ scope: "org", limit_usd: "abc", period: "monthly" }, "limit_usd"],
      [{ scope: "org", scope_id: "x", limit_usd: "1", period: "monthly" }, "scope_id"],
      [{ scope: "tag", scope_id: "no-equals", limit_usd: "1", period: "daily" }, "scope_id"],
      [{ scope: "team", limit_usd: "1", period: "daily" }, "scope_id"],
      [{ scope: "org", limit_usd: "1", period: "hourly" }, "period"],
      [{ scope: "org", period: "daily" }, "limit_usd"],
      [{ scope: "org", limit_usd: "1", period: "daily", alert_thresholds: [0] }, "alert_thresholds.0"],
      [{ scope: "org", limit_usd: "1", period: "daily", velocity: { limit_usd: "5", window_seconds: 1, cooldown_seconds: 60 } }, "velocity.window_seconds"],
    ];
    for (const [body, param] of cases) {
      const res = await call(admin, "POST", base(org.id), body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error).toMatchObject({ code: "invalid_request", param });
    }
    expect(await snapshotTable("budgets", org.id)).toEqual(before);
    expect(await snapshotTable("audit_log", org.id)).toEqual([]);
  });

  it("scope ids must name a team or key of the same org (404 otherwise)", async () => {
    const { org, owner, admin } = await createOrgWithCast();
    const other = await createOrg(await createUser());
    const foreignTeam = await createTeamRow(other);
    const foreignKey = await createKey(other, owner);
    expect((await call(admin, "POST", base(org.id), { scope: "team", scope_id: foreignTeam.id, limit_usd: 5, period: "daily" })).status).toBe(404);
    expect((await call(admin, "POST", base(org.id), { scope: "key", scope_id: foreignKey.id, limit_usd: 5, period: "daily" })).status).toBe(404);
    const team = await createTeamRow(org, "search");
    const ok = await call(admin, "POST", base(org.id), { scope: "team", scope_id: team.id, limit_usd: 5, period: "daily", rpm: 10 });
    expect(ok.status).toBe(201);
    expect((await call(admin, "POST", base(org.id), { scope: "team", scope_id: team.id, limit_usd: 9, period: "daily" })).status).toBe(409);
  });

  it("enforces permissions: viewers cannot create, members cannot edit or delete, outsiders see 404", async () => {
    const { org, member, viewer, admin } = await createOrgWithCast();
    const outsider = await createUser();
    expect((await call(viewer, "POST", base(org.id), { scope: "org", limit_usd: 1, period: "daily" })).status).toBe(403);
    // Even a budget the member created on themselves is theirs to add, not to loosen or drop.
    const created = await call(member, "POST", base(org.id), { scope: "member", scope_id: member.id, limit_usd: 1, period: "daily" });
    expect(created.status).toBe(201);
    const path = `${base(org.id)}/${created.body.id}`;
    expect((await call(member, "PATCH", path, { limit_usd: 2 })).status).toBe(403);
    expect((await call(member, "DELETE", path)).status).toBe(403);
    expect((await call(outsider, "GET", base(org.id))).status).toBe(404);
    expect((await call(outsider, "GET", `${path}/status`)).status).toBe(404);
    // A budget id of another org answers 404 inside this org.
    const other = await createOrgWithCast();
    const foreign = await call(other.admin, "POST", base(other.org.id), { scope: "org", limit_usd: 1, period: "daily" });
    expect((await call(admin, "PATCH", `${base(org.id)}/${foreign.body.id}`, { limit_usd: 5 })).status).toBe(404);
    expect((await call(admin, "DELETE", `${base(org.id)}/${foreign.body.id}`)).status).toBe(404);
    expect((await call(admin, "GET", `${base(org.id)}/${foreign.body.id}/status`)).status).toBe(404);
  });

  it("the free plan allows 3 budgets: the 4th answers 403 plan_limit", async () => {
    const owner = await createUser();
    const org = await createOrg(owner, { plan: "free" });
    for (const period of ["daily", "weekly", "monthly"]) {
      expect((await call(owner, "POST", base(org.id), { scope: "org", limit_usd: 1, period })).status).toBe(201);
    }
    const res = await call(owner, "POST", base(org.id), { scope: "org", limit_usd: 1, period: "total" });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe("plan_limit");
  });

  it("lowering a budget via PATCH refuses the very next admission; deleting it lets traffic through; status is live", async () => {
    const { org, owner, admin, viewer } = await createOrgWithCast();
    await createProvider(org);
    const key = await createKey(org, owner);
    const gate = orgGate(env, org.id);
    const created = await call(admin, "POST", base(org.id), { scope: "key", scope_id: key.id, limit_usd: "10", period: "monthly" });
    const path = `${base(org.id)}/${created.body.id}`;
    const req = await admitRequest(key);
    const ok = (await gate.admit(req)) as AdmitOk;
    expect(ok.ok).toBe(true);
    let status = await call(viewer, "GET", `${path}/status`);
    expect(status.body).toMatchObject({ budget_id: created.body.id, spent_micros: 0, reserved_micros: 750, limit_micros: 10_000_000, breaker: { tripped: false } });
    await gate.settle(settleRequest(req, ok, usageAtEstimate(req)));
    status = await call(viewer, "GET", `${path}/status`);
    expect(status.body).toMatchObject({ spent_micros: 750, reserved_micros: 0, spent_usd: "0.000750" });
    expect(Date.parse(status.body.resets_at)).toBeGreaterThan(Date.now());

    const patched = await call(admin, "PATCH", path, { limit_usd: "0.001" });
    expect(patched.status).toBe(200);
    expect(patched.body.limit_micros).toBe(1000);
    const denied = (await gate.admit(await admitRequest(key))) as Extract<AdmitResult, { ok: false }>;
    expect(denied.denial).toMatchObject({ kind: "budget_exceeded", scope: "key", scopeId: key.id, limitMicros: 1000, spentMicros: 750 });

    expect((await call(admin, "DELETE", path)).status).toBe(200);
    expect((await gate.admit(await admitRequest(key))).ok).toBe(true);
    expect(await auditActions(org.id, created.body.id)).toEqual(["budget.create", "budget.update", "budget.delete"]);
  });

  it("PATCH refuses scope changes and empty patches", async () => {
    const { org, admin } = await createOrgWithCast();
    const created = await call(admin, "POST", base(org.id), { scope: "org", limit_usd: 1, period: "daily" });
    const path = `${base(org.id)}/${created.body.id}`;
    expect((await call(admin, "PATCH", path, { scope: "team" })).status).toBe(400);
    expect((await call(admin, "PATCH", path, {})).status).toBe(400);
    const v = await call(admin, "PATCH", path, { velocity: { limit_usd: "20", window_seconds: 300, cooldown_seconds: 600 }, alert_thresholds: [90, 50] });
    expect(v.body).toMatchObject({ velocity: { limit_micros: 20_000_000, window_seconds: 300, cooldown_seconds: 600 }, alert_thresholds: [50, 90] });
  });
});

describe("who may create which budget", () => {
  it("members cannot create org, customer or tag budgets (an org-wide $0 budget would stop everyone): 403, nothing written", async () => {
    const { org, member } = await createOrgWithCast();
    const cases = [
      { scope: "org", limit_usd: "0", period: "monthly", mode: "hard" },
      { scope: "customer", scope_id: "acme", limit_usd: "0", period: "daily" },
      { scope: "customer", limit_usd: "0", period: "daily" },
      { scope: "tag", scope_id: "feature=search", limit_usd: "0", period: "daily" },
    ];
    for (const body of cases) {
      const res = await call(member, "POST", base(org.id), body);
      expect(res.status, JSON.stringify(body)).toBe(403);
      expect(res.body.error).toMatchObject({ code: "permission_denied", param: "scope" });
      expect(res.body.error.message).toContain(`Only admins can create ${body.scope} budgets`);
    }
    expect(await snapshotTable("budgets", org.id)).toEqual([]);
    expect(await snapshotTable("audit_log", org.id)).toEqual([]);
  });

  it("members budget their own keys and themselves, not someone else's key or another member", async () => {
    const { org, owner, admin, member } = await createOrgWithCast();
    const theirs = await createKey(org, owner);
    const mine = await createKey(org, member);
    const denied = await call(member, "POST", base(org.id), { scope: "key", scope_id: theirs.id, limit_usd: "0", period: "daily" });
    expect(denied.status).toBe(403);
    expect(denied.body.error).toMatchObject({ code: "permission_denied", param: "scope_id", message: "Members may only create budgets on keys they created" });
    const other = await call(member, "POST", base(org.id), { scope: "member", scope_id: admin.id, limit_usd: "0", period: "daily" });
    expect(other.status).toBe(403);
    expect(other.body.error.message).toBe("Members may only create member budgets for themselves");
    expect(await snapshotTable("budgets", org.id)).toEqual([]);

    const onKey = await call(member, "POST", base(org.id), { scope: "key", scope_id: mine.id, limit_usd: "5", period: "daily" });
    expect(onKey.status).toBe(201);
    const self = await call(member, "POST", base(org.id), { scope: "member", scope_id: member.id, limit_usd: "5", period: "monthly", rpm: 30 });
    expect(self.status).toBe(201);
    expect(self.body).toMatchObject({ scope: "member", scope_id: member.id, team_id: null, rpm: 30, created_by: member.id });
    const rows = (await snapshotTable("budgets", org.id)) as Array<Record<string, unknown>>;
    expect(rows.map((r) => r.created_by_role)).toEqual(["member", "member"]);
  });

  it("team budgets and a team's default member budget: members only on their own team, and only when the team allows it", async () => {
    const { org, admin, member } = await createOrgWithCast();
    const locked = await createTeam(org, { memberIds: [member.id] });
    const foreign = await createTeam(org);
    const open = await createTeam(org, { memberIds: [member.id] });
    expect((await call(admin, "PATCH", `/api/orgs/${org.id}/teams/${open.id}`, { members_manage_budgets: true })).status).toBe(200);
    expect((await call(admin, "PATCH", `/api/orgs/${org.id}/teams/${foreign.id}`, { members_manage_budgets: true })).status).toBe(200);
    const before = await snapshotTable("budgets", org.id);
    for (const team of [locked, foreign]) {
      const t = await call(member, "POST", base(org.id), { scope: "team", scope_id: team.id, limit_usd: "0", period: "daily" });
      expect(t.status).toBe(403);
      expect(t.body.error).toMatchObject({ code: "permission_denied", param: "scope_id" });
      const d = await call(member, "POST", base(org.id), { scope: "member", team_id: team.id, limit_usd: "0", period: "daily" });
      expect(d.status).toBe(403);
      expect(d.body.error).toMatchObject({ code: "permission_denied", param: "team_id" });
    }
    expect(await snapshotTable("budgets", org.id)).toEqual(before);
    expect((await call(member, "POST", base(org.id), { scope: "team", scope_id: open.id, limit_usd: "50", period: "monthly" })).status).toBe(201);
    const def = await call(member, "POST", base(org.id), { scope: "member", team_id: open.id, limit_usd: "10", period: "monthly" });
    expect(def.status).toBe(201);
    expect(def.body).toMatchObject({ scope: "member", scope_id: null, team_id: open.id, limit_micros: 10_000_000 });
    // Admins need no team setting.
    expect((await call(admin, "POST", base(org.id), { scope: "member", team_id: locked.id, limit_usd: "10", period: "monthly" })).status).toBe(201);
    expect((await call(admin, "POST", base(org.id), { scope: "member", scope_id: member.id, limit_usd: "20", period: "monthly" })).status).toBe(201);
  });

  it("member scope targets: a user of this org or a team's default, validated with 400/404/409", async () => {
    const { org, admin } = await createOrgWithCast();
    const other = await createOrgWithCast();
    const team = await createTeam(org);
    const foreignTeam = await createTeam(other.org);
    const cases: Array<[unknown, number, string]> = [
      [{ scope: "member", limit_usd: 1, period: "daily" }, 400, "scope_id"],
      [{ scope: "member", scope_id: other.member.id, limit_usd: 1, period: "daily" }, 404, "scope_id"],
      [{ scope: "member", team_id: foreignTeam.id, limit_usd: 1, period: "daily" }, 404, "team_id"],
      [{ scope: "member", scope_id: admin.id, team_id: team.id, limit_usd: 1, period: "daily" }, 400, "team_id"],
      [{ scope: "team", scope_id: team.id, team_id: team.id, limit_usd: 1, period: "daily" }, 400, "team_id"],
    ];
    for (const [body, status, param] of cases) {
      const res = await call(admin, "POST", base(org.id), body);
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(res.body.error.param, JSON.stringify(body)).toBe(param);
    }
    expect(await snapshotTable("budgets", org.id)).toEqual([]);
    expect((await call(admin, "POST", base(org.id), { scope: "member", team_id: team.id, limit_usd: 1, period: "daily" })).status).toBe(201);
    expect((await call(admin, "POST", base(org.id), { scope: "member", team_id: team.id, limit_usd: 2, period: "daily" })).status).toBe(409);
    // The org-wide "no scope id" slot of another team is a different target.
    const second = await createTeam(org);
    expect((await call(admin, "POST", base(org.id), { scope: "member", team_id: second.id, limit_usd: 1, period: "daily" })).status).toBe(201);
  });
});
