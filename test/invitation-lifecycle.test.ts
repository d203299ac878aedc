import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../src/lib/crypto";
import { call, createMember, createOrg, createOrgWithCast, createUser, snapshotTable } from "./factories";
import { createInvitation, lastMailedInviteToken, mailedInviteTokens, newInviteeEmail } from "./factories/invitations";
import { auditRows } from "./factories/orgs";

describe("inviting by email", () => {
  it("stores only the token's hash, mails the link, lists it as pending and audits once", async () => {
    const { org, admin } = await createOrgWithCast();
    const email = newInviteeEmail();
    const res = await call(admin, "POST", `/api/orgs/${org.id}/invitations`, { email: email.toUpperCase(), role: "member" });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ email, role: "member", status: "pending", invited_by: admin.id, send_count: 1, team_ids: [] });
    expect(res.body.delivery).toEqual({ ok: true, transport: "outbox", error: null });
    expect(JSON.stringify(res.body)).not.toMatch(/[0-9A-Za-z]{32}/);

    const token = await lastMailedInviteToken(email);
    expect(token).toHaveLength(32);
    const row = await env.DB.prepare("SELECT * FROM invitations WHERE id = ?").bind(res.body.id).first<Record<string, unknown>>();
    expect(row!.token_hash).toBe(await sha256Hex(token));
    expect(JSON.stringify(row)).not.toContain(token);
    const mail = await env.DB.prepare("SELECT text FROM email_outbox WHERE to_address = ?").bind(email).first<{ text: string }>();
    expect(mail!.text).toContain(`http://localhost:8787/invite/${token}`);
    expect(mail!.text).toContain(org.name);

    const list = await call(admin, "GET", `/api/orgs/${org.id}/invitations`);
    expect(list.body.data.map((i: { id: string }) => i.id)).toEqual([res.body.id]);
    const audit = await auditRows(org.id, "invitation.create");
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actor_id: admin.id, actor_ip: "203.0.113.7", target_id: res.body.id });
    expect(audit[0]!.after).not.toContain(token);
  });

  it("lists only pending invitations, paginated", async () => {
    const { org, owner } = await createOrgWithCast();
    const pending = [await createInvitation(org, owner), await createInvitation(org, owner), await createInvitation(org, owner)];
    await createInvitation(org, owner, { expiresAt: Date.now() - 1 });
    await createInvitation(org, owner, { revokedAt: Date.now() });
    await createInvitation(org, owner, { acceptedAt: Date.now() });
    const p1 = await call(owner, "GET", `/api/orgs/${org.id}/invitations?limit=2`);
    const p2 = await call(owner, "GET", `/api/orgs/${org.id}/invitations?limit=2&cursor=${p1.body.next_cursor}`);
    expect(p2.body.next_cursor).toBeNull();
    expect([...p1.body.data, ...p2.body.data].map((i: { id: string }) => i.id).sort()).toEqual(pending.map((p) => p.id).sort());
  });

  it("refuses members, duplicates of pending invitations, unknown teams, and personal orgs", async () => {
    const { org, owner, member } = await createOrgWithCast();
    const invited = await createInvitation(org, owner);
    const before = await snapshotTable("invitations", org.id);
    expect((await call(member, "POST", `/api/orgs/${org.id}/invitations`, { email: newInviteeEmail(), role: "viewer" })).status).toBe(403);
    const already = await call(owner, "POST", `/api/orgs/${org.id}/invitations`, { email: member.email, role: "viewer" });
    expect(already.status).toBe(409);
    expect(already.body.error.message).toMatch(/already a member/);
    const dup = await call(owner, "POST", `/api/orgs/${org.id}/invitations`, { email: invited.email, role: "viewer" });
    expect(dup.status).toBe(409);
    expect(dup.body.error.message).toMatch(/pending invitation/);
    const badTeam = await call(owner, "POST", `/api/orgs/${org.id}/invitations`, { email: newInviteeEmail(), role: "viewer", team_ids: ["team_nope"] });
    expect(badTeam.status).toBe(400);
    expect(badTeam.body.error.param).toBe("team_ids");
    const badEmail = await call(owner, "POST", `/api/orgs/${org.id}/invitations`, { email: "nope", role: "viewer" });
    expect(badEmail.status).toBe(400);
    expect(badEmail.body.error.param).toBe("email");
    const ownerRole = await call(owner, "POST", `/api/orgs/${org.id}/invitations`, { email: newInviteeEmail(), role: "owner" });
    expect(ownerRole.status).toBe(400);
    expect(await snapshotTable("invitations", org.id)).toEqual(before);
    const personalOwner = await createUser();
    const personal = await createOrg(personalOwner, { kind: "personal" });
    expect((await call(personalOwner, "POST", `/api/orgs/${personal.id}/invitations`, { email: newInviteeEmail(), role: "member" })).status).toBe(403);
  });
});

