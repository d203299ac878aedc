import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call, createMember, createOrg, createOrgWithCast, createUser, snapshotTable } from "./factories";
import { createKey, gateVerdict } from "./factories/keys";
import { auditRows } from "./factories/orgs";

describe("organizations: list and create", () => {
  it("creates a team org with the caller as owner, an auto slug, and one audit row", async () => {
    const user = await createUser();
    const res = await call(user, "POST", "/api/orgs", { name: "Ácme Robotics, Inc." });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ name: "Ácme Robotics, Inc.", kind: "team", plan: "free", role: "owner" });
    expect(res.body.id).toMatch(/^org_/);
    expect(res.body.slug).toMatch(/^acme-robotics-inc(-[a-z0-9]{5})?$/);
    const list = await call(user, "GET", "/api/orgs");
    expect(list.status).toBe(200);
    expect(list.body.data.map((o: { id: string; role: string }) => [o.id, o.role])).toEqual([[res.body.id, "owner"]]);
    const audit = await auditRows(res.body.id);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ action: "org.create", actor_id: user.id, actor_ip: "203.0.113.7", user_agent: "tollgate-tests" });
  });

  it("gives a second org with the same name a different, still URL-safe slug", async () => {
    const a = await createUser();
    const name = `Same Name ${Date.now()}`;
    const first = await call(a, "POST", "/api/orgs", { name });
    const second = await call(a, "POST", "/api/orgs", { name });
    expect(first.status).toBe(201);
    expect(second.status).toBe(201);
    expect(second.body.slug).not.toBe(first.body.slug);
    expect(second.body.slug).toMatch(/^[a-z0-9-]+$/);
  });

  it("refuses a taken explicit slug with 409 and bad input with 400 naming the field, creating nothing", async () => {
    const user = await createUser();
    const taken = await createOrg(user);
    const before = await env.DB.prepare("SELECT count(*) AS n FROM memberships WHERE user_id = ?").bind(user.id).first<{ n: number }>();
    const dup = await call(user, "POST", "/api/orgs", { name: "X", slug: taken.slug });
    expect(dup.status).toBe(409);
    expect(dup.body.error).toMatchObject({ code: "conflict", param: "slug" });
    const badSlug = await call(user, "POST", "/api/orgs", { name: "X", slug: "Not A Slug!" });
    expect(badSlug.status).toBe(400);
    expect(badSlug.body.error).toMatchObject({ code: "invalid_request", param: "slug" });
    const noName = await call(user, "POST", "/api/orgs", { name: "   " });
    expect(noName.status).toBe(400);
    expect(noName.body.error.param).toBe("name");
    const after = await env.DB.prepare("SELECT count(*) AS n FROM memberships WHERE user_id = ?").bind(user.id).first<{ n: number }>();
    expect(after!.n).toBe(before!.n);
  });

  it("needs a session", async () => {
    expect((await call(null, "GET", "/api/orgs")).status).toBe(401);
    expect((await call(null, "POST", "/api/orgs", { name: "x" })).status).toBe(401);
  });
});

