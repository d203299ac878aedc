import { describe, expect, it } from "vitest";
import { call, createOrgWithCast, snapshotTable } from "./factories";
import { createKey, gateVerdict } from "./factories/keys";
import { auditRows, createTeam } from "./factories/org-resources";

const keyPath = (orgId: string, keyId: string) => `/api/orgs/${orgId}/keys/${keyId}`;

describe("revoking keys", () => {
  it("takes effect on the very next request: the gate says revoked as soon as the route answers", async () => {
    const { org, admin, member } = await createOrgWithCast();
    const key = await createKey(org, member);
    expect((await gateVerdict(key)).ok).toBe(true);
    const res = await call(admin, "POST", `${keyPath(org.id, key.id)}/revoke`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: key.id, status: "revoked" });
    expect(res.body.revoked_at).toMatch(/^\d{4}-/);
    expect(await gateVerdict(key)).toEqual({ ok: false, reason: "revoked" });
    const [row] = (await snapshotTable("api_keys", org.id)) as Array<Record<string, unknown>>;
    expect(row).toMatchObject({ revoked_by: admin.id });
    const audit = await auditRows(org.id, "key.revoke");
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actor_id: admin.id, target_id: key.id });
    expect(audit[0]!.before.revoked_at).toBeNull();
    expect(audit[0]!.after.revoked_at).toMatch(/^\d{4}-/);
  });

  it("members revoke keys they created, but not others' keys; viewers never", async () => {
    const { org, owner, member, viewer } = await createOrgWithCast();
    const own = await createKey(org, member);
    const ownersKey = await createKey(org, owner);
    const viewersTarget = await createKey(org, member);

    const denied = await call(member, "POST", `${keyPath(org.id, ownersKey.id)}/revoke`);
    expect(denied.status).toBe(403);
    expect(denied.body.error.code).toBe("permission_denied");
    expect((await gateVerdict(ownersKey)).ok).toBe(true);

    const v = await call(viewer, "POST", `${keyPath(org.id, viewersTarget.id)}/revoke`);
    expect(v.status).toBe(403);
    expect((await gateVerdict(viewersTarget)).ok).toBe(true);
    expect(await auditRows(org.id)).toEqual([]);

    const ok = await call(member, "POST", `${keyPath(org.id, own.id)}/revoke`);
    expect(ok.status).toBe(200);
    expect(await gateVerdict(own)).toEqual({ ok: false, reason: "revoked" });
  });

  it("admins and owners revoke anyone's key, even another admin's", async () => {
    const { org, owner, admin } = await createOrgWithCast();
    const a = await createKey(org, owner);
    const b = await createKey(org, admin);
    expect((await call(admin, "POST", `${keyPath(org.id, a.id)}/revoke`)).status).toBe(200);
    expect((await call(owner, "POST", `${keyPath(org.id, b.id)}/revoke`)).status).toBe(200);
    expect(await gateVerdict(a)).toEqual({ ok: false, reason: "revoked" });
    expect(await gateVerdict(b)).toEqual({ ok: false, reason: "revoked" });
  });

  it("revoking twice is idempotent: 200 with the same body, the first revocation kept, one audit row", async () => {
    const { org, owner } = await createOrgWithCast();
    const key = await createKey(org, owner);
    const first = await call(owner, "POST", `${keyPath(org.id, key.id)}/revoke`);
    expect(first.status).toBe(200);
    const before = await snapshotTable("api_keys", org.id);
    const again = await call(owner, "POST", `${keyPath(org.id, key.id)}/revoke`);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect(await snapshotTable("api_keys", org.id)).toEqual(before);
    expect(await auditRows(org.id, "key.revoke")).toHaveLength(1);
    expect(await gateVerdict(key)).toEqual({ ok: false, reason: "revoked" });
  });
});

