/**
 * The whole team story in real Chromium against the real Worker: sign up → create a team org → invite a member
 * (link from the dev outbox) → the invitee signs up and accepts in their own browser → creates a key → a request
 * through the gateway → overview and usage explorer show it → a viewer sees disabled controls and the API refuses
 * them → switching orgs shows only that org's data.
 */
import { describe, expect, inject, test } from "vitest";
import { usePages, screenshot, type TrackedPage } from "./support/browser";
import { apiAsPage, fillSignup, orgIdOf, readInviteLink, signUp, uniqueEmail } from "./support/flow";
import { contentPieces } from "../mock-servers/llm-common";

const { dashboardUrl, workerUrl, openaiUrl } = inject("e2e");
const open = usePages(dashboardUrl);

/** Accepts an invitation as a brand-new user signing up inline; returns when the org overview shows. */
async function acceptAsNewUser(page: TrackedPage, link: string, name: string, email: string) {
  await page.goto(link); // Worker link → 302 → /accept-invite?token=…
  await page.waitForURL(/\/accept-invite\?token=/);
  await page.getByRole("heading", { name: /^Join / }).waitFor();
  await page.getByRole("button", { name: "I'm new here" }).click();
  await fillSignup(page, name, email);
  await page.getByRole("heading", { name: "Overview" }).waitFor();
}

