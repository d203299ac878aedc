import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call, createOrgWithCast, ORIGIN, snapshotTable, type TestUser } from "./factories";
import { createInvitation, mailedInviteTokens, newInviteeEmail } from "./factories/invitations";
import { auditRows } from "./factories/orgs";

/** POSTs a raw text/csv body the way a script would (`curl --data-binary @team.csv`). */
async function postCsv(as: TestUser, orgId: string, csv: string) {
  const res = await SELF.fetch(`${ORIGIN}/api/orgs/${orgId}/invitations/bulk`, {
    method: "POST",
    headers: { cookie: as.cookie, origin: ORIGIN, "content-type": "text/csv", "cf-connecting-ip": "203.0.113.7" },
    body: csv,
  });
  return { status: res.status, body: (await res.json()) as any };
}

describe("bulk invitations by CSV", () => {
  it("invites every row of a text/csv body in one batch with one audit row, and mails each invitee", async () => {
    const { org, admin } = await createOrgWithCast({ plan: "pro" });
    const [a, b, c] = [newInviteeEmail(), newInviteeEmail(), newInviteeEmail()];
    const res = await postCsv(admin, org.id, `email,role\n${a},member\n\n"${b.toUpperCase()}", Viewer\r\n${c},admin\n`);
    expect(res.status).toBe(201);
    expect(res.body.data.map((i: { email: string; role: string }) => [i.email, i.role])).toEqual([[a, "member"], [b, "viewer"], [c, "admin"]]);
    expect(res.body.delivery.every((d: { ok: boolean }) => d.ok)).toBe(true);
    for (const email of [a, b, c]) expect(await mailedInviteTokens(email)).toHaveLength(1);
    const audit = await auditRows(org.id, "invitation.bulk_create");
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actor_id: admin.id, actor_ip: "203.0.113.7" });
    expect(JSON.parse(audit[0]!.after!).count).toBe(3);
  });

  it("accepts JSON {csv} too", async () => {
    const { org, owner } = await createOrgWithCast({ plan: "enterprise" });
    const res = await call(owner, "POST", `/api/orgs/${org.id}/invitations/bulk`, { csv: `${newInviteeEmail()},viewer` });
    expect(res.status).toBe(201);
    expect(res.body.data).toHaveLength(1);
  });

  it("refuses the whole file when one row is bad, naming the row, and inserts nothing", async () => {
    const { org, owner, member } = await createOrgWithCast({ plan: "pro" });
    const pending = await createInvitation(org, owner);
    const before = await snapshotTable("invitations", org.id);
    const auditBefore = await auditRows(org.id);
    const good = newInviteeEmail();
    const cases: Array<[string, number, RegExp]> = [
      [`email,role\n${good},member\nnot-an-email,member\n${newInviteeEmail()},viewer`, 3, /row 3: 'not-an-email' is not a valid email address/],
      [`${good},member\n${newInviteeEmail()},superuser`, 2, /row 2: role 'superuser'/],
      [`${good},member\n${newInviteeEmail()},owner`, 2, /row 2: the owner role cannot be invited/],
      [`${good},member\n${good},viewer`, 2, /row 2: .* already listed on row 1/],
      [`${good},member\n${member.email},viewer`, 2, /row 2: .* already a member/],
      [`${good},member\n${pending.email},viewer`, 2, /row 2: .* pending invitation/],
      [`${good},member,extra`, 1, /row 1: expected 2 columns/],
    ];
    for (const [csv, row, message] of cases) {
      const res = await postCsv(owner, org.id, csv);
      expect(res.status, csv).toBe(400);
      expect(res.body.error).toMatchObject({ code: "invalid_request", param: "csv", row });
      expect(res.body.error.message).toMatch(message);
      expect(res.body.error.message).toMatch(/^Nothing was invited/);
    }
    expect(await snapshotTable("invitations", org.id)).toEqual(before);
    expect(await auditRows(org.id)).toEqual(auditBefore);
    expect(await mailedInviteTokens(good)).toEqual([]);
  });

  it("is a plan feature: the free plan answers 403 plan_limit", async () => {
    const { org, owner } = await createOrgWithCast({ plan: "free" });
    const before = await snapshotTable("invitations", org.id);
    const res = await postCsv(owner, org.id, `${newInviteeEmail()},viewer`);
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe("plan_limit");
    expect(res.body.error.message).toMatch(/Free plan/);
    expect(await snapshotTable("invitations", org.id)).toEqual(before);
  });

  it("is admin+: members get 403 and nothing is inserted", async () => {
    const { org, member } = await createOrgWithCast({ plan: "pro" });
    const before = await snapshotTable("invitations", org.id);
    expect((await postCsv(member, org.id, `${newInviteeEmail()},viewer`)).status).toBe(403);
    expect(await snapshotTable("invitations", org.id)).toEqual(before);
  });

  it("refuses an empty file with 400", async () => {
    const { org, owner } = await createOrgWithCast({ plan: "pro" });
    const res = await postCsv(owner, org.id, "email,role\n\n");
    expect(res.status).toBe(400);
    expect(res.body.error.param).toBe("csv");
  });
});
