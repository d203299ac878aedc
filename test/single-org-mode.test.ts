/**
 * Single-org mode (ORG_MODE=single): one user, one org, enforced by the database trigger and
 * refused with 409 by every route that would add a second membership. Tests cannot change wrangler
 * vars, so they flip the `system_settings` row the trigger reads; the Worker consults it too.
 */
import { env } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { getDb } from "../src/db/client";
import { insertMembership, isSingleOrgViolation } from "../src/db/orgs";
import { call, createOrg, createOrgWithCast, createUser, snapshotTable } from "./factories";
import { callWithEnv } from "./factories/identity";
import { createInvitation, newInviteeEmail } from "./factories/invitations";
import { roleIn, setDbOrgMode } from "./factories/orgs";

afterEach(async () => {
  await setDbOrgMode("multi");
});

describe("single-org mode", () => {
  it("is enforced by the database: a raw second membership insert fails", async () => {
    const user = await createUser();
    await createOrg(user);
    const other = await createOrg(await createUser());
    await setDbOrgMode("single");
    await expect(
      env.DB.prepare("INSERT INTO memberships (org_id, user_id, role) VALUES (?, ?, 'member')").bind(other.id, user.id).run(),
    ).rejects.toThrow(/single_org_violation/);
    expect(await roleIn(other.id, user.id)).toBeUndefined();
    // Back in multi mode the same insert is fine.
    await setDbOrgMode("multi");
    await env.DB.prepare("INSERT INTO memberships (org_id, user_id, role) VALUES (?, ?, 'member')").bind(other.id, user.id).run();
    expect(await roleIn(other.id, user.id)).toBe("member");
  });

  it("recognises the trigger's failure as it reaches the routes (through Drizzle), so it maps to 409", async () => {
    const user = await createUser();
    await createOrg(user);
    const other = await createOrg(await createUser());
    await setDbOrgMode("single");
    const db = getDb(env.DB);
    const err = await db.batch([insertMembership(db, other.id, user.id, "viewer")]).then(() => undefined, (e: unknown) => e);
    expect(err).toBeDefined();
    expect(isSingleOrgViolation(err)).toBe(true);
    expect(isSingleOrgViolation(new Error("UNIQUE constraint failed: orgs.slug"))).toBe(false);
  });

  it("/api/me tells the dashboard the mode: single from the deployment var or the database row, multi otherwise", async () => {
    const user = await createUser();
    await createOrg(user);
    const multi = await call(user, "GET", "/api/me");
    expect(multi.status).toBe(200);
    expect(multi.body.org_mode).toBe("multi");
    const byVar = await callWithEnv({ ORG_MODE: "single" }, "GET", "/api/me", undefined, { cookie: user.cookie });
    expect(byVar.body.org_mode).toBe("single");
    await setDbOrgMode("single");
    expect((await call(user, "GET", "/api/me")).body.org_mode).toBe("single");
  });

  it("refuses creating a second org with 409", async () => {
    const user = await createUser();
    await createOrg(user);
    const before = await env.DB.prepare("SELECT count(*) AS n FROM orgs WHERE created_by = ?").bind(user.id).first<{ n: number }>();
    await setDbOrgMode("single");
    const res = await call(user, "POST", "/api/orgs", { name: "Second" });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("conflict");
    expect(res.body.error.message).toMatch(/one organization per user/);
    const after = await env.DB.prepare("SELECT count(*) AS n FROM orgs WHERE created_by = ?").bind(user.id).first<{ n: number }>();
    expect(after!.n).toBe(before!.n);
  });

  it("still lets a user without an org create one", async () => {
    const user = await createUser();
    await setDbOrgMode("single");
    expect((await call(user, "POST", "/api/orgs", { name: "First and only" })).status).toBe(201);
  });

  it("refuses inviting someone who already belongs to an org with 409, inviting nothing", async () => {
    const { org, owner } = await createOrgWithCast();
    const elsewhere = (await createOrgWithCast()).member;
    const before = await snapshotTable("invitations", org.id);
    await setDbOrgMode("single");
    const res = await call(owner, "POST", `/api/orgs/${org.id}/invitations`, { email: elsewhere.email, role: "member" });
    expect(res.status).toBe(409);
    expect(res.body.error.message).toMatch(/already belongs to an organization/);
    expect(await snapshotTable("invitations", org.id)).toEqual(before);
    // Someone with no org can still be invited.
    expect((await call(owner, "POST", `/api/orgs/${org.id}/invitations`, { email: newInviteeEmail(), role: "member" })).status).toBe(201);
  });

  it("names the offending row in a bulk invite", async () => {
    const { org, owner } = await createOrgWithCast({ plan: "pro" });
    const elsewhere = (await createOrgWithCast()).viewer;
    await setDbOrgMode("single");
    const res = await call(owner, "POST", `/api/orgs/${org.id}/invitations/bulk`, { csv: `${newInviteeEmail()},member\n${elsewhere.email},viewer` });
    expect(res.status).toBe(400);
    expect(res.body.error.row).toBe(2);
  });

  it("refuses accepting while already in an org with 409 and changes nothing", async () => {
    const { org, owner } = await createOrgWithCast();
    const user = (await createOrgWithCast()).member;
    const inv = await createInvitation(org, owner, { email: user.email });
    const before = await snapshotTable("memberships", org.id);
    const invitations = await snapshotTable("invitations", org.id);
    await setDbOrgMode("single");
    const res = await call(user, "POST", `/api/invitations/${inv.token}/accept`);
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("conflict");
    expect(await snapshotTable("memberships", org.id)).toEqual(before);
    expect(await snapshotTable("invitations", org.id)).toEqual(invitations);
  });

  it("lets exactly one of two simultaneous accepts into different orgs win; the loser gets 409 (trigger or check)", async () => {
    const a = await createOrgWithCast();
    const b = await createOrgWithCast();
    const user = await createUser();
    const invA = await createInvitation(a.org, a.owner, { email: user.email });
    const invB = await createInvitation(b.org, b.owner, { email: user.email });
    await setDbOrgMode("single");
    const results = await Promise.all([
      call(user, "POST", `/api/invitations/${invA.token}/accept`),
      call(user, "POST", `/api/invitations/${invB.token}/accept`),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
    const count = await env.DB.prepare("SELECT count(*) AS n FROM memberships WHERE user_id = ?").bind(user.id).first<{ n: number }>();
    expect(count!.n).toBe(1);
  });

  it("lets a user who left their org accept an invitation elsewhere", async () => {
    const { org, owner } = await createOrgWithCast();
    const other = await createOrgWithCast();
    const inv = await createInvitation(org, owner, { email: other.member.email });
    await setDbOrgMode("single");
    expect((await call(other.member, "POST", `/api/invitations/${inv.token}/accept`)).status).toBe(409);
    expect((await call(other.member, "POST", `/api/orgs/${other.org.id}/leave`)).status).toBe(200);
    expect((await call(other.member, "POST", `/api/invitations/${inv.token}/accept`)).status).toBe(200);
    expect(await roleIn(org.id, other.member.id)).toBe("member");
  });
});
