import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { newId } from "../src/lib/ids";
import { call, createMember, createOrg, createOrgWithCast, createUser, snapshotTable } from "./factories";
import { createKey, gateVerdict } from "./factories/keys";
import { auditRows, roleIn } from "./factories/orgs";

async function addTeam(orgId: string, name: string, userIds: string[]): Promise<string> {
  const id = newId("team");
  await env.DB.prepare("INSERT INTO teams (id, org_id, name) VALUES (?, ?, ?)").bind(id, orgId, name).run();
  for (const u of userIds) await env.DB.prepare("INSERT INTO team_members (org_id, team_id, user_id) VALUES (?, ?, ?)").bind(orgId, id, u).run();
  return id;
}

describe("listing members", () => {
  it("shows id, email, name, role, joined_at and teams, paginated with a cursor", async () => {
    const { org, owner, admin, member, viewer } = await createOrgWithCast();
    const teamId = await addTeam(org.id, "search", [member.id]);
    const first = await call(viewer, "GET", `/api/orgs/${org.id}/members?limit=3`);
    expect(first.status).toBe(200);
    expect(first.body.data).toHaveLength(3);
    expect(first.body.next_cursor).toEqual(expect.any(String));
    const second = await call(viewer, "GET", `/api/orgs/${org.id}/members?limit=3&cursor=${first.body.next_cursor}`);
    expect(second.body.data).toHaveLength(1);
    expect(second.body.next_cursor).toBeNull();
    const all = [...first.body.data, ...second.body.data];
    expect(all.map((m: { user_id: string }) => m.user_id).sort()).toEqual([owner.id, admin.id, member.id, viewer.id].sort());
    const m = all.find((x: { user_id: string }) => x.user_id === member.id);
    expect(m).toMatchObject({ email: member.email, name: member.name, role: "member", teams: [{ id: teamId, name: "search" }] });
    expect(Date.parse(m.joined_at)).not.toBeNaN();
  });

  it("answers 400 for a malformed cursor and 404 for strangers", async () => {
    const { org, viewer } = await createOrgWithCast();
    const bad = await call(viewer, "GET", `/api/orgs/${org.id}/members?cursor=%%%`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.param).toBe("cursor");
    expect((await call(await createUser(), "GET", `/api/orgs/${org.id}/members`)).status).toBe(404);
  });
});