describe("updating keys", () => {
  it("setting expires_at in the past expires the key at the gate immediately", async () => {
    const { org, admin, member } = await createOrgWithCast();
    const key = await createKey(org, member);
    const res = await call(admin, "PATCH", keyPath(org.id, key.id), { expires_at: new Date(Date.now() - 60_000).toISOString() });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe("expired");
    expect(await gateVerdict(key)).toEqual({ ok: false, reason: "expired" });

    const back = await call(admin, "PATCH", keyPath(org.id, key.id), { expires_at: null });
    expect(back.body.status).toBe("active");
    expect((await gateVerdict(key)).ok).toBe(true);
  });

  it("pushes name, team, models and limits to the gate and audits before/after", async () => {
    const { org, owner } = await createOrgWithCast();
    const team = await createTeam(org);
    const key = await createKey(org, owner, { name: "old", allowedModels: ["a"] });
    const res = await call(owner, "PATCH", keyPath(org.id, key.id), { name: "new", team_id: team.id, allowed_models: ["gpt-4o", "anthropic/claude-sonnet-4"], rpm: 5, tpm: null });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: "new", team_id: team.id, allowed_models: ["gpt-4o", "anthropic/claude-sonnet-4"], rpm: 5, tpm: null });
    expect(await gateVerdict(key)).toMatchObject({ ok: true, key: { teamId: team.id, allowedModels: ["gpt-4o", "anthropic/claude-sonnet-4"], rpm: 5, tpm: null } });
    const [audit] = await auditRows(org.id, "key.update");
    expect(audit!.before).toMatchObject({ name: "old", team_id: null, allowed_models: ["a"] });
    expect(audit!.after).toMatchObject({ name: "new", team_id: team.id, rpm: 5 });

    const detach = await call(owner, "PATCH", keyPath(org.id, key.id), { team_id: null, allowed_models: null });
    expect(detach.body).toMatchObject({ team_id: null, allowed_models: null });
    expect(await gateVerdict(key)).toMatchObject({ ok: true, key: { teamId: null, allowedModels: null } });
  });

  it("members edit only keys they created; viewers never; nothing changes when refused", async () => {
    const { org, owner, member, viewer } = await createOrgWithCast();
    const own = await createKey(org, member, { name: "mine" });
    const theirs = await createKey(org, owner, { name: "theirs" });
    const before = await snapshotTable("api_keys", org.id);
    const r1 = await call(member, "PATCH", keyPath(org.id, theirs.id), { name: "stolen" });
    expect(r1.status).toBe(403);
    const r2 = await call(viewer, "PATCH", keyPath(org.id, own.id), { name: "x" });
    expect(r2.status).toBe(403);
    expect(await snapshotTable("api_keys", org.id)).toEqual(before);
    const ok = await call(member, "PATCH", keyPath(org.id, own.id), { name: "renamed" });
    expect(ok.status).toBe(200);
    expect(ok.body.name).toBe("renamed");
  });

  it("validates with param, refuses foreign teams with 404 and revoked keys with 409", async () => {
    const { org, owner } = await createOrgWithCast();
    const other = await createOrgWithCast();
    const foreignTeam = await createTeam(other.org);
    const key = await createKey(org, owner);
    const before = await snapshotTable("api_keys", org.id);
    expect((await call(owner, "PATCH", keyPath(org.id, key.id), {})).status).toBe(400);
    expect((await call(owner, "PATCH", keyPath(org.id, key.id), { rpm: "ten" })).body.error.param).toBe("rpm");
    expect((await call(owner, "PATCH", keyPath(org.id, key.id), { expires_at: "soon" })).body.error.param).toBe("expires_at");
    expect((await call(owner, "PATCH", keyPath(org.id, key.id), { allowed_models: [] })).body.error.param).toBe("allowed_models");
    const t = await call(owner, "PATCH", keyPath(org.id, key.id), { team_id: foreignTeam.id });
    expect(t.status).toBe(404);
    expect(t.body.error.param).toBe("team_id");
    expect(await snapshotTable("api_keys", org.id)).toEqual(before);

    await call(owner, "POST", `${keyPath(org.id, key.id)}/revoke`);
    const late = await call(owner, "PATCH", keyPath(org.id, key.id), { name: "zombie" });
    expect(late.status).toBe(409);
    expect(await gateVerdict(key)).toEqual({ ok: false, reason: "revoked" });
  });
});

describe("keys through management tokens", () => {
  it("a key made with a token is attributed to the token's creator; a member token may revoke only that user's keys", async () => {
    const { createManagementToken } = await import("./factories/route-catalog");
    const { org, owner, member } = await createOrgWithCast();
    const tok = await createManagementToken(org, member, "member");
    const made = await call({ token: tok.token }, "POST", `/api/orgs/${org.id}/keys`, { name: "automation" });
    expect(made.status).toBe(201);
    expect(made.body.created_by).toBe(member.id);
    const [audit] = await auditRows(org.id, "key.create");
    expect(audit).toMatchObject({ actor_type: "management_token", actor_id: tok.id });

    const ownersKey = await createKey(org, owner);
    const denied = await call({ token: tok.token }, "POST", `${keyPath(org.id, ownersKey.id)}/revoke`);
    expect(denied.status).toBe(403);
    expect((await gateVerdict(ownersKey)).ok).toBe(true);
    const ok = await call({ token: tok.token }, "POST", `${keyPath(org.id, made.body.id)}/revoke`);
    expect(ok.status).toBe(200);
    expect(await gateVerdict({ id: made.body.id, key: made.body.key, orgId: org.id })).toEqual({ ok: false, reason: "revoked" });
  });
});
