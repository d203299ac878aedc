import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call, createOrg, createOrgWithCast, createUser, snapshotTable } from "./factories";
import { callWithEnv } from "./factories/identity";
import { auditRows } from "./factories/orgs";

const SLACK = "https://hooks.slack.com/services/T000/B000/XXXXsecretXXXXabcd";

describe("org settings", () => {
  it("reads defaults for every role", async () => {
    const { org, viewer } = await createOrgWithCast();
    const res = await call(viewer, "GET", `/api/orgs/${org.id}/settings`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      name: org.name, slug: org.slug, kind: "team",
      branding: { display_name: null, logo_url: null, accent_color: null },
      data_policy: { store_request_metadata: true },
      invitation_expiry_days: 7,
      slack_webhook_url: null, slack_webhook_configured: false, slack_disabled_reason: null, slack_disabled_at: null, alert_emails: [], admission: "strict",
    });
  });

  it("lets an admin change them, merges partial objects, masks the Slack URL and writes one audit row", async () => {
    const { org, admin } = await createOrgWithCast();
    const res = await call(admin, "PATCH", `/api/orgs/${org.id}/settings`, {
      branding: { accent_color: "#12ab34", display_name: "  Acme AI  " },
      data_policy: { store_request_metadata: false },
      invitation_expiry_days: 3,
      slack_webhook_url: SLACK,
      alert_emails: ["Finance@Example.com", "finance@example.com", "cto@example.com"],
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      branding: { display_name: "Acme AI", logo_url: null, accent_color: "#12ab34" },
      data_policy: { store_request_metadata: false },
      invitation_expiry_days: 3,
      slack_webhook_configured: true,
      alert_emails: ["finance@example.com", "cto@example.com"],
    });
    expect(res.body.slack_webhook_url).toBe("https://hooks.slack.com/…abcd");
    const second = await call(admin, "PATCH", `/api/orgs/${org.id}/settings`, { branding: { logo_url: "https://cdn.example.com/logo.png" } });
    expect(second.body.branding).toEqual({ display_name: "Acme AI", logo_url: "https://cdn.example.com/logo.png", accent_color: "#12ab34" });
    expect(second.body.data_policy).toEqual({ store_request_metadata: false });
    const cleared = await call(admin, "PATCH", `/api/orgs/${org.id}/settings`, { branding: { display_name: null } });
    expect(cleared.body.branding).toEqual({ display_name: null, logo_url: "https://cdn.example.com/logo.png", accent_color: "#12ab34" });
    const audit = await auditRows(org.id, "org.settings.update");
    expect(audit).toHaveLength(3);
    expect(audit[0]).toMatchObject({ actor_id: admin.id, actor_ip: "203.0.113.7" });
    expect(audit[0]!.after).not.toContain("XXXXsecret");
  });

  it("uses the org's invitation expiry for new invitations", async () => {
    const { org, owner } = await createOrgWithCast();
    await call(owner, "PATCH", `/api/orgs/${org.id}/settings`, { invitation_expiry_days: 2 });
    const res = await call(owner, "POST", `/api/orgs/${org.id}/invitations`, { email: `exp-${Date.now()}@example.com`, role: "viewer" });
    expect(res.status).toBe(201);
    const days = (Date.parse(res.body.expires_at) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(1.99);
    expect(days).toBeLessThanOrEqual(2);
  });

  it("refuses bad values with 400 naming the field and changes nothing", async () => {
    const { org, owner } = await createOrgWithCast();
    const before = await snapshotTable("orgs");
    for (const [body, param] of [
      [{ invitation_expiry_days: 0 }, "invitation_expiry_days"],
      [{ invitation_expiry_days: 91 }, "invitation_expiry_days"],
      [{ slack_webhook_url: "not a url" }, "slack_webhook_url"],
      [{ slack_webhook_url: "ftp://hooks.slack.com/services/x" }, "slack_webhook_url"],
      [{ slack_webhook_url: "https://user:pw@hooks.slack.com/services/x" }, "slack_webhook_url"],
      [{ branding: { accent_color: "red" } }, "branding.accent_color"],
      [{ branding: { accent_color: "#12ab3" } }, "branding.accent_color"],
      [{ branding: { display_name: "x".repeat(81) } }, "branding.display_name"],
      [{ branding: { display_name: "   " } }, "branding.display_name"],
      [{ branding: { logo_url: "not a url" } }, "branding.logo_url"],
      [{ branding: { logo_url: "javascript:alert(1)" } }, "branding.logo_url"],
      [{ branding: { logo_url: "http://cdn.example.com/logo.png" } }, "branding.logo_url"],
      [{ alert_emails: ["not-an-email"] }, "alert_emails.0"],
      [{ data_policy: { store_request_metadata: "no" } }, "data_policy.store_request_metadata"],
    ] as const) {
      const res = await call(owner, "PATCH", `/api/orgs/${org.id}/settings`, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.param).toBe(param);
    }
    expect(await snapshotTable("orgs")).toEqual(before);
  });

  it("refuses the removed fields (retention, prompt storage, primary_color) with 400 naming the field and the reason", async () => {
    const { org, owner } = await createOrgWithCast();
    const before = await snapshotTable("orgs");
    for (const [body, param, reason] of [
      [{ data_policy: { retention_days: 14 } }, "data_policy.retention_days", /follows the plan/],
      [{ data_policy: { retention_days: null } }, "data_policy.retention_days", /follows the plan/],
      [{ data_policy: { store_prompts: true } }, "data_policy.store_prompts", /never stores prompts/],
      [{ branding: { primary_color: "#12ab34" } }, "branding.primary_color", /renamed to accent_color/],
    ] as const) {
      const res = await call(owner, "PATCH", `/api/orgs/${org.id}/settings`, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.param).toBe(param);
      expect(res.body.error.message).toMatch(reason);
    }
    expect(await snapshotTable("orgs")).toEqual(before);
  });

  it("accepts an http logo URL only on loopback, where private URLs are allowed (local development)", async () => {
    const { org, owner } = await createOrgWithCast();
    const res = await call(owner, "PATCH", `/api/orgs/${org.id}/settings`, { branding: { logo_url: "http://localhost:5173/logo.svg" } });
    expect(res.status).toBe(200);
    expect(res.body.branding.logo_url).toBe("http://localhost:5173/logo.svg");
  });

  it("refuses an http logo URL even on loopback with ALLOW_PRIVATE_UPSTREAMS=false (production setting)", async () => {
    const { org, owner } = await createOrgWithCast();
    const res = await callWithEnv({ ALLOW_PRIVATE_UPSTREAMS: "false" }, "PATCH", `/api/orgs/${org.id}/settings`, { branding: { logo_url: "http://localhost:5173/logo.svg" } }, { cookie: owner.cookie });
    expect(res.status).toBe(400);
    expect(res.body.error.param).toBe("branding.logo_url");
  });

  it("is described in the OpenAPI document: branding and data policy fields, no removed ones", async () => {
    const res = await SELF.fetch("http://localhost/api/openapi.json");
    expect(res.status).toBe(200);
    const spec = (await res.json()) as any;
    const patch = spec.paths["/api/orgs/{orgId}/settings"].patch.requestBody.content["application/json"].schema.properties;
    expect(Object.keys(patch.branding.properties).sort()).toEqual(["accent_color", "display_name", "logo_url"]);
    expect(Object.keys(patch.data_policy.properties)).toEqual(["store_request_metadata"]);
  });

  it("is admin+ to change: members and viewers get 403, strangers 404, and nothing changes", async () => {
    const { org, member, viewer } = await createOrgWithCast();
    const stranger = await createUser();
    const before = await snapshotTable("orgs");
    const auditBefore = await auditRows(org.id);
    expect((await call(member, "PATCH", `/api/orgs/${org.id}/settings`, { invitation_expiry_days: 9 })).status).toBe(403);
    expect((await call(viewer, "PATCH", `/api/orgs/${org.id}/settings`, { invitation_expiry_days: 9 })).status).toBe(403);
    expect((await call(stranger, "PATCH", `/api/orgs/${org.id}/settings`, { invitation_expiry_days: 9 })).status).toBe(404);
    expect((await call(stranger, "GET", `/api/orgs/${org.id}/settings`)).status).toBe(404);
    expect(await snapshotTable("orgs")).toEqual(before);
    expect(await auditRows(org.id)).toEqual(auditBefore);
  });

  it("keeps a personal org's name but lets its owner change other settings", async () => {
    const user = await createUser();
    const personal = await createOrg(user, { kind: "personal" });
    expect((await call(user, "PATCH", `/api/orgs/${personal.id}/settings`, { name: "Other" })).status).toBe(403);
    const ok = await call(user, "PATCH", `/api/orgs/${personal.id}/settings`, { alert_emails: [user.email] });
    expect(ok.status).toBe(200);
    expect(ok.body.name).toBe(personal.name);
  });
});