describe("changing roles", () => {
  it("lets an admin promote a member and writes one audit row with before/after", async () => {
    const { org, admin, member } = await createOrgWithCast();
    const res = await call(admin, "PATCH", `/api/orgs/${org.id}/members/${member.id}`, { role: "admin" });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ user_id: member.id, role: "admin" });
    expect(await roleIn(org.id, member.id)).toBe("admin");
    const audit = await auditRows(org.id, "member.role_change");
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actor_id: admin.id, actor_ip: "203.0.113.7", target_id: member.id });
    expect(JSON.parse(audit[0]!.before!)).toEqual({ role: "member" });
    expect(JSON.parse(audit[0]!.after!)).toEqual({ role: "admin" });
  });

  it("refuses admin vs admin, admin vs owner, self changes and assigning owner, changing nothing", async () => {
    const { org, owner, admin } = await createOrgWithCast();
    const admin2 = await createMember(org, "admin");
    const before = await snapshotTable("memberships", org.id);
    const cases: Array<[typeof owner, string, string, RegExp]> = [
      [admin, admin2.id, "member", /admins cannot change the role of other admins/i],
      [admin, owner.id, "member", /owner/i],
      [admin, admin.id, "member", /your own role/i],
      [owner, owner.id, "admin", /your own role/i],
    ];
    for (const [as, target, role, message] of cases) {
      const res = await call(as, "PATCH", `/api/orgs/${org.id}/members/${target}`, { role });
      expect(res.status).toBe(403);
      expect(res.body.error.message).toMatch(message);
    }
    const toOwner = await call(owner, "PATCH", `/api/orgs/${org.id}/members/${admin2.id}`, { role: "owner" });
    expect(toOwner.status).toBe(403);
    expect(toOwner.body.error.message).toMatch(/transfer/i);
    expect(await snapshotTable("memberships", org.id)).toEqual(before);
    expect(await auditRows(org.id, "member.role_change")).toEqual([]);
  });

  it("lets the owner demote an admin", async () => {
    const { org, owner, admin } = await createOrgWithCast();
    expect((await call(owner, "PATCH", `/api/orgs/${org.id}/members/${admin.id}`, { role: "viewer" })).status).toBe(200);
    expect(await roleIn(org.id, admin.id)).toBe("viewer");
  });

  it("re-checks the seat limit when promoting a viewer", async () => {
    const owner = await createUser();
    const org = await createOrg(owner, { plan: "free" });
    await createMember(org, "member");
    await createMember(org, "admin");
    const viewer = await createMember(org, "viewer");
    const res = await call(owner, "PATCH", `/api/orgs/${org.id}/members/${viewer.id}`, { role: "member" });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe("plan_limit");
    expect(res.body.error.message).toMatch(/^Seat limit of 3 reached on the Free plan/);
    expect(await roleIn(org.id, viewer.id)).toBe("viewer");
    // Demotions and viewer-to-viewer moves never need a seat.
    const member = await createMember(org, "viewer");
    expect((await call(owner, "PATCH", `/api/orgs/${org.id}/members/${member.id}`, { role: "viewer" })).status).toBe(200);
  });

  it("is refused below admin and across orgs, with nothing changed", async () => {
    const { org, member, viewer } = await createOrgWithCast();
    const other = await createOrgWithCast();
    const before = await snapshotTable("memberships", org.id);
    expect((await call(member, "PATCH", `/api/orgs/${org.id}/members/${viewer.id}`, { role: "member" })).status).toBe(403);
    expect((await call(other.owner, "PATCH", `/api/orgs/${org.id}/members/${viewer.id}`, { role: "member" })).status).toBe(404);
    // Other org's member addressed through my org: 404, never touched.
    expect((await call(other.owner, "PATCH", `/api/orgs/${other.org.id}/members/${viewer.id}`, { role: "member" })).status).toBe(404);
    expect(await snapshotTable("memberships", org.id)).toEqual(before);
  });
});

