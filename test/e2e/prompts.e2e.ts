/**
 * Prompts in real Chromium against the real Worker: an admin creates a prompt and two versions, sees the
 * change between them in the diff, and moves `production` from v1 to v2; a member sees the page
 * read-only and the API refuses their writes; requests that used v1 and v2 show as two rows of the Usage page
 * grouped by prompt version.
 */
import { describe, expect, inject, test } from "vitest";
import { usePages, unlabelledControls, type TrackedPage } from "./support/browser";
import { apiAsPage, fillSignup, readInviteLink, signUp, uniqueEmail } from "./support/flow";

const { dashboardUrl, workerUrl, openaiUrl } = inject("e2e");
const open = usePages(dashboardUrl);

describe.sequential("prompts page", () => {
  let admin: TrackedPage;
  let orgId = "";
  let promptId = "";

  test("an admin creates a prompt and a first version whose variables come from its placeholders", async () => {
    admin = await open();
    await signUp(admin, "Ada Admin", uniqueEmail("pr-owner"));
    const org = await apiAsPage(admin, "POST", "/orgs", { name: "Prompt Labs", slug: `prompts-${Date.now().toString(36)}` });
    expect(org.status).toBe(201);
    orgId = org.body.id;
    await admin.goto(`/orgs/${orgId}/prompts`);
    await admin.getByRole("heading", { level: 1, name: "Prompts" }).waitFor();
    await admin.getByText("No prompts", { exact: true }).waitFor();
    await admin.getByRole("button", { name: "New prompt" }).click();
    await admin.getByLabel("Name").fill("support-reply");
    await admin.getByLabel("Description").fill("Replies to support tickets");
    await admin.getByRole("dialog").getByRole("button", { name: "Create prompt" }).click();
    await admin.getByText("No versions yet").waitFor();
    promptId = (await apiAsPage(admin, "GET", `/orgs/${orgId}/prompts`)).body.data[0].id;

    await admin.getByRole("button", { name: "New version" }).click();
    await admin.getByRole("dialog").waitFor();
    await admin.getByLabel("Content of message 1").fill("You are the support agent of {{company}}.");
    await admin.getByLabel("Content of message 2").fill("Customer {{customer_name}} asks: {{question}}");
    await admin.getByLabel("Type of company").waitFor();
    expect(await unlabelledControls(admin)).toEqual([]);
    await admin.getByRole("dialog").getByRole("button", { name: "Save version" }).click();
    await admin.locator("tr[data-version='1']").waitFor();
    const detail = await apiAsPage(admin, "GET", `/orgs/${orgId}/prompts/${promptId}`);
    expect(detail.body.versions[0].variables.map((v: any) => v.name)).toEqual(["company", "customer_name", "question"]);
  });

  test("a second version; the diff between v1 and v2 shows the changed line removed and added", async () => {
    await admin.getByRole("button", { name: "New version" }).click();
    await admin.getByLabel("Content of message 1").fill("You are the friendly support agent of {{company}}.");
    await admin.getByRole("dialog").getByRole("button", { name: "Save version" }).click();
    await admin.locator("tr[data-version='2']").waitFor();
    const diff = admin.getByRole("region", { name: "Version diff" });
    await diff.locator("[data-diff=removed]", { hasText: "- You are the support agent of {{company}}." }).waitFor();
    await diff.locator("[data-diff=added]", { hasText: "+ You are the friendly support agent of {{company}}." }).waitFor();
    expect(await diff.locator("[data-diff=same]", { hasText: "Customer {{customer_name}} asks" }).count()).toBe(1);
    expect(admin.consoleErrors).toEqual([]);
  });

  test("the admin points production at v1, then moves it to v2", async () => {
    await admin.getByLabel("Label").fill("production");
    await admin.getByLabel("Version", { exact: true }).selectOption("1");
    await admin.getByRole("button", { name: "Move label" }).click();
    await admin.locator("tr[data-version='1']").getByText("production").waitFor();
    await admin.getByLabel("Version", { exact: true }).selectOption("2");
    await admin.getByRole("button", { name: "Move label" }).click();
    await admin.locator("tr[data-version='2']").getByText("production").waitFor();
    expect(await admin.locator("tr[data-version='1']").getByText("production").count()).toBe(0);
    expect((await apiAsPage(admin, "GET", `/orgs/${orgId}/prompts/${promptId}`)).body.labels).toEqual({ production: 2 });
    const audit = await apiAsPage(admin, "GET", `/orgs/${orgId}/audit-log?action=prompt.label.move`);
    expect(audit.body.data.map((a: any) => [a.before.version, a.after.version])).toEqual([[1, 2], [null, 1]]);
    expect(admin.consoleErrors).toEqual([]);
  });

  test("a member sees prompts and the diff read-only: write controls disabled with a reason, and the API refuses", async () => {
    const email = uniqueEmail("pr-member");
    expect((await apiAsPage(admin, "POST", `/orgs/${orgId}/invitations`, { email, role: "member" })).status).toBe(201);
    const link = await readInviteLink(dashboardUrl, email);
    const member = await open();
    await member.goto(link);
    await member.waitForURL(/\/accept-invite\?token=/);
    await member.getByRole("button", { name: "I'm new here" }).click();
    await fillSignup(member, "Mo Member", email);
    await member.getByRole("heading", { name: "Overview" }).waitFor();
    await member.goto(`/orgs/${orgId}/prompts`);
    await member.getByRole("button", { name: "Open prompt support-reply" }).click();
    await member.locator("tr[data-version='2']").waitFor();
    await member.getByRole("region", { name: "Version diff" }).locator("[data-diff=added]").first().waitFor();
    await member.getByText("Members can't do this: only admins and above can.").first().waitFor();
    for (const name of ["New prompt", "New version", "Delete", "Move label"]) {
      expect(await member.getByRole("button", { name, exact: true }).isDisabled(), name).toBe(true);
    }
    expect((await apiAsPage(member, "PUT", `/orgs/${orgId}/prompts/${promptId}/labels/production`, { version: 1 })).status).toBe(403);
    expect((await apiAsPage(member, "POST", `/orgs/${orgId}/prompts/${promptId}/versions`, { messages: [{ role: "user", content: "x" }] })).status).toBe(403);
    expect((await apiAsPage(admin, "GET", `/orgs/${orgId}/prompts/${promptId}`)).body.labels).toEqual({ production: 2 });
    expect(member.consoleErrors).toEqual([]);
  });
  test("requests through the gateway that used v1 and (via production) v2 are two rows of Usage grouped by prompt version", async () => {
    expect((await apiAsPage(admin, "POST", `/orgs/${orgId}/providers`, { name: "openai", type: "openai", base_url: `${openaiUrl}/v1`, api_key: "sk-mock-upstream-key", is_default: true })).status).toBe(201);
    const key = await apiAsPage(admin, "POST", `/orgs/${orgId}/keys`, { name: "support-bot" });
    expect(key.status).toBe(201);
    const variables = { company: "Acme", customer_name: "Bo", question: "Where is my order?" };
    const send = async (prompt: Record<string, unknown>) => {
      const res = await fetch(`${workerUrl}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${key.body.key}`, "content-type": "application/json" },
        body: JSON.stringify({ model: "gpt-4o-mini", max_tokens: 16, prompt: { id: promptId, ...prompt, variables } }),
      });
      expect(res.status, await res.clone().text()).toBe(200);
      await res.arrayBuffer();
    };
    await send({ version: 1 });
    await send({ label: "production" });
    await send({ label: "production" });
    await expect.poll(async () => (await apiAsPage(admin, "GET", `/orgs/${orgId}/cost-events`)).body.data?.length, { timeout: 30_000, interval: 500 }).toBe(3);

    await admin.goto(`/orgs/${orgId}/usage`);
    await admin.getByRole("heading", { level: 1, name: "Usage" }).waitFor();
    await admin.getByRole("button", { name: "Prompt version", exact: true }).click();
    const rows = admin.getByTestId("usage-table").locator("tbody tr");
    await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(2);
    const cells = async () => (await rows.evaluateAll((trs) => trs.map((tr) => [tr.children[0]!.textContent, tr.children[1]!.textContent]))).sort();
    await expect.poll(cells).toEqual([["support-reply v1", "1"], ["support-reply v2", "2"]]);
    expect(await rows.locator(`span[title="${promptId}@2"]`).count()).toBe(1);
    expect(admin.consoleErrors).toEqual([]);
  });
});
