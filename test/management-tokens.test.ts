import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../src/lib/crypto";
import { call, createOrgWithCast, snapshotTable, type TestUser } from "./factories";
import { gateVerdict } from "./factories/keys";

const base = (orgId: string) => `/api/orgs/${orgId}/management-tokens`;
type Caller = TestUser | { token: string };
const create = (as: Caller, orgId: string, body: Record<string, unknown>) => call(as, "POST", base(orgId), body);
/** The org's token ids (using a token touches its last_used_at, so whole-row snapshots would differ). */
const tokenIds = async (orgId: string) => ((await snapshotTable("management_tokens", orgId)) as Array<{ id: string }>).map((r) => r.id);
const auditOf = (orgId: string) => env.DB.prepare("SELECT * FROM audit_log WHERE org_id = ? ORDER BY created_at, rowid").bind(orgId).all<Record<string, any>>().then((r) => r.results);

describe("management tokens: creation", () => {
  it("returns the full token once, stores only its SHA-256, and writes one audit row", async () => {
    const { org, owner } = await createOrgWithCast();
    const res = await create(owner, org.id, { name: "deploy bot", role: "admin" });
    expect(res.status).toBe(201);
    const t = res.body;
    expect(t.token).toMatch(/^tgm_[0-9A-Za-z]{43}$/);
    expect(t).toMatchObject({ name: "deploy bot", role: "admin", created_by: owner.id, expires_at: null, revoked_at: null, last_used_at: null });
    expect(t.id).toMatch(/^tgm_[0-9A-Za-z]{16}$/);
    expect(t.hint).toBe(`tgm_…${t.token.slice(-4)}`);

    const [row] = (await snapshotTable("management_tokens", org.id)) as Record<string, any>[];
    expect(row!.token_hash).toBe(await sha256Hex(t.token));
    expect(JSON.stringify(row)).not.toContain(t.token);

    const audit = await auditOf(org.id);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ action: "management_token.create", target_type: "management_token", target_id: t.id, actor_type: "user", actor_id: owner.id, actor_ip: "203.0.113.7" });
    expect(JSON.stringify(audit[0])).not.toContain(t.token.slice(4));

    const list = await call(owner, "GET", base(org.id));
    expect(list.status).toBe(200);
    expect(list.body.data).toHaveLength(1);
    expect(list.body.data[0]).not.toHaveProperty("token");
    expect(JSON.stringify(list.body)).not.toContain(t.token.slice(4));
  });

  it("caps the role at the creator's own: admins create admin/member/viewer, nobody creates owner", async () => {
    const { org, owner, admin } = await createOrgWithCast();
    for (const role of ["admin", "member", "viewer"]) expect((await create(admin, org.id, { name: role, role })).status).toBe(201);
    const before = await snapshotTable("management_tokens", org.id);
    for (const as of [owner, admin]) {
      const res = await create(as, org.id, { name: "root", role: "owner" });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: "invalid_request", param: "role" });
    }
    expect(await snapshotTable("management_tokens", org.id)).toEqual(before);
  });

  it("refuses members and viewers (403) and outsiders (404)", async () => {
    const { org, member, viewer } = await createOrgWithCast();
    const other = await createOrgWithCast();
    for (const as of [member, viewer]) {
      expect((await create(as, org.id, { name: "x", role: "viewer" })).status).toBe(403);
      expect((await call(as, "GET", base(org.id))).status).toBe(403);
    }
    for (const as of [other.owner, other.admin]) {
      expect((await create(as, org.id, { name: "x", role: "viewer" })).status).toBe(404);
      expect((await call(as, "GET", base(org.id))).status).toBe(404);
    }
    expect((await call(null, "GET", base(org.id))).status).toBe(401);
    expect(await snapshotTable("management_tokens", org.id)).toEqual([]);
  });

  it.each([
    ["name", { role: "viewer" }],
    ["name", { name: "  ", role: "viewer" }],
    ["role", { name: "x" }],
    ["role", { name: "x", role: "superuser" }],
    ["expires_at", { name: "x", role: "viewer", expires_at: "tomorrow" }],
    ["expires_at", { name: "x", role: "viewer", expires_at: "2001-01-01T00:00:00Z" }],
    ["expires_at", { name: "x", role: "viewer", expires_at: "2999-01-01T00:00:00Z" }],
  ])("answers 400 naming %s for bad input and writes nothing", async (param, body) => {
    const { org, owner } = await createOrgWithCast();
    const res = await create(owner, org.id, body);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: "invalid_request", param });
    expect(await snapshotTable("management_tokens", org.id)).toEqual([]);
    expect(await snapshotTable("audit_log", org.id)).toEqual([]);
  });
});

