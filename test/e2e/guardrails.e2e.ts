/**
 * Guardrails page in real Chromium against the real Worker: an admin creates a redact guardrail, types
 * text into the live "Test this text" box and sees the placeholder; a member sees the page read-only
 * and the API refuses their writes.
 */
import { describe, expect, inject, test } from "vitest";
import { usePages, unlabelledControls, type TrackedPage } from "./support/browser";
import { apiAsPage, fillSignup, readInviteLink, signUp, uniqueEmail } from "./support/flow";

const { dashboardUrl } = inject("e2e");
const open = usePages(dashboardUrl);

describe.sequential("guardrails page", () => {
  let admin: TrackedPage;
  let orgId = "";
  let guardrailId = "";

  test("an admin tests text against a draft redact guardrail, sees the placeholder, and saves it", async () => {
    admin = await open();
    await signUp(admin, "Gia Guard", uniqueEmail("gr-owner"));
    const org = await apiAsPage(admin, "POST", "/orgs", { name: "Guard Labs", slug: `guard-${Date.now().toString(36)}` });
    expect(org.status).toBe(201);
    orgId = org.body.id;
    await admin.goto(`/orgs/${orgId}/guardrails`);
    await admin.getByRole("heading", { level: 1, name: "Guardrails" }).waitFor();
    await admin.getByText("No guardrails yet").waitFor();
    await admin.getByRole("button", { name: "Add guardrail" }).click();
    await admin.getByRole("dialog").waitFor();
    expect(await unlabelledControls(admin)).toEqual([]);
    await admin.getByLabel("Name").fill("No personal data");
    await admin.getByLabel("Test this text").fill("Mail me at jane@example.com or use key sk-proj-abcdefghijklmnopqrstuvwxyz0123");
    await expect
      .poll(() => admin.getByTestId("guardrail-test-output").textContent(), { timeout: 10_000 })
      .toBe("Mail me at [REDACTED_EMAIL] or use key [REDACTED_SECRET]");
    await admin.getByRole("dialog").getByRole("button", { name: "Add guardrail" }).click();
    await admin.getByRole("cell", { name: /^No personal data/ }).waitFor();
    const list = await apiAsPage(admin, "GET", `/orgs/${orgId}/guardrails`);
    expect(list.body.data).toHaveLength(1);
    expect(list.body.data[0]).toMatchObject({ name: "No personal data", kind: "pii", action: "redact", enabled: true });
    guardrailId = list.body.data[0].id;
    expect(admin.consoleErrors).toEqual([]);
  });

  test("a member sees the guardrail read-only: controls disabled with a reason, and the API refuses writes", async () => {
    const email = uniqueEmail("gr-member");
    expect((await apiAsPage(admin, "POST", `/orgs/${orgId}/invitations`, { email, role: "member" })).status).toBe(201);
    const link = await readInviteLink(dashboardUrl, email);
    const member = await open();
    await member.goto(link);
    await member.waitForURL(/\/accept-invite\?token=/);
    await member.getByRole("button", { name: "I'm new here" }).click();
    await fillSignup(member, "Max Member", email);
    await member.getByRole("heading", { name: "Overview" }).waitFor();
    await member.goto(`/orgs/${orgId}/guardrails`);
    await member.getByRole("cell", { name: /^No personal data/ }).waitFor();
    await member.getByText("Members can't do this: only admins and above can.").first().waitFor();
    for (const name of ["Add guardrail", "Disable guardrail No personal data", "Delete guardrail No personal data"]) {
      expect(await member.getByRole("button", { name, exact: true }).isDisabled(), name).toBe(true);
    }
    expect((await apiAsPage(member, "PATCH", `/orgs/${orgId}/guardrails/${guardrailId}`, { enabled: false })).status).toBe(403);
    expect((await apiAsPage(member, "POST", `/orgs/${orgId}/guardrails`, { name: "x", kind: "pii", action: "flag" })).status).toBe(403);
    const tested = await apiAsPage(member, "POST", `/orgs/${orgId}/guardrails/test`, { text: "jane@example.com" });
    expect(tested.body.text).toBe("[REDACTED_EMAIL]");
    expect(member.consoleErrors).toEqual([]);
  });
});
