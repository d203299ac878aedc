import { describe, expect, it } from "vitest";
import { call, createOrgWithCast, createUser, type TestUser } from "./factories";
import { createKey } from "./factories/keys";
import { createInvitation, newInviteeEmail } from "./factories/invitations";
import { auditRows } from "./factories/orgs";

describe("audit trail of org, member and invitation mutations", () => {
  it("writes exactly one row per mutation with the actor's id, IP and user agent", async () => {
    const { org, owner, admin, member, viewer } = await createOrgWithCast({ plan: "pro" });
    const invitee = await createUser();
    const pendingForAccept = await createInvitation(org, owner, { email: invitee.email, role: "viewer" });
    await createKey(org, viewer);

    const steps: Array<[string, TestUser, string, string, unknown?]> = [
      ["org.update", admin, "PATCH", `/api/orgs/${org.id}`, { name: "Audited" }],
      ["org.settings.update", admin, "PATCH", `/api/orgs/${org.id}/settings`, { invitation_expiry_days: 5 }],
      ["invitation.create", admin, "POST", `/api/orgs/${org.id}/invitations`, { email: newInviteeEmail(), role: "member" }],
      ["invitation.bulk_create", admin, "POST", `/api/orgs/${org.id}/invitations/bulk`, { csv: `${newInviteeEmail()},viewer` }],
      ["invitation.accept", invitee, "POST", `/api/invitations/${pendingForAccept.token}/accept`],
      ["member.role_change", admin, "PATCH", `/api/orgs/${org.id}/members/${member.id}`, { role: "viewer" }],
      ["member.remove", admin, "DELETE", `/api/orgs/${org.id}/members/${viewer.id}`],
      ["member.leave", member, "POST", `/api/orgs/${org.id}/leave`],
      ["org.transfer_ownership", owner, "POST", `/api/orgs/${org.id}/transfer-ownership`, { user_id: admin.id }],
    ];
    for (const [action, as, method, path, body] of steps) {
      const res = await call(as, method, path, body);
      expect(res.status, `${action}: ${JSON.stringify(res.body)}`).toBeLessThan(300);
      if (action === "invitation.create") {
        const id = res.body.id as string;
        expect((await call(admin, "POST", `/api/orgs/${org.id}/invitations/${id}/resend`)).status).toBe(200);
        expect((await call(admin, "DELETE", `/api/orgs/${org.id}/invitations/${id}`)).status).toBe(200);
      }
    }
    const rows = await auditRows(org.id);
    const expected = [...steps.map(([action, as]) => [action, as.id]), ["invitation.resend", admin.id], ["invitation.revoke", admin.id]];
    for (const [action, actorId] of expected) {
      const matching = rows.filter((r) => r.action === action);
      expect(matching, action).toHaveLength(1);
      expect(matching[0], action).toMatchObject({ actor_type: "user", actor_id: actorId, actor_ip: "203.0.113.7", user_agent: "tollgate-tests", org_id: org.id });
    }
    expect(rows).toHaveLength(expected.length);
  });
});
