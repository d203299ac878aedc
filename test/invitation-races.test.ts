/**
 * The seat and invitation guards inside the writes themselves: what the routes pre-check for a friendly
 * message is enforced again by the statement, so concurrent requests cannot overshoot seats or accept
 * a revoked invitation.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { auditInsert } from "../src/db/audit";
import { getDb } from "../src/db/client";
import { insertInvitation } from "../src/db/invitations";
import { insertMembershipFromInvitation, seatGuardedRole, updateMemberRole } from "../src/db/members";
import { isNotNullViolation, runBatch } from "../src/db/orgs";
import { newId } from "../src/lib/ids";
import { call, createMember, createOrg, createOrgWithCast, createUser, snapshotTable } from "./factories";
import { createInvitation, newInviteeEmail } from "./factories/invitations";
import { auditRows, roleIn } from "./factories/orgs";

const actor = { actorType: "system" as const, actorId: "test", actorIp: null, userAgent: null };
const failure = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e);

describe("guards inside the writes", () => {
  it("refuses a membership from a revoked, accepted or expired invitation, rolling back the whole batch", async () => {
    const { org, owner } = await createOrgWithCast();
    const db = getDb(env.DB);
    for (const state of [{ revokedAt: Date.now() }, { acceptedAt: Date.now() }, { expiresAt: Date.now() - 1 }]) {
      const user = await createUser();
      const inv = await createInvitation(org, owner, { email: user.email, ...state });
      const err = await failure(
        runBatch(db, [
          insertMembershipFromInvitation(db, org.id, user.id, inv.id, null),
          auditInsert(db, org.id, actor, { action: "test.guard", targetType: "invitation", targetId: inv.id }),
        ]),
      );
      expect(isNotNullViolation(err, "memberships.role"), JSON.stringify(state)).toBe(true);
      expect(await roleIn(org.id, user.id)).toBeUndefined();
    }
    expect(await auditRows(org.id, "test.guard")).toEqual([]);
  });

  it("takes the role from a pending invitation, whose own seat is not counted twice", async () => {
    const owner = await createUser();
    const org = await createOrg(owner, { plan: "free" });
    await createMember(org, "member");
    const user = await createUser();
    // owner + member + this pending admin invitation = 3 of 3 seats: accepting it must still fit.
    const inv = await createInvitation(org, owner, { email: user.email, role: "admin" });
    const db = getDb(env.DB);
    await runBatch(db, [insertMembershipFromInvitation(db, org.id, user.id, inv.id, 3)]);
    expect(await roleIn(org.id, user.id)).toBe("admin");
  });

  it("refuses seat-counted invitations and promotions beyond the limit, but never viewers", async () => {
    const owner = await createUser();
    const org = await createOrg(owner, { plan: "free" });
    await createMember(org, "member");
    const viewer = await createMember(org, "viewer");
    const db = getDb(env.DB);
    const inv = (role: "member" | "viewer") => ({ id: newId("inv"), orgId: org.id, email: newInviteeEmail(), teamIds: [], tokenHash: newId("tok"), invitedBy: owner.id, expiresAt: Date.now() + 86_400_000, role: seatGuardedRole(role, org.id, 3) });
    // 2 of 3 seats used: a batch adding two seat-counted invitations fails as a whole.
    const before = await snapshotTable("invitations", org.id);
    const err = await failure(runBatch(db, [insertInvitation(db, inv("member")), insertInvitation(db, inv("member"))]));
    expect(isNotNullViolation(err, "invitations.role")).toBe(true);
    expect(await snapshotTable("invitations", org.id)).toEqual(before);
    await runBatch(db, [insertInvitation(db, inv("member")), insertInvitation(db, inv("viewer"))]);
    // Now full: promoting the viewer is refused by the statement itself.
    const promote = await failure(runBatch(db, [updateMemberRole(db, org.id, viewer.id, seatGuardedRole("member", org.id, 3))]));
    expect(isNotNullViolation(promote, "memberships.role")).toBe(true);
    expect(await roleIn(org.id, viewer.id)).toBe("viewer");
  });
});

describe("concurrent requests", () => {
  it("two admins inviting for the last seat at once: exactly one wins", async () => {
    const owner = await createUser();
    const org = await createOrg(owner, { plan: "free" });
    const admin = await createMember(org, "admin");
    const results = await Promise.all([
      call(owner, "POST", `/api/orgs/${org.id}/invitations`, { email: newInviteeEmail(), role: "member" }),
      call(admin, "POST", `/api/orgs/${org.id}/invitations`, { email: newInviteeEmail(), role: "member" }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([201, 403]);
    expect(results.find((r) => r.status === 403)!.body.error.code).toBe("plan_limit");
    expect(await snapshotTable("invitations", org.id)).toHaveLength(1);
  });

  it("accept racing revoke: either the member joined and the revoke conflicts, or the accept answers 410", async () => {
    const { org, owner } = await createOrgWithCast();
    const invitee = await createUser();
    const inv = await createInvitation(org, owner, { email: invitee.email });
    const [accept, revoke] = await Promise.all([
      call(invitee, "POST", `/api/invitations/${inv.token}/accept`),
      call(owner, "DELETE", `/api/orgs/${org.id}/invitations/${inv.id}`),
    ]);
    const row = await env.DB.prepare("SELECT accepted_at, revoked_at FROM invitations WHERE id = ?").bind(inv.id).first<{ accepted_at: number | null; revoked_at: number | null }>();
    if (accept.status === 200) {
      expect(revoke.status).toBe(409);
      expect(row).toMatchObject({ revoked_at: null });
      expect(await roleIn(org.id, invitee.id)).toBe("member");
    } else {
      expect(accept.status).toBe(410);
      expect(revoke.status).toBe(200);
      expect(row!.accepted_at).toBeNull();
      expect(await roleIn(org.id, invitee.id)).toBeUndefined();
    }
  });
});
