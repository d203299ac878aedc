import { describe, expect, it } from "vitest";
import { call, createMember, createOrgWithCast, createUser, snapshotTable } from "./factories";
import { createKey, gateVerdict } from "./factories/keys";
import { auditRows, createTeam } from "./factories/org-resources";
import { newId } from "../src/lib/ids";
import { env } from "cloudflare:test";

describe("teams: create, read, update", () => {
  it("an admin creates a team; every member reads it; one audit row records it", async () => {
    const { org, admin, viewer } = await createOrgWithCast();
    const res = await call(admin, "POST", `/api/orgs/${org.id}/teams`, { name: "Search", description: "search infra" });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ name: "Search", description: "search infra", member_count: 0, members: [] });
    expect(res.body.id).toMatch(/^team_/);
    expect(res.body.created_at).toMatch(/^\d{4}-\d\d-\d\dT/);

    const got = await call(viewer, "GET", `/api/orgs/${org.id}/teams/${res.body.id}`);
    expect(got.status).toBe(200);
    expect(got.body.name).toBe("Search");

    const list = await call(viewer, "GET", `/api/orgs/${org.id}/teams`);
    expect(list.status).toBe(200);
    expect(list.body.data.map((t: { id: string }) => t.id)).toEqual([res.body.id]);
    expect(list.body.next_cursor).toBeNull();

    const audit = await auditRows(org.id, "team.create");
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actor_type: "user", actor_id: admin.id, actor_ip: "203.0.113.7", user_agent: "tollgate-tests", target_type: "team", target_id: res.body.id });
    expect(audit[0]!.after).toEqual({ name: "Search", description: "search infra", members_manage_budgets: false });
  });

  it("members and viewers cannot create, edit or delete teams (403) and nothing changes", async () => {
    const { org, member, viewer } = await createOrgWithCast();
    const team = await createTeam(org);
    const before = await snapshotTable("teams", org.id);
    for (const who of [member, viewer]) {
      expect((await call(who, "POST", `/api/orgs/${org.id}/teams`, { name: "x" })).status).toBe(403);
      const patch = await call(who, "PATCH", `/api/orgs/${org.id}/teams/${team.id}`, { name: "y" });
      expect(patch.status).toBe(403);
      expect(patch.body.error.code).toBe("permission_denied");
      expect((await call(who, "DELETE", `/api/orgs/${org.id}/teams/${team.id}`)).status).toBe(403);
      expect((await call(who, "PUT", `/api/orgs/${org.id}/teams/${team.id}/members/${who.id}`)).status).toBe(403);
    }
    expect(await snapshotTable("teams", org.id)).toEqual(before);
    expect(await snapshotTable("team_members", org.id)).toEqual([]);
    expect(await auditRows(org.id)).toEqual([]);
  });

  it("validates the body with a param, and refuses duplicate names with 409", async () => {
    const { org, admin } = await createOrgWithCast();
    const noName = await call(admin, "POST", `/api/orgs/${org.id}/teams`, {});
    expect(noName.status).toBe(400);
    expect(noName.body.error).toMatchObject({ code: "invalid_request", param: "name" });
    const blank = await call(admin, "POST", `/api/orgs/${org.id}/teams`, { name: "   " });
    expect(blank.body.error.param).toBe("name");
    const long = await call(admin, "POST", `/api/orgs/${org.id}/teams`, { name: "a".repeat(101) });
    expect(long.body.error.param).toBe("name");
    const badDesc = await call(admin, "POST", `/api/orgs/${org.id}/teams`, { name: "ok", description: 5 });
    expect(badDesc.body.error.param).toBe("description");

    expect((await call(admin, "POST", `/api/orgs/${org.id}/teams`, { name: "Dup" })).status).toBe(201);
    const dup = await call(admin, "POST", `/api/orgs/${org.id}/teams`, { name: "Dup" });
    expect(dup.status).toBe(409);
    expect(dup.body.error).toMatchObject({ code: "conflict", param: "name" });
    expect(await snapshotTable("teams", org.id)).toHaveLength(1);
  });

  it("renames and re-describes a team, refuses renaming onto another team's name, and audits before/after", async () => {
    const { org, owner } = await createOrgWithCast();
    const a = await createTeam(org, { name: "Alpha" });
    await createTeam(org, { name: "Beta" });
    const res = await call(owner, "PATCH", `/api/orgs/${org.id}/teams/${a.id}`, { name: "Alpha 2", description: null });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: a.id, name: "Alpha 2", description: null });
    const clash = await call(owner, "PATCH", `/api/orgs/${org.id}/teams/${a.id}`, { name: "Beta" });
    expect(clash.status).toBe(409);
    const empty = await call(owner, "PATCH", `/api/orgs/${org.id}/teams/${a.id}`, {});
    expect(empty.status).toBe(400);
    const audit = await auditRows(org.id, "team.update");
    expect(audit).toHaveLength(1);
    expect(audit[0]!.before).toEqual({ name: "Alpha", description: null, members_manage_budgets: false });
    expect(audit[0]!.after).toEqual({ name: "Alpha 2", description: null, members_manage_budgets: false });
  });

  it("paginates the list with cursor and limit, newest first", async () => {
    const { org, viewer } = await createOrgWithCast();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await createTeam(org, { name: `t${i}` })).id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: { status: number; body: any } = await call(viewer, "GET", `/api/orgs/${org.id}/teams?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      expect(res.status).toBe(200);
      expect(res.body.data.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.data.map((t: { id: string }) => t.id));
      cursor = res.body.next_cursor;
    } while (cursor);
    expect(seen.sort()).toEqual([...ids].sort());
    const bad = await call(viewer, "GET", `/api/orgs/${org.id}/teams?cursor=%%%`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.param).toBe("cursor");
    const badLimit = await call(viewer, "GET", `/api/orgs/${org.id}/teams?limit=0`);
    expect(badLimit.body.error.param).toBe("limit");
  });

  it("answers 404 for unknown team ids", async () => {
    const { org, admin } = await createOrgWithCast();
    const ghost = newId("team");
    for (const [m, p] of [["GET", ""], ["PATCH", ""], ["DELETE", ""], ["PUT", `/members/${admin.id}`], ["DELETE", `/members/${admin.id}`]] as const) {
      const res = await call(admin, m, `/api/orgs/${org.id}/teams/${ghost}${p}`, m === "PATCH" ? { name: "x" } : undefined);
      expect(res.status, `${m} ${p}`).toBe(404);
      expect(res.body.error.code).toBe("not_found");
    }
  });
});

describe("team membership", () => {
  it("adds org members (idempotently), lists them on GET, and removes them, one audit row per change", async () => {
    const { org, admin, member, viewer } = await createOrgWithCast();
    const team = await createTeam(org);
    const put = await call(admin, "PUT", `/api/orgs/${org.id}/teams/${team.id}/members/${member.id}`);
    expect(put.status).toBe(200);
    expect(put.body.members).toEqual([expect.objectContaining({ user_id: member.id, email: member.email, role: "member" })]);
    expect((await call(admin, "PUT", `/api/orgs/${org.id}/teams/${team.id}/members/${member.id}`)).status).toBe(200);
    expect((await call(admin, "PUT", `/api/orgs/${org.id}/teams/${team.id}/members/${viewer.id}`)).status).toBe(200);

    const got = await call(viewer, "GET", `/api/orgs/${org.id}/teams/${team.id}`);
    expect(got.body.member_count).toBe(2);
    expect(got.body.members.map((m: { user_id: string }) => m.user_id).sort()).toEqual([member.id, viewer.id].sort());
    const list = await call(viewer, "GET", `/api/orgs/${org.id}/teams`);
    expect(list.body.data[0].member_count).toBe(2);

    const del = await call(admin, "DELETE", `/api/orgs/${org.id}/teams/${team.id}/members/${member.id}`);
    expect(del.status).toBe(200);
    expect(del.body.members.map((m: { user_id: string }) => m.user_id)).toEqual([viewer.id]);
    expect((await call(admin, "DELETE", `/api/orgs/${org.id}/teams/${team.id}/members/${member.id}`)).status).toBe(404);

    expect(await auditRows(org.id, "team.member_add")).toHaveLength(2);
    expect(await auditRows(org.id, "team.member_remove")).toHaveLength(1);
  });

  it("refuses users who are not members of the org with 404 (also users of other orgs)", async () => {
    const { org, admin } = await createOrgWithCast();
    const outsider = await createUser();
    const other = await createOrgWithCast();
    const team = await createTeam(org);
    for (const id of [outsider.id, other.member.id, newId("usr")]) {
      const res = await call(admin, "PUT", `/api/orgs/${org.id}/teams/${team.id}/members/${id}`);
      expect(res.status).toBe(404);
      expect(res.body.error.param).toBe("userId");
    }
    expect(await snapshotTable("team_members", org.id)).toEqual([]);
  });
});

describe("letting members manage a team's budgets", () => {
  it("is off by default; an admin turns it on (audited) and members on that team may then add its budgets", async () => {
    const { org, admin, member } = await createOrgWithCast();
    const created = await call(admin, "POST", `/api/orgs/${org.id}/teams`, { name: "Ops" });
    expect(created.body.members_manage_budgets).toBe(false);
    const teamId = created.body.id as string;
    expect((await call(admin, "PUT", `/api/orgs/${org.id}/teams/${teamId}/members/${member.id}`)).status).toBe(200);
    const budget = { scope: "team", scope_id: teamId, limit_usd: "100", period: "monthly" };
    expect((await call(member, "POST", `/api/orgs/${org.id}/budgets`, budget)).status).toBe(403);
    expect((await call(member, "PATCH", `/api/orgs/${org.id}/teams/${teamId}`, { members_manage_budgets: true })).status).toBe(403);

    const on = await call(admin, "PATCH", `/api/orgs/${org.id}/teams/${teamId}`, { members_manage_budgets: true });
    expect(on.status).toBe(200);
    expect(on.body.members_manage_budgets).toBe(true);
    expect((await call(member, "GET", `/api/orgs/${org.id}/teams/${teamId}`)).body.members_manage_budgets).toBe(true);
    const audit = await auditRows(org.id, "team.update");
    expect(audit.at(-1)!.after).toMatchObject({ members_manage_budgets: true });
    expect((await call(member, "POST", `/api/orgs/${org.id}/budgets`, budget)).status).toBe(201);
    expect((await call(admin, "POST", `/api/orgs/${org.id}/teams`, { name: "Open", members_manage_budgets: true })).body.members_manage_budgets).toBe(true);
    expect((await call(admin, "POST", `/api/orgs/${org.id}/teams`, { name: "Bad", members_manage_budgets: "yes" })).body.error.param).toBe("members_manage_budgets");
  });
});

describe("team deletion", () => {
  it("detaches the team's keys (they keep working), removes memberships and team budgets, in one audited change", async () => {
    const { org, owner, admin } = await createOrgWithCast();
    const extra = await createMember(org, "member");
    const team = await createTeam(org, { memberIds: [extra.id] });
    const key = await createKey(org, extra, { teamId: team.id });
    const budgetId = newId("bud");
    await env.DB.prepare("INSERT INTO budgets (id, org_id, scope, scope_id, limit_micros, period, mode, created_by) VALUES (?, ?, 'team', ?, 1000000, 'monthly', 'hard', ?)")
      .bind(budgetId, org.id, team.id, owner.id).run();
    // The team's default member budget goes with it too.
    const dflt = await call(admin, "POST", `/api/orgs/${org.id}/budgets`, { scope: "member", team_id: team.id, limit_usd: "5", period: "monthly" });
    expect(dflt.status).toBe(201);

    const res = await call(admin, "DELETE", `/api/orgs/${org.id}/teams/${team.id}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ id: team.id, deleted: true, detached_key_ids: [key.id] });

    expect(await snapshotTable("teams", org.id)).toEqual([]);
    expect(await snapshotTable("team_members", org.id)).toEqual([]);
    expect(await snapshotTable("budgets", org.id)).toEqual([]);
    const keys = (await snapshotTable("api_keys", org.id)) as Array<{ id: string; team_id: string | null; revoked_at: number | null }>;
    expect(keys).toEqual([expect.objectContaining({ id: key.id, team_id: null, revoked_at: null })]);

    const verdict = await gateVerdict(key);
    expect(verdict.ok).toBe(true);
    if (verdict.ok) expect(verdict.key.teamId).toBeNull();

    const audit = await auditRows(org.id);
    expect(audit.map((a) => a.action)).toEqual(["budget.create", "team.delete"]);
    expect(audit[1]!.before).toMatchObject({ name: team.name, key_ids: [key.id] });
    expect((await call(admin, "GET", `/api/orgs/${org.id}/teams/${team.id}`)).status).toBe(404);
  });
});
