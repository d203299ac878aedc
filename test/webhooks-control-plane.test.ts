/**
 * Control-plane events (key.created, key.revoked, member.role_changed, member.removed, invitation.accepted,
 * member.added) are queued in the same D1 batch as the change, only for endpoints subscribed to them, and
 * delivered by the dispatcher after the response.
 */
import { env } from "cloudflare:test";
import { describe, expect, inject, it } from "vitest";
import { call, createOrgWithCast, createUser } from "./factories";
import { createInvitation } from "./factories/invitations";
import { createWebhook } from "./factories/webhooks";
import type { ReceivedWebhook } from "./mock-servers/webhook-receiver";

const CONTROL = ["key.created", "key.revoked", "member.added", "member.removed", "member.role_changed", "invitation.accepted"];

async function queued(orgId: string, webhookId: string) {
  const { results } = await env.DB.prepare("SELECT event_type, payload FROM webhook_deliveries WHERE org_id = ? AND webhook_id = ? ORDER BY created_at, rowid").bind(orgId, webhookId).all<{ event_type: string; payload: string }>();
  return results.map((r) => ({ type: r.event_type, data: JSON.parse(r.payload).data as Record<string, unknown> }));
}

describe("control-plane webhook events", () => {
  it("key, member and invitation changes each queue one event for subscribed endpoints only", async () => {
    const { org, owner, admin, member, viewer } = await createOrgWithCast();
    const all = await createWebhook(org, owner, { events: CONTROL });
    const keysOnly = await createWebhook(org, owner, { events: ["key.created"] });
    const budgetsOnly = await createWebhook(org, owner, { events: ["budget.threshold"] });

    const key = await call(member, "POST", `/api/orgs/${org.id}/keys`, { name: "ci" });
    expect(key.status).toBe(201);
    expect((await call(admin, "POST", `/api/orgs/${org.id}/keys/${key.body.id}/revoke`)).status).toBe(200);
    // Revoking again changes nothing and reports nothing.
    expect((await call(admin, "POST", `/api/orgs/${org.id}/keys/${key.body.id}/revoke`)).status).toBe(200);
    expect((await call(admin, "PATCH", `/api/orgs/${org.id}/members/${viewer.id}`, { role: "member" })).status).toBe(200);
    expect((await call(admin, "DELETE", `/api/orgs/${org.id}/members/${member.id}`)).status).toBe(200);
    const invitee = await createUser();
    const inv = await createInvitation(org, owner, { email: invitee.email, role: "viewer" });
    expect((await call(invitee, "POST", `/api/invitations/${inv.token}/accept`)).status).toBe(200);
    expect((await call(viewer, "POST", `/api/orgs/${org.id}/leave`)).status).toBe(200);

    const got = await queued(org.id, all.id);
    expect(got.map((e) => e.type)).toEqual(["key.created", "key.revoked", "member.role_changed", "member.removed", "invitation.accepted", "member.added", "member.removed"]);
    expect(got[0]!.data).toMatchObject({ key_id: key.body.id, name: "ci", created_by: member.id });
    expect(JSON.stringify(got)).not.toContain(key.body.key);
    expect(got[2]!.data).toEqual({ user_id: viewer.id, from_role: "viewer", to_role: "member" });
    expect(got[3]!.data).toMatchObject({ user_id: member.id, reason: "removed" });
    expect(got[4]!.data).toMatchObject({ invitation_id: inv.id, user_id: invitee.id, role: "viewer" });
    expect(got[6]!.data).toMatchObject({ user_id: viewer.id, reason: "left" });
    expect((await queued(org.id, keysOnly.id)).map((e) => e.type)).toEqual(["key.created"]);
    expect(await queued(org.id, budgetsOnly.id)).toHaveLength(0);
  });

  it("a created key's event reaches the receiver signed, after the response", async () => {
    const { org, owner, admin } = await createOrgWithCast();
    const inbox = crypto.randomUUID();
    const receiver = inject("mockUrls").webhooks!;
    const hook = await createWebhook(org, owner, { url: `${receiver}/in/${inbox}`, events: ["key.created"] });
    await fetch(`${receiver}/_configure/${inbox}`, { method: "POST", body: JSON.stringify({ secret: hook.secret, statuses: [200] }) });
    const res = await call(admin, "POST", `/api/orgs/${org.id}/keys`, { name: "deploy" });
    expect(res.status).toBe(201);
    let got: ReceivedWebhook[] = [];
    for (let i = 0; i < 100 && got.length === 0; i++) {
      got = (await (await fetch(`${receiver}/_received/${inbox}`)).json()) as ReceivedWebhook[];
      if (!got.length) await new Promise((r) => setTimeout(r, 50));
    }
    expect(got).toHaveLength(1);
    expect(got[0]!.verified).toBe(true);
    expect(JSON.parse(got[0]!.body)).toMatchObject({ type: "key.created", data: { key_id: res.body.id } });
  });
});
