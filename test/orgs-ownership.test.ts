import { describe, expect, it } from "vitest";
import { call, createOrg, createOrgWithCast, createUser, snapshotTable } from "./factories";
import { createKey, gateVerdict } from "./factories/keys";
import { auditRows, roleIn } from "./factories/orgs";

describe("transfer of ownership", () => {
  it("moves the owner role to a member and makes the old owner an admin, in one audited change", async () => {
    const { org, owner, member } = await createOrgWithCast();
    const res = await call(owner, "POST", `/api/orgs/${org.id}/transfer-ownership`, { user_id: member.id });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ owner_id: member.id, previous_owner_id: owner.id, previous_owner_role: "admin" });
    expect(await roleIn(org.id, member.id)).toBe("owner");
    expect(await roleIn(org.id, owner.id)).toBe("admin");
    const owners = (await snapshotTable("memberships", org.id)).filter((m) => (m as { role: string }).role === "owner");
    expect(owners).toHaveLength(1);
    const audit = await auditRows(org.id, "org.transfer_ownership");
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actor_id: owner.id, actor_ip: "203.0.113.7", target_id: member.id });
    // The new owner can now do owner things; the old one cannot.
    expect((await call(owner, "POST", `/api/orgs/${org.id}/transfer-ownership`, { user_id: owner.id })).status).toBe(403);
  });

  it("can go to an admin", async () => {
    const { org, owner, admin } = await createOrgWithCast();
    expect((await call(owner, "POST", `/api/orgs/${org.id}/transfer-ownership`, { user_id: admin.id })).status).toBe(200);
    expect(await roleIn(org.id, admin.id)).toBe("owner");
  });

  it("never goes to a viewer, a non-member or by anyone but the owner; refusals change nothing", async () => {
    const { org, owner, admin, viewer } = await createOrgWithCast();
    const stranger = await createUser();
    const before = await snapshotTable("memberships", org.id);
    const toViewer = await call(owner, "POST", `/api/orgs/${org.id}/transfer-ownership`, { user_id: viewer.id });
    expect(toViewer.status).toBe(403);
    expect(toViewer.body.error.message).toMatch(/viewer/);
    expect((await call(owner, "POST", `/api/orgs/${org.id}/transfer-ownership`, { user_id: stranger.id })).status).toBe(404);
    expect((await call(admin, "POST", `/api/orgs/${org.id}/transfer-ownership`, { user_id: admin.id })).status).toBe(403);
    expect((await call(stranger, "POST", `/api/orgs/${org.id}/transfer-ownership`, { user_id: stranger.id })).status).toBe(404);
    expect(await snapshotTable("memberships", org.id)).toEqual(before);
    expect(await auditRows(org.id, "org.transfer_ownership")).toEqual([]);
  });
});

describe("transfer of ownership racing the target's removal", () => {
  it("always leaves the org with exactly one owner, and each side's answer matches what happened", async () => {
    const outcomes = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const { org, owner, member } = await createOrgWithCast();
      const [transfer, removal] = await Promise.all([
        call(owner, "POST", `/api/orgs/${org.id}/transfer-ownership`, { user_id: member.id }),
        call(owner, "DELETE", `/api/orgs/${org.id}/members/${member.id}`),
      ]);
      const owners = (await snapshotTable("memberships", org.id)).filter((m) => (m as { role: string }).role === "owner") as Array<{ user_id: string }>;
      expect(owners).toHaveLength(1);
      expect([transfer.status, removal.status].filter((s) => s === 200)).toHaveLength(1);
      if (transfer.status === 200) {
        expect(owners[0]!.user_id).toBe(member.id);
        expect(removal.status).toBeGreaterThanOrEqual(400);
        expect(removal.status).toBeLessThan(500);
      } else {
        expect([404, 409]).toContain(transfer.status);
        expect(owners[0]!.user_id).toBe(owner.id);
        expect(await roleIn(org.id, member.id)).toBeUndefined();
        expect(await auditRows(org.id, "org.transfer_ownership")).toEqual([]);
      }
      outcomes.add(`${transfer.status}/${removal.status}`);
    }
    expect(outcomes.size).toBeGreaterThan(0);
  });
});

describe("transfer of ownership racing a role change of the target", () => {
  it("never demotes the new owner: the org always keeps exactly one owner", async () => {
    for (let i = 0; i < 12; i++) {
      const { org, owner, admin } = await createOrgWithCast();
      const [transfer, change] = await Promise.all([
        call(owner, "POST", `/api/orgs/${org.id}/transfer-ownership`, { user_id: admin.id }),
        call(owner, "PATCH", `/api/orgs/${org.id}/members/${admin.id}`, { role: "member" }),
      ]);
      const owners = (await snapshotTable("memberships", org.id)).filter((m) => (m as { role: string }).role === "owner") as Array<{ user_id: string }>;
      expect(owners).toHaveLength(1);
      expect(owners[0]!.user_id).toBe(transfer.status === 200 ? admin.id : owner.id);
      if (transfer.status === 200 && change.status === 200) expect(await roleIn(org.id, admin.id)).toBe("owner");
    }
  });
});

describe("leaving an org", () => {
  it("is refused for the owner (last-owner guard) with a hint to transfer first", async () => {
    const { org, owner } = await createOrgWithCast();
    const before = await snapshotTable("memberships", org.id);
    const res = await call(owner, "POST", `/api/orgs/${org.id}/leave`);
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("conflict");
    expect(res.body.error.message).toMatch(/transfer ownership/i);
    expect(await snapshotTable("memberships", org.id)).toEqual(before);
  });

  it("removes the member, revokes the keys they created (gate included) and leaves others' keys working", async () => {
    const { org, owner, member } = await createOrgWithCast();
    const mine = await createKey(org, member);
    const theirs = await createKey(org, owner);
    const res = await call(member, "POST", `/api/orgs/${org.id}/leave`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ left: true, revoked_key_ids: [mine.id] });
    expect(await roleIn(org.id, member.id)).toBeUndefined();
    expect(await gateVerdict(mine)).toMatchObject({ ok: false });
    expect((await gateVerdict(theirs)).ok).toBe(true);
    expect((await call(member, "GET", `/api/orgs/${org.id}`)).status).toBe(404);
    const audit = await auditRows(org.id, "member.leave");
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actor_id: member.id, actor_ip: "203.0.113.7", target_id: member.id });
  });

  it("is refused for the owner of a personal org", async () => {
    const user = await createUser();
    const personal = await createOrg(user, { kind: "personal" });
    const res = await call(user, "POST", `/api/orgs/${personal.id}/leave`);
    expect(res.status).toBe(409);
    expect(res.body.error.message).toMatch(/personal organization/);
    expect(await roleIn(personal.id, user.id)).toBe("owner");
  });

  it("works for viewers too", async () => {
    const { org, viewer } = await createOrgWithCast();
    expect((await call(viewer, "POST", `/api/orgs/${org.id}/leave`)).status).toBe(200);
    expect(await roleIn(org.id, viewer.id)).toBeUndefined();
  });
});