describe("management tokens: authenticating with one", () => {
  it("works on its own org with its role, answers 404 on another org, and never acts as a user", async () => {
    const { org, owner } = await createOrgWithCast();
    const other = await createOrgWithCast();
    const { body } = await create(owner, org.id, { name: "admin bot", role: "admin" });
    const bot = { token: body.token as string };
    const list = await call(bot, "GET", base(org.id));
    expect(list.status).toBe(200);
    expect(list.body.data.map((t: { id: string }) => t.id)).toEqual([body.id]);
    expect(Date.parse(list.body.data[0].last_used_at)).toBeGreaterThan(Date.now() - 60_000);
    expect((await call(bot, "GET", base(other.org.id))).status).toBe(404);
    expect((await create(bot, other.org.id, { name: "x", role: "viewer" })).status).toBe(404);
    expect((await call(bot, "GET", "/api/me")).status).toBe(403);
    expect(await snapshotTable("management_tokens", other.org.id)).toEqual([]);
  });

  it("lets an admin token create tokens up to admin, attributed to the token", async () => {
    const { org, owner } = await createOrgWithCast();
    const { body } = await create(owner, org.id, { name: "admin bot", role: "admin" });
    const child = await create({ token: body.token }, org.id, { name: "child", role: "admin" });
    expect(child.status).toBe(201);
    expect(child.body.created_by).toBe(body.id);
    const audit = await auditOf(org.id);
    expect(audit[1]).toMatchObject({ actor_type: "management_token", actor_id: body.id, target_id: child.body.id });
    expect((await create({ token: body.token }, org.id, { name: "root", role: "owner" })).status).toBe(400);
  });

  it("refuses viewer and member tokens on admin routes (they cannot mint tokens)", async () => {
    const { org, owner } = await createOrgWithCast();
    for (const role of ["viewer", "member"]) {
      const { body } = await create(owner, org.id, { name: role, role });
      const before = await tokenIds(org.id);
      const res = await create({ token: body.token }, org.id, { name: "escalate", role: "admin" });
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe("permission_denied");
      expect((await create({ token: body.token }, org.id, { name: "same", role })).status).toBe(403);
      expect(await tokenIds(org.id)).toEqual(before);
    }
  });

  it("stops authenticating once revoked or expired; malformed and unknown tokens get 401", async () => {
    const { org, owner } = await createOrgWithCast();
    const a = await create(owner, org.id, { name: "a", role: "admin" });
    const soon = new Date(Date.now() + 3_600_000).toISOString();
    const b = await create(owner, org.id, { name: "b", role: "admin", expires_at: soon });
    expect(b.body.expires_at).toBe(soon);
    expect((await call({ token: b.body.token }, "GET", base(org.id))).status).toBe(200);

    expect((await call(owner, "POST", `${base(org.id)}/${a.body.id}/revoke`)).status).toBe(200);
    const revoked = await call({ token: a.body.token }, "GET", base(org.id));
    expect(revoked.status).toBe(401);
    expect(revoked.body.error.code).toBe("invalid_api_key");

    await env.DB.prepare("UPDATE management_tokens SET expires_at = ? WHERE id = ?").bind(Date.now() - 1, b.body.id).run();
    expect((await call({ token: b.body.token }, "GET", base(org.id))).status).toBe(401);

    expect((await call({ token: `tgm_${"x".repeat(43)}` }, "GET", base(org.id))).status).toBe(401);
    expect((await call({ token: "sk-not-a-management-token" }, "GET", base(org.id))).status).toBe(401);
  });
});

describe("management tokens: revocation", () => {
  it("revokes once with one audit row; again is a conflict; foreign and unknown ids are 404", async () => {
    const { org, owner, admin, member } = await createOrgWithCast();
    const other = await createOrgWithCast();
    const mine = await create(owner, org.id, { name: "mine", role: "member" });
    const theirs = await create(other.owner, other.org.id, { name: "theirs", role: "admin" });

    expect((await call(member, "POST", `${base(org.id)}/${mine.body.id}/revoke`)).status).toBe(403);
    expect((await call(other.owner, "POST", `${base(org.id)}/${mine.body.id}/revoke`)).status).toBe(404);
    expect((await call(owner, "POST", `${base(org.id)}/${theirs.body.id}/revoke`)).status).toBe(404);
    expect((await call(owner, "POST", `${base(org.id)}/tgm_doesnotexist0000/revoke`)).status).toBe(404);
    expect((await call({ token: theirs.body.token }, "GET", base(other.org.id))).status).toBe(200);

    const res = await call(admin, "POST", `${base(org.id)}/${mine.body.id}/revoke`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: mine.body.id, name: "mine", role: "member" });
    expect(res.body.revoked_at).not.toBeNull();
    expect(res.body).not.toHaveProperty("token");

    const again = await call(owner, "POST", `${base(org.id)}/${mine.body.id}/revoke`);
    expect(again.status).toBe(409);
    const audit = await auditOf(org.id);
    expect(audit.map((a) => a.action)).toEqual(["management_token.create", "management_token.revoke"]);
    expect(audit[1]).toMatchObject({ actor_id: admin.id, target_id: mine.body.id });
  });
});