describe("seats", () => {
  it("counts pending non-viewer invitations toward the seat limit while viewer invitations stay free", async () => {
    const owner = await createUser();
    const org = await createOrg(owner, { plan: "free" });
    await createMember(org, "member");
    await createMember(org, "viewer");
    // 2 seats used (owner + member). One pending member invitation takes the third.
    expect((await call(owner, "POST", `/api/orgs/${org.id}/invitations`, { email: newInviteeEmail(), role: "member" })).status).toBe(201);
    const before = await snapshotTable("invitations", org.id);
    const refused = await call(owner, "POST", `/api/orgs/${org.id}/invitations`, { email: newInviteeEmail(), role: "admin" });
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe("plan_limit");
    expect(refused.body.error.message).toMatch(/^Seat limit of 3 reached on the Free plan/);
    expect(refused.body.error.message).toMatch(/viewer/);
    expect(await snapshotTable("invitations", org.id)).toEqual(before);
    // Viewers are always free, invitations included.
    for (let i = 0; i < 3; i++) expect((await call(owner, "POST", `/api/orgs/${org.id}/invitations`, { email: newInviteeEmail(), role: "viewer" })).status).toBe(201);
  });

  it("frees the seat of a revoked or expired invitation", async () => {
    const owner = await createUser();
    const org = await createOrg(owner, { plan: "free" });
    await createInvitation(org, owner, { role: "member" });
    const held = await createInvitation(org, owner, { role: "admin" });
    await createInvitation(org, owner, { role: "member", expiresAt: Date.now() - 1000 });
    expect((await call(owner, "POST", `/api/orgs/${org.id}/invitations`, { email: newInviteeEmail(), role: "member" })).status).toBe(403);
    expect((await call(owner, "DELETE", `/api/orgs/${org.id}/invitations/${held.id}`)).status).toBe(200);
    expect((await call(owner, "POST", `/api/orgs/${org.id}/invitations`, { email: newInviteeEmail(), role: "member" })).status).toBe(201);
  });
});

describe("resend and revoke", () => {
  it("resend issues a new link with a fresh expiry; the old link stops working", async () => {
    const { org, admin } = await createOrgWithCast();
    const email = newInviteeEmail();
    const created = await call(admin, "POST", `/api/orgs/${org.id}/invitations`, { email, role: "viewer" });
    const oldToken = await lastMailedInviteToken(email);
    const res = await call(admin, "POST", `/api/orgs/${org.id}/invitations/${created.body.id}/resend`);
    expect(res.status).toBe(200);
    expect(res.body.send_count).toBe(2);
    const tokens = await mailedInviteTokens(email);
    expect(tokens).toHaveLength(2);
    const newToken = tokens[1]!;
    expect(newToken).not.toBe(oldToken);
    expect((await call(null, "GET", `/api/invitations/${oldToken}`)).status).toBe(404);
    expect((await call(null, "GET", `/api/invitations/${newToken}`)).status).toBe(200);
    expect(await auditRows(org.id, "invitation.resend")).toHaveLength(1);
  });

  it("resend revives an expired invitation", async () => {
    const { org, owner } = await createOrgWithCast();
    const inv = await createInvitation(org, owner, { expiresAt: Date.now() - 1000 });
    const res = await call(owner, "POST", `/api/orgs/${org.id}/invitations/${inv.id}/resend`);
    expect(res.status).toBe(200);
    expect(res.body.status).toBe("pending");
    expect(Date.parse(res.body.expires_at)).toBeGreaterThan(Date.now() + 6 * 86_400_000);
  });

  it("resend of an expired seat-counted invitation needs a free seat again", async () => {
    const owner = await createUser();
    const org = await createOrg(owner, { plan: "free" });
    const expired = await createInvitation(org, owner, { role: "member", expiresAt: Date.now() - 1000 });
    const viewerInv = await createInvitation(org, owner, { role: "viewer", expiresAt: Date.now() - 1000 });
    await createMember(org, "member");
    await createMember(org, "admin");
    const before = await snapshotTable("invitations", org.id);
    const res = await call(owner, "POST", `/api/orgs/${org.id}/invitations/${expired.id}/resend`);
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe("plan_limit");
    expect(await snapshotTable("invitations", org.id)).toEqual(before);
    expect((await call(owner, "POST", `/api/orgs/${org.id}/invitations/${viewerInv.id}/resend`)).status).toBe(200);
  });

  it("resend of a pending invitation at the seat limit is fine (it already holds its seat)", async () => {
    const owner = await createUser();
    const org = await createOrg(owner, { plan: "free" });
    await createMember(org, "member");
    const inv = await createInvitation(org, owner, { role: "member" });
    expect((await call(owner, "POST", `/api/orgs/${org.id}/invitations/${inv.id}/resend`)).status).toBe(200);
  });

  it("revoke makes the link answer 410 and is audited; accepted/revoked ones conflict; others' ids are 404", async () => {
    const { org, owner, admin } = await createOrgWithCast();
    const inv = await createInvitation(org, owner);
    const res = await call(admin, "DELETE", `/api/orgs/${org.id}/invitations/${inv.id}`);
    expect(res.status).toBe(200);
    expect(res.body.status).toBe("revoked");
    expect((await call(null, "GET", `/api/invitations/${inv.token}`)).status).toBe(410);
    expect((await call(admin, "DELETE", `/api/orgs/${org.id}/invitations/${inv.id}`)).status).toBe(409);
    expect((await call(admin, "POST", `/api/orgs/${org.id}/invitations/${inv.id}/resend`)).status).toBe(409);
    expect(await auditRows(org.id, "invitation.revoke")).toHaveLength(1);

    const other = await createOrgWithCast();
    const foreign = await createInvitation(other.org, other.owner);
    const before = await snapshotTable("invitations", other.org.id);
    expect((await call(admin, "DELETE", `/api/orgs/${org.id}/invitations/${foreign.id}`)).status).toBe(404);
    expect((await call(admin, "DELETE", `/api/orgs/${other.org.id}/invitations/${foreign.id}`)).status).toBe(404);
    expect((await call(admin, "POST", `/api/orgs/${org.id}/invitations/${foreign.id}/resend`)).status).toBe(404);
    expect(await snapshotTable("invitations", other.org.id)).toEqual(before);
  });
});
