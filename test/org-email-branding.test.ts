/**
 * The org's branding in the emails sent on its behalf: invitation and budget-alert emails carry the
 * display name, logo and accent colour, HTML-escaped; without branding they fall back to the org name.
 */
import { env, runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { AdmitOk } from "../src/durable-objects/gate-protocol";
import { orgGate } from "../src/durable-objects/org-gate-client";
import { call, createOrgWithCast, type TestOrg, type TestUser } from "./factories";
import { admitRequest, createBudgetRow, createProvider, settleRequest, usageAtEstimate } from "./factories/gate";
import { createKey } from "./factories/keys";

type Mail = { subject: string; text: string; html: string | null };
const LOGO = "https://cdn.example.com/acme.png?v=1&size=64";

async function mailTo(to: string, subjectLike = "%"): Promise<Mail[]> {
  const { results } = await env.DB.prepare("SELECT subject, text, html FROM email_outbox WHERE to_address = ? AND subject LIKE ? ORDER BY created_at").bind(to, subjectLike).all<Mail>();
  return results;
}

async function brand(org: TestOrg, owner: TestUser, branding: Record<string, string>) {
  const res = await call(owner, "PATCH", `/api/orgs/${org.id}/settings`, { branding });
  expect(res.status).toBe(200);
}

async function invite(org: TestOrg, owner: TestUser): Promise<Mail> {
  const email = `brand-${crypto.randomUUID()}@example.com`;
  expect((await call(owner, "POST", `/api/orgs/${org.id}/invitations`, { email, role: "member" })).status).toBe(201);
  const [mail] = await mailTo(email);
  return mail!;
}

/** Crosses a 50% alert threshold so the alarm emails the owner and admins. */
async function crossAlertThreshold(org: TestOrg, owner: TestUser): Promise<void> {
  await createProvider(org);
  const key = await createKey(org, owner);
  const gate = orgGate(env, org.id);
  await createBudgetRow(org, owner, { limitMicros: 2000, alertThresholds: [50] });
  for (let i = 0; i < 2; i++) {
    const req = await admitRequest(key);
    const ok = (await gate.admit(req)) as AdmitOk;
    await gate.settle(settleRequest(req, ok, usageAtEstimate(req)));
    await runDurableObjectAlarm(gate);
  }
}

describe("branded emails", () => {
  it("an invitation from a branded org shows its display name, logo and accent colour", async () => {
    const { org, owner } = await createOrgWithCast();
    await brand(org, owner, { display_name: "Acme AI", logo_url: LOGO, accent_color: "#12ab34" });
    const mail = await invite(org, owner);
    expect(mail.subject).toBe("Join Acme AI on Tollgate");
    expect(mail.text).toContain("join Acme AI on Tollgate");
    expect(mail.html).toContain(`<img src="https://cdn.example.com/acme.png?v=1&amp;size=64" alt="Acme AI"`);
    expect(mail.html).toContain("<strong style=\"color:#12ab34\">Acme AI</strong>");
    expect(mail.html).toContain("border-top:4px solid #12ab34");
  });

  it("an invitation from an unbranded org uses the org name, Tollgate's accent and no logo", async () => {
    const { org, owner } = await createOrgWithCast();
    const mail = await invite(org, owner);
    expect(mail.subject).toBe(`Join ${org.name} on Tollgate`);
    expect(mail.html).toContain(`>${org.name}</strong>`);
    expect(mail.html).toContain("#4f46e5");
    expect(mail.html).not.toContain("<img");
  });

  it("escapes a display name that is markup, in the invitation and the alert email", async () => {
    const { org, owner } = await createOrgWithCast();
    await brand(org, owner, { display_name: `<script>alert("x")</script>`, logo_url: `https://cdn.example.com/"onerror="alert(1)` });
    const mail = await invite(org, owner);
    expect(mail.html).not.toContain("<script>");
    expect(mail.html).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;");
    expect(mail.html).not.toContain(`"onerror="`);
    await crossAlertThreshold(org, owner);
    const [alert] = await mailTo(owner.email, "Tollgate: 50%%");
    expect(alert!.html).not.toContain("<script>");
    expect(alert!.html).toContain("&lt;script&gt;");
  });

  it("a budget alert from a branded org shows its display name, logo and accent colour", async () => {
    const { org, owner, admin } = await createOrgWithCast();
    await brand(org, owner, { display_name: "Acme AI", logo_url: LOGO, accent_color: "#12ab34" });
    await crossAlertThreshold(org, owner);
    for (const to of [owner.email, admin.email]) {
      const mails = await mailTo(to, "Tollgate: 50%%");
      expect(mails).toHaveLength(1);
      expect(mails[0]!.subject).toMatch(/\(Acme AI\)$/);
      expect(mails[0]!.text).toMatch(/^Acme AI: Spend reached/);
      expect(mails[0]!.html).toContain(`<img src="https://cdn.example.com/acme.png?v=1&amp;size=64" alt="Acme AI"`);
      expect(mails[0]!.html).toContain("#12ab34");
    }
  });
});