describe("organizations: read and rename", () => {
  it("lets every role read the org, and hides foreign orgs behind 404", async () => {
    const { org, viewer } = await createOrgWithCast();
    const res = await call(viewer, "GET", `/api/orgs/${org.id}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: org.id, slug: org.slug, role: "viewer" });
    const stranger = await createUser();
    expect((await call(stranger, "GET", `/api/orgs/${org.id}`)).status).toBe(404);
  });

  it("lets admins rename; members get 403 and nothing changes", async () => {
    const { org, admin, member } = await createOrgWithCast();
    const before = await snapshotTable("orgs");
    const denied = await call(member, "PATCH", `/api/orgs/${org.id}`, { name: "Hijacked" });
    expect(denied.status).toBe(403);
    expect(await snapshotTable("orgs")).toEqual(before);
    const slug = `renamed-${Date.now().toString(36)}`;
    const ok = await call(admin, "PATCH", `/api/orgs/${org.id}`, { name: "Renamed", slug });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ name: "Renamed", slug });
    const audit = await auditRows(org.id, "org.update");
    expect(audit).toHaveLength(1);
    expect(audit[0]!.actor_id).toBe(admin.id);
    expect(JSON.parse(audit[0]!.before!)).toEqual({ name: org.name, slug: org.slug });
  });

  it("refuses to rename a personal org with a clear 403", async () => {
    const user = await createUser();
    const personal = await createOrg(user, { kind: "personal" });
    const res = await call(user, "PATCH", `/api/orgs/${personal.id}`, { name: "New" });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe("permission_denied");
    expect(res.body.error.message).toMatch(/personal organizations cannot be renamed/i);
  });
});

describe("organizations: delete", () => {
  it("requires the owner, a team org and the slug typed back", async () => {
    const { org, owner, admin } = await createOrgWithCast();
    const snapshot = await snapshotTable("memberships", org.id);
    expect((await call(admin, "DELETE", `/api/orgs/${org.id}`, { confirm: org.slug })).status).toBe(403);
    const wrong = await call(owner, "DELETE", `/api/orgs/${org.id}`, { confirm: "nope" });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error).toMatchObject({ code: "invalid_request", param: "confirm" });
    expect(await snapshotTable("memberships", org.id)).toEqual(snapshot);
    const personalOwner = await createUser();
    const personal = await createOrg(personalOwner, { kind: "personal" });
    const res = await call(personalOwner, "DELETE", `/api/orgs/${personal.id}`, { confirm: personal.slug });
    expect(res.status).toBe(403);
    expect(res.body.error.message).toMatch(/personal organizations cannot be deleted/i);
  });

  it("revokes every key at once (the gate refuses them), removes members, invitations and resources, and keeps the audit row", async () => {
    const { org, owner, admin, member } = await createOrgWithCast();
    const keys = [await createKey(org, owner), await createKey(org, admin), await createKey(org, member)];
    for (const k of keys) expect((await gateVerdict(k)).ok).toBe(true);
    const invite = await call(owner, "POST", `/api/orgs/${org.id}/invitations`, { email: `gone-${Date.now()}@example.com`, role: "member" });
    expect(invite.status).toBe(201);

    const res = await call(owner, "DELETE", `/api/orgs/${org.id}`, { confirm: org.slug });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ id: org.id, deleted: true });
    for (const k of keys) expect(await gateVerdict(k)).toMatchObject({ ok: false });
    for (const table of ["memberships", "invitations", "api_keys", "teams"]) expect(await snapshotTable(table, org.id)).toEqual([]);
    expect(await snapshotTable("orgs").then((rows) => rows.filter((r) => (r as { id: string }).id === org.id))).toEqual([]);
    const audit = await auditRows(org.id, "org.delete");
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actor_id: owner.id, actor_ip: "203.0.113.7" });
    expect((await call(member, "GET", `/api/orgs/${org.id}`)).status).toBe(404);
  });

  it("leaves other orgs' keys alone", async () => {
    const a = await createOrgWithCast();
    const b = await createOrgWithCast();
    const bKey = await createKey(b.org, b.member);
    expect((await call(a.owner, "DELETE", `/api/orgs/${a.org.id}`, { confirm: a.org.slug })).status).toBe(200);
    expect((await gateVerdict(bKey)).ok).toBe(true);
    // An owner of A trying B's org: 404, B intact.
    const before = await snapshotTable("memberships", b.org.id);
    expect((await call(a.owner, "DELETE", `/api/orgs/${b.org.id}`, { confirm: b.org.slug })).status).toBe(404);
    expect(await snapshotTable("memberships", b.org.id)).toEqual(before);
  });

  it("lets a member of two orgs keep the other one", async () => {
    const { org, owner } = await createOrgWithCast();
    const other = await createOrg(await createUser());
    const both = await createMember(other, "member");
    await env.DB.prepare("INSERT INTO memberships (org_id, user_id, role) VALUES (?, ?, 'member')").bind(org.id, both.id).run();
    expect((await call(owner, "DELETE", `/api/orgs/${org.id}`, { confirm: org.slug })).status).toBe(200);
    const list = await call(both, "GET", "/api/orgs");
    expect(list.body.data.map((o: { id: string }) => o.id)).toEqual([other.id]);
  });
});
