import { describe, expect, it } from "vitest";
import { call, createOrgWithCast } from "./factories";
import { createKey } from "./factories/keys";

const auditPath = (orgId: string, qs = "") => `/api/orgs/${orgId}/audit-log${qs}`;

describe("audit log", () => {
  it("shows each mutation once, newest first, with actor (and email), ip, user agent, target, before/after and ISO time", async () => {
    const { org, admin, member } = await createOrgWithCast();
    const team = (await call(admin, "POST", `/api/orgs/${org.id}/teams`, { name: "Ops" })).body;
    const key = (await call(member, "POST", `/api/orgs/${org.id}/keys`, { name: "k1" }, { headers: { "user-agent": "sdk/1.0", "cf-connecting-ip": "198.51.100.4" } })).body;
    await call(admin, "POST", `/api/orgs/${org.id}/keys/${key.id}/revoke`);

    const res = await call(admin, "GET", auditPath(org.id));
    expect(res.status).toBe(200);
    expect(res.body.next_cursor).toBeNull();
    expect(res.body.data.map((e: { action: string }) => e.action)).toEqual(["key.revoke", "key.create", "team.create"]);
    const [revoke, create, teamCreate] = res.body.data;
    expect(create).toMatchObject({
      actor: { type: "user", id: member.id, email: member.email },
      ip: "198.51.100.4",
      user_agent: "sdk/1.0",
      target: { type: "key", id: key.id },
      before: null,
    });
    expect(create.after).toMatchObject({ name: "k1", revoked_at: null });
    expect(revoke).toMatchObject({ actor: { id: admin.id, email: admin.email }, target: { type: "key", id: key.id } });
    expect(revoke.before.revoked_at).toBeNull();
    expect(revoke.after.revoked_at).toMatch(/Z$/);
    expect(teamCreate).toMatchObject({ target: { type: "team", id: team.id }, after: { name: "Ops", description: null } });
    expect(new Date(create.created_at).toISOString()).toBe(create.created_at);
    expect(JSON.stringify(res.body)).not.toContain(key.key);
  });

  it("filters by action (exact or prefix.*) and by actor (id or email), and paginates with a cursor", async () => {
    const { org, owner, admin } = await createOrgWithCast();
    for (let i = 0; i < 3; i++) await call(owner, "POST", `/api/orgs/${org.id}/keys`, { name: `k${i}` });
    await call(admin, "POST", `/api/orgs/${org.id}/teams`, { name: "T" });
    const actions = async (qs: string) => (await call(owner, "GET", auditPath(org.id, qs))).body.data.map((e: { action: string }) => e.action);
    expect(await actions("?action=team.create")).toEqual(["team.create"]);
    expect(await actions("?action=key.*")).toEqual(["key.create", "key.create", "key.create"]);
    expect(await actions("?action=key")).toEqual([]);
    expect(await actions(`?actor=${admin.id}`)).toEqual(["team.create"]);
    expect(await actions(`?actor=${encodeURIComponent(owner.email.toUpperCase())}`)).toHaveLength(3);

    const p1 = await call(owner, "GET", auditPath(org.id, "?limit=3"));
    expect(p1.body.data).toHaveLength(3);
    expect(p1.body.next_cursor).toEqual(expect.any(String));
    const p2 = await call(owner, "GET", auditPath(org.id, `?limit=3&cursor=${p1.body.next_cursor}`));
    expect(p2.body.data).toHaveLength(1);
    expect(p2.body.next_cursor).toBeNull();
    const all = [...p1.body.data, ...p2.body.data].map((e: { id: string }) => e.id);
    expect(new Set(all).size).toBe(4);
  });

  it("is for admins and owners only, and never shows another org's entries", async () => {
    const { org, owner, member, viewer } = await createOrgWithCast();
    const other = await createOrgWithCast();
    await createKey(other.org, other.owner);
    await call(other.owner, "POST", `/api/orgs/${other.org.id}/teams`, { name: "theirs" });
    for (const who of [member, viewer]) {
      const res = await call(who, "GET", auditPath(org.id));
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe("permission_denied");
    }
    expect((await call(owner, "GET", auditPath(other.org.id))).status).toBe(404);
    const mine = await call(owner, "GET", auditPath(org.id));
    expect(mine.body.data).toEqual([]);
    expect((await call(owner, "GET", auditPath(org.id, "?limit=500"))).body.error.param).toBe("limit");
  });
});
