import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { newId } from "../src/lib/ids";
import { ACCEPT_LIMITS } from "../src/routes/invitation-accept";
import { call, createMember, createOrg, createOrgWithCast, createUser, snapshotTable } from "./factories";
import { createInvitation, lastMailedInviteToken, newInviteeEmail } from "./factories/invitations";
import { auditRows, roleIn } from "./factories/orgs";

/** Fixed windows: start a burst early in a window so it cannot straddle two of them. */
async function startOfFreshWindow(needMs: number): Promise<void> {
  const left = ACCEPT_LIMITS.windowMs - (Date.now() % ACCEPT_LIMITS.windowMs);
  if (left < needMs) await new Promise((r) => setTimeout(r, left + 50));
}

describe("accepting an invitation", () => {
  it("lets an existing user join with the invited role and teams, in one audited change", async () => {
    const { org, admin } = await createOrgWithCast();
    const invitee = await createUser();
    const teamId = newId("team");
    await env.DB.prepare("INSERT INTO teams (id, org_id, name) VALUES (?, ?, 'search')").bind(teamId, org.id).run();
    const created = await call(admin, "POST", `/api/orgs/${org.id}/invitations`, { email: invitee.email, role: "member", team_ids: [teamId] });
    expect(created.status).toBe(201);
    const token = await lastMailedInviteToken(invitee.email);

    const preview = await call(null, "GET", `/api/invitations/${token}`);
    expect(preview.status).toBe(200);
    expect(preview.body).toMatchObject({ org: { id: org.id, name: org.name }, role: "member", status: "pending", invited_by: admin.name });
    expect(preview.body.email).not.toBe(invitee.email);
    expect(preview.body.email).toMatch(/^u\*+@example\.com$/);

    const res = await call(invitee, "POST", `/api/invitations/${token}/accept`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ org: { id: org.id, role: "member" }, team_ids: [teamId] });
    expect(await roleIn(org.id, invitee.id)).toBe("member");
    const teamRow = await env.DB.prepare("SELECT * FROM team_members WHERE team_id = ? AND user_id = ?").bind(teamId, invitee.id).first();
    expect(teamRow).not.toBeNull();
    const inv = await env.DB.prepare("SELECT accepted_at, accepted_by FROM invitations WHERE id = ?").bind(created.body.id).first<{ accepted_at: number; accepted_by: string }>();
    expect(inv!.accepted_by).toBe(invitee.id);
    const audit = await auditRows(org.id, "invitation.accept");
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actor_id: invitee.id, actor_ip: "203.0.113.7", target_id: created.body.id });
    const members = await call(invitee, "GET", `/api/orgs/${org.id}/members`);
    expect(members.status).toBe(200);
  });

  it("lets a new user who signs up after the invitation accept it (email matched case-insensitively)", async () => {
    const { org, owner } = await createOrgWithCast();
    const email = newInviteeEmail();
    expect((await call(owner, "POST", `/api/orgs/${org.id}/invitations`, { email, role: "viewer" })).status).toBe(201);
    const token = await lastMailedInviteToken(email);
    const newcomer = await createUser({ email: email.toUpperCase() });
    const res = await call(newcomer, "POST", `/api/invitations/${token}/accept`);
    expect(res.status).toBe(200);
    expect(await roleIn(org.id, newcomer.id)).toBe("viewer");
  });

  it("answers 410 when the token is reused, and changes nothing", async () => {
    const { org, owner } = await createOrgWithCast();
    const invitee = await createUser();
    const inv = await createInvitation(org, owner, { email: invitee.email });
    expect((await call(invitee, "POST", `/api/invitations/${inv.token}/accept`)).status).toBe(200);
    const memberships = await snapshotTable("memberships", org.id);
    const invitations = await snapshotTable("invitations", org.id);
    const again = await call(invitee, "POST", `/api/invitations/${inv.token}/accept`);
    expect(again.status).toBe(410);
    expect(again.body.error).toMatchObject({ code: "invitation_expired", status: "accepted" });
    expect((await call(null, "GET", `/api/invitations/${inv.token}`)).status).toBe(410);
    expect(await snapshotTable("memberships", org.id)).toEqual(memberships);
    expect(await snapshotTable("invitations", org.id)).toEqual(invitations);
  });

  it("answers 410 for expired and revoked invitations, and changes nothing", async () => {
    const { org, owner } = await createOrgWithCast();
    const invitee = await createUser();
    const expired = await createInvitation(org, owner, { email: invitee.email, expiresAt: Date.now() - 1 });
    const other = await createOrgWithCast();
    const revoked = await createInvitation(other.org, other.owner, { email: invitee.email, revokedAt: Date.now() });
    const before = [await snapshotTable("memberships", org.id), await snapshotTable("memberships", other.org.id)];
    const r1 = await call(invitee, "POST", `/api/invitations/${expired.token}/accept`);
    expect(r1.status).toBe(410);
    expect(r1.body.error).toMatchObject({ code: "invitation_expired", status: "expired" });
    const r2 = await call(invitee, "POST", `/api/invitations/${revoked.token}/accept`);
    expect(r2.status).toBe(410);
    expect(r2.body.error.status).toBe("revoked");
    expect([await snapshotTable("memberships", org.id), await snapshotTable("memberships", other.org.id)]).toEqual(before);
  });

  it("refuses a signed-in user whose email is not the invited one", async () => {
    const { org, owner } = await createOrgWithCast();
    const inv = await createInvitation(org, owner);
    const intruder = await createUser();
    const before = await snapshotTable("memberships", org.id);
    const res = await call(intruder, "POST", `/api/invitations/${inv.token}/accept`);
    expect(res.status).toBe(403);
    expect(res.body.error.message).toMatch(/sent to/);
    expect(res.body.error.message).not.toContain(inv.email);
    expect(await snapshotTable("memberships", org.id)).toEqual(before);
    // The invitation is still usable by its owner.
    expect((await call(null, "GET", `/api/invitations/${inv.token}`)).status).toBe(200);
  });

  it("needs a session, answers 404 for unknown tokens and 409 for existing members", async () => {
    const { org, owner, member } = await createOrgWithCast();
    const inv = await createInvitation(org, owner, { email: member.email });
    expect((await call(null, "POST", `/api/invitations/${inv.token}/accept`)).status).toBe(401);
    expect((await call(member, "POST", `/api/invitations/${"x".repeat(32)}/accept`)).status).toBe(404);
    expect((await call(member, "POST", `/api/invitations/short/accept`)).status).toBe(404);
    const res = await call(member, "POST", `/api/invitations/${inv.token}/accept`);
    expect(res.status).toBe(409);
    expect(await roleIn(org.id, member.id)).toBe("member");
  });

  it("refuses acceptance when the plan's seats are full", async () => {
    const owner = await createUser();
    const org = await createOrg(owner, { plan: "free" });
    const invitee = await createUser();
    const inv = await createInvitation(org, owner, { email: invitee.email, role: "member" });
    // Seats filled behind the invitation's back (e.g. a downgrade or direct adds).
    await createMember(org, "member");
    await createMember(org, "admin");
    const res = await call(invitee, "POST", `/api/invitations/${inv.token}/accept`);
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe("plan_limit");
    expect(res.body.error.message).toMatch(/^Seat limit of 3 reached on the Free plan/);
    expect(await roleIn(org.id, invitee.id)).toBeUndefined();
  });

  it("accepts the last free seat held by the invitation itself", async () => {
    const owner = await createUser();
    const org = await createOrg(owner, { plan: "free" });
    await createMember(org, "member");
    const invitee = await createUser();
    const inv = await createInvitation(org, owner, { email: invitee.email, role: "admin" });
    expect((await call(invitee, "POST", `/api/invitations/${inv.token}/accept`)).status).toBe(200);
  });

  it("is rate limited per user with 429 and Retry-After", async () => {
    const invitee = await createUser();
    const statuses: number[] = [];
    await startOfFreshWindow(8_000);
    let last: { status: number; body: any; headers: Headers } | undefined;
    for (let i = 0; i <= ACCEPT_LIMITS.perUser; i++) {
      last = await call(invitee, "POST", `/api/invitations/${"A".repeat(32)}/accept`, undefined, { headers: { "cf-connecting-ip": `198.51.100.${i + 1}` } });
      statuses.push(last.status);
    }
    expect(statuses.slice(0, ACCEPT_LIMITS.perUser).every((s) => s === 404)).toBe(true);
    expect(statuses[ACCEPT_LIMITS.perUser]).toBe(429);
    expect(last!.body.error).toMatchObject({ code: "rate_limit_exceeded", scope: "user" });
    expect(Number(last!.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  it("is rate limited per IP", async () => {
    const ip = `192.0.2.${Math.floor(Math.random() * 250) + 1}`;
    let last: { status: number; body: any; headers: Headers } | undefined;
    const users = await Promise.all(Array.from({ length: ACCEPT_LIMITS.perIp + 1 }, () => createUser()));
    await startOfFreshWindow(15_000);
    for (const user of users) {
      last = await call(user, "POST", `/api/invitations/${"B".repeat(32)}/accept`, undefined, { headers: { "cf-connecting-ip": ip } });
    }
    expect(last!.status).toBe(429);
    expect(last!.body.error.scope).toBe("ip");
  });
});

describe("the /invite/:token link", () => {
  it("serves an HTML accept page that never leaks the token through Referer", async () => {
    const { org, owner } = await createOrgWithCast();
    const inv = await createInvitation(org, owner, { role: "admin" });
    const res = await call(null, "GET", `/invite/${inv.token}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/text\/html/);
    expect(res.headers.get("referrer-policy")).toBe("no-referrer");
    expect(res.headers.get("content-security-policy")).toMatch(/script-src 'nonce-/);
    const html = res.body as string;
    expect(html).toContain(org.name);
    expect(html).toContain(owner.name);
    expect(html).toContain("admin");
    expect(html).toContain(`/api/invitations/${inv.token}/accept`);
    expect(html).toMatch(/\/login\?next=/);
    expect(html).toMatch(/\/signup\?next=/);
  });

  it("answers 410 for a used link and 404 for an unknown one", async () => {
    const { org, owner } = await createOrgWithCast();
    const used = await createInvitation(org, owner, { acceptedAt: Date.now() });
    expect((await call(null, "GET", `/invite/${used.token}`)).status).toBe(410);
    expect((await call(null, "GET", `/invite/${"Z".repeat(32)}`)).status).toBe(404);
  });

  it("escapes org names in the page", async () => {
    const owner = await createUser();
    const org = await createOrg(owner, { name: `<script>alert(1)</script>` });
    const inv = await createInvitation(org, owner);
    const html = (await call(null, "GET", `/invite/${inv.token}`)).body as string;
    expect(html).not.toContain("<script>alert(1)</script>");
    expect(html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
  });
});

describe("accepting an invitation and email verification", () => {
  const verifiedAt = (userId: string) => env.DB.prepare("SELECT email_verified_at AS at FROM users WHERE id = ?").bind(userId).first<{ at: number | null }>().then((r) => r!.at);

  it("an unverified user accepting the emailed token for their own address joins, and the address becomes verified (audited)", async () => {
    const { org, owner } = await createOrgWithCast();
    const email = newInviteeEmail();
    expect((await call(owner, "POST", `/api/orgs/${org.id}/invitations`, { email, role: "member" })).status).toBe(201);
    const invitee = await createUser({ email, verified: false });
    expect((await call(invitee, "GET", "/api/me")).body.user.email_verified).toBe(false);
    const res = await call(invitee, "POST", `/api/invitations/${await lastMailedInviteToken(email)}/accept`);
    expect(res.status).toBe(200);
    expect(await roleIn(org.id, invitee.id)).toBe("member");
    expect((await call(invitee, "GET", "/api/me")).body.user.email_verified).toBe(true);
    const [audit] = await auditRows(org.id, "invitation.accept");
    expect(JSON.parse(audit!.after as string)).toMatchObject({ user_id: invitee.id, email_verified_by_invitation: true });
  });

  it("a verified user accepting keeps their verification time and the audit says nothing was verified", async () => {
    const { org, owner } = await createOrgWithCast();
    const invitee = await createUser();
    const before = await verifiedAt(invitee.id);
    expect((await call(owner, "POST", `/api/orgs/${org.id}/invitations`, { email: invitee.email, role: "viewer" })).status).toBe(201);
    expect((await call(invitee, "POST", `/api/invitations/${await lastMailedInviteToken(invitee.email)}/accept`)).status).toBe(200);
    expect(await verifiedAt(invitee.id)).toBe(before);
    const [audit] = await auditRows(org.id, "invitation.accept");
    expect(JSON.parse(audit!.after as string)).toMatchObject({ email_verified_by_invitation: false });
  });

  it("an unverified user holding a token sent to another address is refused (403), stays unverified and joins nothing", async () => {
    const { org, owner } = await createOrgWithCast();
    const email = newInviteeEmail();
    expect((await call(owner, "POST", `/api/orgs/${org.id}/invitations`, { email, role: "member" })).status).toBe(201);
    const other = await createUser({ verified: false });
    const res = await call(other, "POST", `/api/invitations/${await lastMailedInviteToken(email)}/accept`);
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe("permission_denied");
    expect(await verifiedAt(other.id)).toBeNull();
    expect(await roleIn(org.id, other.id)).toBeUndefined();
  });
});