describe("removing members", () => {
  it("previews and then revokes exactly the member's keys: the gate refuses them, others still pass", async () => {
    const { org, owner, admin, member } = await createOrgWithCast();
    const k1 = await createKey(org, member, { name: "ci" });
    const k2 = await createKey(org, member, { name: "laptop" });
    const ownerKey = await createKey(org, owner);
    const adminKey = await createKey(org, admin);

    const preview = await call(admin, "GET", `/api/orgs/${org.id}/members/${member.id}/removal-preview`);
    expect(preview.status).toBe(200);
    expect(preview.body.can_remove).toBe(true);
    expect(preview.body.keys_to_revoke.map((k: { id: string }) => k.id).sort()).toEqual([k1.id, k2.id].sort());

    const res = await call(admin, "DELETE", `/api/orgs/${org.id}/members/${member.id}`);
    expect(res.status).toBe(200);
    expect(res.body.revoked_key_ids.sort()).toEqual([k1.id, k2.id].sort());
    expect(await gateVerdict(k1)).toMatchObject({ ok: false });
    expect(await gateVerdict(k2)).toMatchObject({ ok: false });
    expect((await gateVerdict(ownerKey)).ok).toBe(true);
    expect((await gateVerdict(adminKey)).ok).toBe(true);
    const live = await env.DB.prepare("SELECT id FROM api_keys WHERE org_id = ? AND revoked_at IS NULL").bind(org.id).all<{ id: string }>();
    expect(live.results.map((r) => r.id).sort()).toEqual([ownerKey.id, adminKey.id].sort());
    const audit = await auditRows(org.id, "member.remove");
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actor_id: admin.id, actor_ip: "203.0.113.7", target_id: member.id });
  });

  it("ends the removed user's access to the org at once, but not to their other orgs", async () => {
    const { org, owner, member } = await createOrgWithCast();
    const theirOwn = await createOrg(await createUser());
    await env.DB.prepare("INSERT INTO memberships (org_id, user_id, role) VALUES (?, ?, 'member')").bind(theirOwn.id, member.id).run();
    const teamId = await addTeam(org.id, "ops", [member.id]);
    expect((await call(member, "GET", `/api/orgs/${org.id}`)).status).toBe(200);
    expect((await call(owner, "DELETE", `/api/orgs/${org.id}/members/${member.id}`)).status).toBe(200);
    expect((await call(member, "GET", `/api/orgs/${org.id}`)).status).toBe(404);
    expect((await call(member, "GET", `/api/orgs/${theirOwn.id}`)).status).toBe(200);
    const teamRows = await env.DB.prepare("SELECT * FROM team_members WHERE team_id = ? AND user_id = ?").bind(teamId, member.id).all();
    expect(teamRows.results).toEqual([]);
  });

  it("revokes the management tokens the removed admin created, so their automation stops with them", async () => {
    const { org, owner, admin } = await createOrgWithCast();
    const created = await call(admin, "POST", `/api/orgs/${org.id}/management-tokens`, { name: "ci", role: "member" });
    expect(created.status).toBe(201);
    const token = { token: created.body.token as string };
    expect((await call(token, "GET", `/api/orgs/${org.id}/members`)).status).toBe(200);
    expect((await call(owner, "DELETE", `/api/orgs/${org.id}/members/${admin.id}`)).status).toBe(200);
    expect((await call(token, "GET", `/api/orgs/${org.id}/members`)).status).toBe(401);
  });

  it("refuses self removal, admin vs admin and the owner; the preview says why", async () => {
    const { org, owner, admin } = await createOrgWithCast();
    const admin2 = await createMember(org, "admin");
    const before = await snapshotTable("memberships", org.id);
    const self = await call(admin, "DELETE", `/api/orgs/${org.id}/members/${admin.id}`);
    expect(self.status).toBe(403);
    expect(self.body.error.message).toMatch(/leave/i);
    expect((await call(owner, "DELETE", `/api/orgs/${org.id}/members/${owner.id}`)).status).toBe(403);
    expect((await call(admin, "DELETE", `/api/orgs/${org.id}/members/${admin2.id}`)).status).toBe(403);
    expect((await call(admin, "DELETE", `/api/orgs/${org.id}/members/${owner.id}`)).status).toBe(403);
    const preview = await call(admin, "GET", `/api/orgs/${org.id}/members/${admin2.id}/removal-preview`);
    expect(preview.body).toMatchObject({ can_remove: false, reason: expect.stringMatching(/admins/i) });
    expect(await snapshotTable("memberships", org.id)).toEqual(before);
    // The owner may remove an admin.
    expect((await call(owner, "DELETE", `/api/orgs/${org.id}/members/${admin2.id}`)).status).toBe(200);
  });

  it("is refused for members and strangers, leaving memberships and keys unchanged", async () => {
    const { org, member, viewer } = await createOrgWithCast();
    const key = await createKey(org, viewer);
    const stranger = (await createOrgWithCast()).owner;
    const memberships = await snapshotTable("memberships", org.id);
    const keys = await snapshotTable("api_keys", org.id);
    expect((await call(member, "DELETE", `/api/orgs/${org.id}/members/${viewer.id}`)).status).toBe(403);
    expect((await call(stranger, "DELETE", `/api/orgs/${org.id}/members/${viewer.id}`)).status).toBe(404);
    expect((await call(member, "GET", `/api/orgs/${org.id}/members/${viewer.id}/removal-preview`)).status).toBe(403);
    expect(await snapshotTable("memberships", org.id)).toEqual(memberships);
    expect(await snapshotTable("api_keys", org.id)).toEqual(keys);
    expect((await gateVerdict(key)).ok).toBe(true);
  });
});
