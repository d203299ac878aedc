import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../src/lib/crypto";
import { randomBase62 } from "../src/lib/encoding";
import { newId } from "../src/lib/ids";
import { call, createOrgWithCast, snapshotTable, type TestOrg, type TestUser } from "./factories";
import { newInviteeEmail } from "./factories/invitations";
import { auditRows, roleIn } from "./factories/orgs";

/** A management token (`tgm_…`) written straight to D1; the identity area owns the route that mints them. */
async function createManagementToken(org: TestOrg, creator: TestUser, role: "admin" | "member" | "viewer") {
  const token = `tgm_${randomBase62(32)}`;
  const id = newId("tgm");
  await env.DB.prepare("INSERT INTO management_tokens (id, org_id, created_by, root_user_id, name, role, token_hash, hint) VALUES (?, ?, ?, ?, 'ci', ?, ?, ?)")
    .bind(id, org.id, creator.id, creator.id, role, await sha256Hex(token), token.slice(-4))
    .run();
  return { id, token };
}

describe("automation with management tokens", () => {
  it("an admin token manages members and invitations, audited as the token, within the same boundaries", async () => {
    const { org, owner, admin, member } = await createOrgWithCast();
    const t = await createManagementToken(org, owner, "admin");
    expect((await call({ token: t.token }, "GET", `/api/orgs/${org.id}/members`)).status).toBe(200);
    const inv = await call({ token: t.token }, "POST", `/api/orgs/${org.id}/invitations`, { email: newInviteeEmail(), role: "viewer" });
    expect(inv.status).toBe(201);
    expect(inv.body.invited_by).toBe(t.id);
    expect((await call({ token: t.token }, "PATCH", `/api/orgs/${org.id}/members/${member.id}`, { role: "viewer" })).status).toBe(200);
    expect((await call({ token: t.token }, "PATCH", `/api/orgs/${org.id}/members/${admin.id}`, { role: "viewer" })).status).toBe(403);
    expect(await roleIn(org.id, admin.id)).toBe("admin");
    const audit = await auditRows(org.id, "member.role_change");
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actor_type: "management_token", actor_id: t.id, actor_ip: "203.0.113.7" });
  });

  it("cannot delete, transfer or leave the org, nor act on another org", async () => {
    const { org, owner } = await createOrgWithCast();
    const other = await createOrgWithCast();
    const t = await createManagementToken(org, owner, "admin");
    const before = await snapshotTable("memberships", org.id);
    expect((await call({ token: t.token }, "DELETE", `/api/orgs/${org.id}`, { confirm: org.slug })).status).toBe(403);
    expect((await call({ token: t.token }, "POST", `/api/orgs/${org.id}/transfer-ownership`, { user_id: owner.id })).status).toBe(403);
    expect((await call({ token: t.token }, "POST", `/api/orgs/${org.id}/leave`)).status).toBe(403);
    expect((await call({ token: t.token }, "GET", `/api/orgs/${other.org.id}/members`)).status).toBe(404);
    expect((await call({ token: t.token }, "GET", "/api/orgs")).status).toBe(403);
    expect(await snapshotTable("memberships", org.id)).toEqual(before);
  });

  it("a viewer token reads but cannot invite", async () => {
    const { org, owner } = await createOrgWithCast();
    const t = await createManagementToken(org, owner, "viewer");
    expect((await call({ token: t.token }, "GET", `/api/orgs/${org.id}/settings`)).status).toBe(200);
    const before = await snapshotTable("invitations", org.id);
    expect((await call({ token: t.token }, "POST", `/api/orgs/${org.id}/invitations`, { email: newInviteeEmail(), role: "viewer" })).status).toBe(403);
    expect(await snapshotTable("invitations", org.id)).toEqual(before);
  });
});