describe.sequential("team flow", () => {
  const ownerEmail = uniqueEmail("owner");
  const memberEmail = uniqueEmail("member");
  const viewerEmail = uniqueEmail("viewer");
  const orgName = `Acme ${Date.now().toString(36)}`;
  let owner: TrackedPage;
  let member: TrackedPage;
  let viewer: TrackedPage;
  let orgId = "";
  let secret = "";
  const keyName = "search-backend";

  test("an owner signs up and creates a team org from the switcher", async () => {
    owner = await open();
    await signUp(owner, "Olivia Owner", ownerEmail);
    const personalOrg = orgIdOf(owner.url());
    await owner.getByRole("button", { name: /Switch organization/ }).click();
    await owner.getByRole("menuitem", { name: "Create organization" }).click();
    await owner.getByLabel("Organization name").fill(orgName);
    await owner.getByRole("button", { name: "Create organization" }).click();
    await owner.waitForURL((u) => orgIdOf(u.toString()) !== "" && orgIdOf(u.toString()) !== personalOrg);
    orgId = orgIdOf(owner.url());
    await expect.poll(() => owner.getByRole("button", { name: /Switch organization/ }).textContent()).toContain(orgName);
    expect(owner.consoleErrors).toEqual([]);
  });

  test("the owner adds the mock upstream as the org's default provider", async () => {
    await owner.goto(`/orgs/${orgId}/providers`);
    await owner.getByRole("button", { name: "Add provider" }).click();
    await owner.getByLabel("Name", { exact: true }).fill("openai");
    await owner.getByLabel("Type").selectOption("openai");
    await owner.getByLabel("Base URL").fill(`${openaiUrl}/v1`);
    await owner.getByLabel("API key").fill("sk-mock-upstream-key");
    await owner.getByLabel("Default provider for bare model names").check();
    await owner.getByRole("dialog").getByRole("button", { name: "Add provider" }).click();
    await owner.getByRole("cell", { name: /openai/ }).first().waitFor();
    const list = await apiAsPage(owner, "GET", `/orgs/${orgId}/providers`);
    expect(list.status).toBe(200);
    expect(list.body.data).toHaveLength(1);
    expect(JSON.stringify(list.body)).not.toContain("sk-mock-upstream-key");
  });

  test("the owner invites a member and a viewer; both appear as pending", async () => {
    await owner.goto(`/orgs/${orgId}/members`);
    for (const [email, role] of [[memberEmail, "member"], [viewerEmail, "viewer"]] as const) {
      await owner.getByLabel("Email address").fill(email);
      await owner.getByLabel("Role", { exact: true }).selectOption(role);
      await owner.getByRole("button", { name: "Send invite" }).click();
      await owner.getByRole("cell", { name: email, exact: true }).first().waitFor();
      expect(await owner.getByRole("cell", { name: email, exact: true }).count()).toBe(1);
    }
    await screenshot(owner, "members-pending");
  });

  test("the member accepts in a second browser by signing up inline", async () => {
    member = await open();
    await acceptAsNewUser(member, await readInviteLink(dashboardUrl, memberEmail), "Max Member", memberEmail);
    expect(orgIdOf(member.url())).toBe(orgId);
    const me = await apiAsPage(member, "GET", "/me");
    expect(me.body.memberships.find((m: { org: { id: string } }) => m.org.id === orgId)?.role).toBe("member");
  });

  test("the member creates a key, shown once with a copy button", async () => {
    await member.goto(`/orgs/${orgId}/keys`);
    await member.getByRole("button", { name: "Create key" }).click();
    await member.getByLabel("Name", { exact: true }).fill(keyName);
    await member.getByRole("dialog").getByRole("button", { name: "Create key" }).click();
    const box = member.getByTestId("new-key-secret");
    await box.waitFor();
    secret = (await box.textContent())!.trim();
    expect(secret).toMatch(/^sk-tg-/);
    await member.getByRole("button", { name: "Copy API key to clipboard" }).click();
    await member.getByRole("button", { name: "API key copied" }).waitFor();
    expect(await member.evaluate("navigator.clipboard.readText()")).toBe(secret);
    await screenshot(member, "key-created-once");
    await member.getByRole("button", { name: "I've saved it" }).click();
    await member.getByRole("cell", { name: new RegExp(`^${keyName}`) }).waitFor();
    expect(await member.content()).not.toContain(secret);
  });

  test("a request through the gateway with that key shows up on the overview and in the usage explorer", async () => {
    const res = await fetch(`${workerUrl}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hello" }], max_tokens: 16 }),
    });
    expect(res.status, await res.clone().text()).toBe(200);
    expect(((await res.json()) as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content).toBe(contentPieces(5).join("")); // the mock's default reply, passed through untouched

    // Cost events reach D1 from the org's gate outbox about a second after the request.
    await expect.poll(async () => (await apiAsPage(owner, "GET", `/orgs/${orgId}/usage`)).body.totals?.requests, { timeout: 30_000, interval: 500 }).toBe(1);
    await owner.goto(`/orgs/${orgId}`);
    const stat = (label: string) => owner.locator(".stat", { has: owner.getByText(label, { exact: true }) }).locator(".stat-value");
    await expect.poll(() => stat("Requests").textContent(), { timeout: 15_000 }).toBe("1");
    const spend = await stat("Spend this period").textContent();
    expect(spend).toMatch(/^\$0\.\d+$/); // a few micro-dollars of gpt-4o-mini tokens
    expect(spend).not.toBe("$0.00");
    expect(await stat("Error rate").textContent()).toBe("0.0%");
    expect(await stat("Latency p50").textContent()).toMatch(/^\d[\d,]* ms$/);
    await screenshot(owner, "overview");

    await owner.goto(`/orgs/${orgId}/usage`);
    await owner.getByRole("button", { name: "Model", exact: true }).click();
    await owner.getByTestId("usage-table").getByRole("cell", { name: "gpt-4o-mini" }).waitFor();
    await owner.getByRole("button", { name: "Key", exact: true }).click();
    await owner.getByTestId("usage-table").getByRole("cell", { name: keyName }).waitFor();
    await screenshot(owner, "usage");
    expect(owner.consoleErrors).toEqual([]);
  });

  test("a viewer sees disabled controls with a reason, and the API refuses them too", async () => {
    viewer = await open();
    await acceptAsNewUser(viewer, await readInviteLink(dashboardUrl, viewerEmail), "Vera Viewer", viewerEmail);
    await viewer.goto(`/orgs/${orgId}/keys`);
    const create = viewer.getByRole("button", { name: "Create key" });
    await expect.poll(() => create.isDisabled()).toBe(true);
    await viewer.getByRole("note").filter({ hasText: "Viewers can't do this" }).first().waitFor();
    await expect.poll(() => viewer.getByRole("button", { name: `Revoke ${keyName}` }).isDisabled()).toBe(true);
    await screenshot(viewer, "keys-viewer");
    const attempt = await apiAsPage(viewer, "POST", `/orgs/${orgId}/keys`, { name: "sneaky" });
    expect(attempt.status).toBe(403);
    expect(attempt.body.error.code).toBe("permission_denied");

    await viewer.goto(`/orgs/${orgId}/members`);
    await expect.poll(() => viewer.getByRole("button", { name: "Send invite" }).isDisabled()).toBe(true);
    const invite = await apiAsPage(viewer, "POST", `/orgs/${orgId}/invitations`, { email: uniqueEmail("x"), role: "viewer" });
    expect(invite.status).toBe(403);
    expect(viewer.consoleErrors).toEqual([]);
  });

  test("switching orgs drops the cache and shows only the selected org's data", async () => {
    const teamKeyFetches: number[] = [];
    member.on("request", (r) => r.url().includes(`/api/orgs/${orgId}/keys`) && teamKeyFetches.push(Date.now()));
    await member.goto(`/orgs/${orgId}/keys`);
    await member.getByRole("cell", { name: new RegExp(`^${keyName}`) }).waitFor();
    const switchTo = async (name: RegExp) => {
      await member.getByRole("button", { name: /Switch organization/ }).click();
      await member.getByRole("menuitemradio", { name }).click();
    };
    await switchTo(/workspace/);
    await member.waitForURL((u) => orgIdOf(u.toString()) !== orgId);
    await member.getByRole("link", { name: "API keys" }).click();
    await member.getByText("No API keys yet").waitFor();
    expect(await member.getByRole("cell", { name: new RegExp(`^${keyName}`) }).count()).toBe(0);
    await screenshot(member, "keys-personal-after-switch");

    // Back to the team org, client-side: its key list was dropped on switch, so it is fetched again
    // (well within the 5 s staleTime that would otherwise serve it from cache).
    const before = teamKeyFetches.length;
    await switchTo(new RegExp(orgName));
    await member.waitForURL((u) => orgIdOf(u.toString()) === orgId);
    await member.getByRole("link", { name: "API keys" }).click();
    await member.getByRole("cell", { name: new RegExp(`^${keyName}`) }).waitFor();
    expect(teamKeyFetches.length).toBeGreaterThan(before);
    expect(member.consoleErrors).toEqual([]);
  });

  test("removing the member lists the keys it will revoke, then revokes them", async () => {
    await owner.goto(`/orgs/${orgId}/members`);
    await owner.getByRole("button", { name: "Remove Max Member" }).click();
    const dialog = owner.getByRole("dialog");
    await dialog.getByRole("list", { name: "Keys that will be revoked" }).getByText(keyName).waitFor();
    await screenshot(owner, "remove-member-preview");
    await dialog.getByRole("button", { name: "Remove member" }).click();
    await dialog.waitFor({ state: "detached" });
    await owner.goto(`/orgs/${orgId}/keys`);
    const row = owner.locator("tr", { has: owner.getByRole("cell", { name: new RegExp(`^${keyName}`) }) });
    await row.getByText("revoked").waitFor();
    const gateway = await fetch(`${workerUrl}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hello" }] }),
    });
    expect(gateway.status).toBe(401);
    expect(owner.consoleErrors).toEqual([]);
  });
});