describe("management tokens: listing", () => {
  it("paginates newest first with a cursor and validates cursor and limit", async () => {
    const { org, owner } = await createOrgWithCast();
    const ids: string[] = [];
    for (const name of ["one", "two", "three"]) {
      ids.push((await create(owner, org.id, { name, role: "viewer" })).body.id);
      await new Promise((r) => setTimeout(r, 5));
    }
    const p1 = await call(owner, "GET", `${base(org.id)}?limit=2`);
    expect(p1.body.data.map((t: { name: string }) => t.name)).toEqual(["three", "two"]);
    expect(p1.body.next_cursor).toEqual(expect.any(String));
    const p2 = await call(owner, "GET", `${base(org.id)}?limit=2&cursor=${encodeURIComponent(p1.body.next_cursor)}`);
    expect(p2.body.data.map((t: { name: string }) => t.name)).toEqual(["one"]);
    expect(p2.body.next_cursor).toBeNull();

    const badCursor = await call(owner, "GET", `${base(org.id)}?cursor=garbage`);
    expect(badCursor.status).toBe(400);
    expect(badCursor.body.error.param).toBe("cursor");
    const badLimit = await call(owner, "GET", `${base(org.id)}?limit=0`);
    expect(badLimit.status).toBe(400);
    expect(badLimit.body.error.param).toBe("limit");
  });
});

describe("management tokens: rights follow the human at the root of the chain", () => {
  it("demoting the creator lowers the token's rights on the very next request", async () => {
    const { org, owner, admin } = await createOrgWithCast();
    const t = (await create(admin, org.id, { name: "ops", role: "admin" })).body;
    const asToken = { token: t.token as string };
    expect((await call(asToken, "GET", base(org.id))).status).toBe(200);
    expect((await call(owner, "PATCH", `/api/orgs/${org.id}/members/${admin.id}`, { role: "member" })).status).toBe(200);
    const denied = await call(asToken, "GET", base(org.id));
    expect(denied.status).toBe(403);
    expect(denied.body.error.message).toMatch(/you are member/);
    expect((await call(asToken, "GET", `/api/orgs/${org.id}/keys`)).status).toBe(200);
    // Promoting back restores the token's own cap (never more).
    expect((await call(owner, "PATCH", `/api/orgs/${org.id}/members/${admin.id}`, { role: "admin" })).status).toBe(200);
    expect((await call(asToken, "GET", base(org.id))).status).toBe(200);
  });

  it("a token created by a token belongs to the root human; removing them revokes every token and key in the chain", async () => {
    const { org, owner, admin } = await createOrgWithCast();
    const t1 = (await create(admin, org.id, { name: "parent", role: "admin" })).body;
    const t2res = await create({ token: t1.token }, org.id, { name: "child", role: "member" });
    expect(t2res.status).toBe(201);
    const t2 = t2res.body;
    expect(t2).toMatchObject({ created_by: t1.id, root_user_id: admin.id });
    const k1 = await call({ token: t1.token }, "POST", `/api/orgs/${org.id}/keys`, { name: "by parent" });
    const k2 = await call({ token: t2.token }, "POST", `/api/orgs/${org.id}/keys`, { name: "by child" });
    expect([k1.status, k2.status]).toEqual([201, 201]);
    const ownerKey = await call(owner, "POST", `/api/orgs/${org.id}/keys`, { name: "owner's" });

    const preview = await call(owner, "GET", `/api/orgs/${org.id}/members/${admin.id}/removal-preview`);
    expect(preview.body.keys_to_revoke.map((k: { id: string }) => k.id).sort()).toEqual([k1.body.id, k2.body.id].sort());
    const removed = await call(owner, "DELETE", `/api/orgs/${org.id}/members/${admin.id}`);
    expect(removed.status).toBe(200);
    expect([...removed.body.revoked_key_ids].sort()).toEqual([k1.body.id, k2.body.id].sort());

    for (const t of [t1, t2]) expect((await call({ token: t.token }, "GET", `/api/orgs/${org.id}/keys`)).status).toBe(401);
    const tokens = (await call(owner, "GET", base(org.id))).body.data as Array<{ id: string; revoked_at: string | null }>;
    expect(tokens.filter((t) => t.revoked_at === null)).toEqual([]);
    for (const k of [k1, k2]) expect((await gateVerdict({ id: k.body.id, key: k.body.key, orgId: org.id })).ok).toBe(false);
    expect((await gateVerdict({ id: ownerKey.body.id, key: ownerKey.body.key, orgId: org.id })).ok).toBe(true);
  });

  it("a token whose root user is no longer a member is refused (401) even when not revoked", async () => {
    const { org, admin } = await createOrgWithCast();
    const t = (await create(admin, org.id, { name: "orphan", role: "viewer" })).body;
    expect((await call({ token: t.token }, "GET", `/api/orgs/${org.id}/keys`)).status).toBe(200);
    await env.DB.prepare("DELETE FROM memberships WHERE org_id = ? AND user_id = ?").bind(org.id, admin.id).run();
    const res = await call({ token: t.token }, "GET", `/api/orgs/${org.id}/keys`);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe("invalid_api_key");
  });
});
