/**
 * Activity views in real Chromium against the real Worker: cost events from real proxied requests (mock OpenAI
 * upstream) with two trace ids, filtered by trace (per-trace total) and model, filters kept in the URL; management
 * tokens created (shown once), used and revoked by an admin, read-only for a viewer whom the API refuses; why a
 * webhook endpoint or the Slack channel was disabled, and re-enabling the endpoint.
 */
import { describe, expect, inject, test } from "vitest";
import { usePages, screenshot, unlabelledControls, type TrackedPage } from "./support/browser";
import { apiAsPage, fillSignup, readInviteLink, signUp, uniqueEmail } from "./support/flow";
import { execLocalD1, freePort } from "./support/worker";

const { dashboardUrl, workerUrl, workerState, openaiUrl } = inject("e2e");
const open = usePages(dashboardUrl);

async function gateway(key: string, model: string, headers: Record<string, string>) {
  const res = await fetch(`${workerUrl}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...headers },
    body: JSON.stringify({ model, messages: [{ role: "user", content: "Hello" }], max_tokens: 16 }),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  await res.arrayBuffer();
}

describe.sequential("activity views", () => {
  let owner: TrackedPage;
  let viewer: TrackedPage;
  let orgId = "";
  let apiKey = "";
  const runA = `run-a-${Date.now().toString(36)}`;
  const runB = `run-b-${Date.now().toString(36)}`;
  const rows = (p: TrackedPage) => p.getByTestId("cost-events-table").locator("tbody tr");

  test("seed: requests through the gateway with two trace ids become cost events", async () => {
    owner = await open();
    await signUp(owner, "Olga Owner", uniqueEmail("act-owner"));
    const org = await apiAsPage(owner, "POST", "/orgs", { name: "Trace Labs", slug: `trace-${Date.now().toString(36)}` });
    expect(org.status).toBe(201);
    orgId = org.body.id;
    expect((await apiAsPage(owner, "POST", `/orgs/${orgId}/providers`, { name: "openai", type: "openai", base_url: `${openaiUrl}/v1`, api_key: "sk-mock-upstream-key", is_default: true })).status).toBe(201);
    const key = await apiAsPage(owner, "POST", `/orgs/${orgId}/keys`, { name: "agent-runner" });
    expect(key.status).toBe(201);
    apiKey = key.body.key;
    await gateway(key.body.key, "gpt-4o-mini", { "x-tollgate-trace-id": runA, "x-tollgate-customer": "acme" });
    await gateway(key.body.key, "gpt-4o-mini", { "x-tollgate-trace-id": runA, "x-tollgate-customer": "acme" });
    await gateway(key.body.key, "gpt-4o", { "x-tollgate-trace-id": runA, "x-tollgate-customer": "acme" });
    await gateway(key.body.key, "gpt-4o-mini", { "x-tollgate-trace-id": runB, "x-tollgate-customer": "globex" });
    await gateway(key.body.key, "gpt-4o-mini", { "x-tollgate-trace-id": runB, "x-tollgate-customer": "globex" });
    await expect.poll(async () => (await apiAsPage(owner, "GET", `/orgs/${orgId}/cost-events`)).body.data?.length, { timeout: 30_000, interval: 500 }).toBe(5);
  });

  test("cost events: clicking a trace id filters by it (kept in the URL) and shows what that run cost", async () => {
    await owner.goto(`/orgs/${orgId}/cost-events`);
    await owner.getByRole("heading", { level: 1, name: "Cost events" }).waitFor();
    await expect.poll(() => rows(owner).count(), { timeout: 10_000 }).toBe(5);
    expect(await unlabelledControls(owner)).toEqual([]);
    await owner.getByRole("button", { name: `Show trace ${runA}` }).first().click();
    await owner.waitForURL(new RegExp(`trace_id=${runA}`));
    await expect.poll(() => rows(owner).count()).toBe(3);
    const total = (await apiAsPage(owner, "GET", `/orgs/${orgId}/traces/${runA}`)).body;
    const events = (await apiAsPage(owner, "GET", `/orgs/${orgId}/cost-events?trace_id=${runA}`)).body.data as Array<{ cost_micros: number }>;
    expect(total.requests).toBe(3);
    expect(total.cost_micros).toBeGreaterThan(0);
    expect(total.cost_micros).toBe(events.reduce((s, e) => s + e.cost_micros, 0));
    // The dashboard's money format (lib/format.ts): sub-cent amounts keep up to 6 decimals.
    const dollars = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", minimumFractionDigits: 2, maximumFractionDigits: total.cost_micros < 10_000 ? 6 : 2 }).format(total.cost_micros / 1e6);
    await expect.poll(() => owner.getByTestId("trace-total").textContent()).toBe(`This run cost ${dollars} over 3 requests.`);
    expect(await owner.getByLabel("Trace id").inputValue()).toBe(runA);
    await screenshot(owner, "cost-events-trace");
    // The other trace.
    await owner.getByLabel("Trace id").fill(runB);
    await owner.getByRole("button", { name: "Apply filters" }).click();
    await expect.poll(() => owner.getByTestId("trace-total").textContent()).toContain("over 2 requests");
    await expect.poll(() => rows(owner).count()).toBe(2);
    expect(owner.consoleErrors).toEqual([]);
  });

  test("cost events: the model filter narrows, survives a reload, combines with the trace; status and customer filter", async () => {
    await owner.getByRole("button", { name: "Clear" }).click();
    await expect.poll(() => rows(owner).count()).toBe(5);
    expect(await owner.getByTestId("trace-total").count()).toBe(0);
    await owner.getByLabel("Model").fill("gpt-4o");
    await owner.getByRole("button", { name: "Apply filters" }).click();
    await owner.waitForURL(/model=gpt-4o/);
    await expect.poll(() => rows(owner).count()).toBe(1);
    await owner.reload();
    await expect.poll(() => rows(owner).count(), { timeout: 10_000 }).toBe(1);
    expect(await owner.getByLabel("Model").inputValue()).toBe("gpt-4o");
    await owner.getByLabel("Model").fill("gpt-4o-mini");
    await owner.getByLabel("Trace id").fill(runA);
    await owner.getByRole("button", { name: "Apply filters" }).click();
    await expect.poll(() => rows(owner).count()).toBe(2);
    await owner.getByRole("button", { name: "Clear" }).click();
    await owner.getByLabel("Customer").fill("globex");
    await owner.getByRole("button", { name: "Apply filters" }).click();
    await expect.poll(() => rows(owner).count()).toBe(2);
    await owner.getByLabel("Status").selectOption("error");
    await owner.getByText("No cost events match these filters").waitFor();
    await owner.getByLabel("Status").selectOption("ok");
    await expect.poll(() => rows(owner).count()).toBe(2);
    await owner.getByRole("button", { name: "Clear" }).click();
    await owner.getByLabel("Key").selectOption({ label: "agent-runner" });
    await expect.poll(() => rows(owner).count()).toBe(5);
    expect(owner.consoleErrors).toEqual([]);
  });

  let tokenId = "";
  let token = "";
  test("management tokens: an owner creates one (role select capped, token shown once), it works, then revokes it", async () => {
    await owner.goto(`/orgs/${orgId}/tokens`);
    await owner.getByRole("heading", { level: 1, name: "Management tokens" }).waitFor();
    await owner.getByText("No management tokens").waitFor();
    await owner.getByRole("button", { name: "Create token" }).click();
    await owner.getByRole("dialog").waitFor();
    expect(await unlabelledControls(owner)).toEqual([]);
    const roles = await owner.getByLabel("Role").locator("option").evaluateAll((os) => os.map((o) => (o as unknown as { value: string }).value));
    expect(roles).toEqual(["admin", "member", "viewer"]);
    await owner.getByLabel("Name", { exact: true }).fill("ci-deployer");
    await owner.getByLabel("Role").selectOption("member");
    await owner.getByRole("dialog").getByRole("button", { name: "Create token" }).click();
    token = (await owner.getByTestId("new-management-token").textContent()) ?? "";
    expect(token).toMatch(/^tgm_[0-9A-Za-z]{43}$/);
    await owner.getByRole("button", { name: "Copy management token to clipboard" }).click();
    await owner.getByRole("button", { name: "Management token copied" }).waitFor();
    expect(await owner.evaluate("navigator.clipboard.readText()")).toBe(token);
    await screenshot(owner, "token-created-once");
    await owner.getByRole("button", { name: "I've saved it" }).click();
    const row = owner.locator("tr", { has: owner.getByText("ci-deployer", { exact: true }) });
    await row.getByText("active").waitFor();
    await row.getByText("Member").waitFor();
    expect(await owner.content()).not.toContain(token);
    tokenId = (await row.getAttribute("data-token-id")) ?? "";
    expect(tokenId).toMatch(/^tgm_/);

    const useToken = () => fetch(`${workerUrl}/api/orgs/${orgId}/keys`, { headers: { authorization: `Bearer ${token}` } });
    expect((await useToken()).status).toBe(200);
    await owner.reload();
    await row.getByRole("button", { name: "Revoke ci-deployer" }).click();
    await owner.getByRole("dialog").getByRole("button", { name: "Revoke token" }).click();
    await row.getByText("revoked").waitFor();
    expect(await row.getByRole("button", { name: "Revoke ci-deployer" }).isDisabled()).toBe(true);
    expect((await useToken()).status).toBe(401);
    expect(owner.consoleErrors).toEqual([]);
  });

  test("a viewer reads cost events but sees management tokens locked with the reason, and the API refuses them", async () => {
    const email = uniqueEmail("act-viewer");
    expect((await apiAsPage(owner, "POST", `/orgs/${orgId}/invitations`, { email, role: "viewer" })).status).toBe(201);
    const link = await readInviteLink(dashboardUrl, email);
    viewer = await open();
    await viewer.goto(link);
    await viewer.waitForURL(/\/accept-invite\?token=/);
    await viewer.getByRole("button", { name: "I'm new here" }).click();
    await fillSignup(viewer, "Vic Viewer", email);
    await viewer.getByRole("heading", { name: "Overview" }).waitFor();

    await viewer.goto(`/orgs/${orgId}/cost-events?trace_id=${runB}`);
    await expect.poll(() => viewer.getByTestId("trace-total").textContent(), { timeout: 10_000 }).toContain("over 2 requests");
    await expect.poll(() => rows(viewer).count()).toBe(2);

    await viewer.goto(`/orgs/${orgId}/tokens`);
    await viewer.getByRole("heading", { level: 1, name: "Management tokens" }).waitFor();
    await viewer.getByText("Viewers can't do this: only admins and above can.").first().waitFor();
    expect(await viewer.getByRole("button", { name: "Create token" }).isDisabled()).toBe(true);
    expect(await viewer.getByText("ci-deployer").count()).toBe(0);
    expect((await apiAsPage(viewer, "GET", `/orgs/${orgId}/management-tokens`)).status).toBe(403);
    expect((await apiAsPage(viewer, "POST", `/orgs/${orgId}/management-tokens`, { name: "sneaky", role: "viewer" })).status).toBe(403);
    expect((await apiAsPage(viewer, "POST", `/orgs/${orgId}/management-tokens/${tokenId}/revoke`)).status).toBe(403);
    expect(viewer.consoleErrors).toEqual([]);
  });

  test("webhooks and Slack: why Tollgate disabled them is shown, and the endpoint is re-enabled", async () => {
    // Both point at a loopback port nobody listens on (the dev Worker allows private URLs), so every delivery fails.
    const dead = `http://127.0.0.1:${await freePort()}`;
    const url = `${dead}/tollgate/failing`;
    const hook = await apiAsPage(owner, "POST", `/orgs/${orgId}/webhooks`, { url, events: ["budget.exceeded"] });
    expect(hook.status).toBe(201);
    expect((await apiAsPage(owner, "PATCH", `/orgs/${orgId}/settings`, { slack_webhook_url: `${dead}/services/T0/B0/abcd` })).status).toBe(200);
    // Three days cannot pass in a browser test: the only shortcut is that both have been failing since 4 days ago
    // (as a real dispatcher run records it); the next real failing delivery then makes the dispatcher disable them.
    await execLocalD1(workerState, `UPDATE webhooks SET failing_since = ${Date.now() - 4 * 86_400_000} WHERE org_id = '${orgId}'`);
    expect((await apiAsPage(owner, "POST", `/orgs/${orgId}/webhooks/${hook.body.id}/test`)).status).toBe(202);
    expect((await apiAsPage(owner, "POST", `/orgs/${orgId}/settings/slack/test`)).status).toBe(202);
    const reason = "every delivery attempt failed for 3 days";
    await expect.poll(async () => (await apiAsPage(owner, "GET", `/orgs/${orgId}/webhooks/${hook.body.id}`)).body, { timeout: 30_000, interval: 500 }).toMatchObject({ enabled: false, disabled_reason: reason });
    await expect.poll(async () => (await apiAsPage(owner, "GET", `/orgs/${orgId}/settings`)).body.slack_disabled_reason, { timeout: 30_000, interval: 500 }).toBe(reason);

    await owner.goto(`/orgs/${orgId}/webhooks`);
    await owner.getByTestId("webhook-disabled-reason").getByText(reason, { exact: false }).waitFor();
    await owner.getByText("disabled: failing").waitFor();
    await owner.getByRole("button", { name: `Re-enable ${url}` }).click();
    await owner.getByRole("button", { name: `Disable ${url}` }).waitFor();
    expect(await owner.getByTestId("webhook-disabled-reason").count()).toBe(0);
    expect((await apiAsPage(owner, "GET", `/orgs/${orgId}/webhooks/${hook.body.id}`)).body).toMatchObject({ enabled: true, disabled_reason: null });

    await owner.goto(`/orgs/${orgId}/settings`);
    await owner.getByText(/Slack alerts are disabled since .*every delivery attempt failed for 3 days\. Enter the Slack URL again/).waitFor();
    expect(owner.consoleErrors).toEqual([]);
  });

  test("cost events page 50 at a time: Load more fetches the next page with the API cursor", async () => {
    for (let i = 0; i < 46; i += 8) await Promise.all(Array.from({ length: Math.min(8, 46 - i) }, () => gateway(apiKey, "gpt-4o-mini", { "x-tollgate-trace-id": "bulk" })));
    await expect.poll(async () => (await apiAsPage(owner, "GET", `/orgs/${orgId}/cost-events?limit=100`)).body.data?.length, { timeout: 30_000, interval: 500 }).toBe(51);
    await owner.goto(`/orgs/${orgId}/cost-events`);
    await expect.poll(() => rows(owner).count(), { timeout: 10_000 }).toBe(50);
    await owner.getByRole("button", { name: "Load more" }).click();
    await expect.poll(() => rows(owner).count()).toBe(51);
    expect(await owner.getByRole("button", { name: "Load more" }).count()).toBe(0);
    const ids = await rows(owner).evaluateAll((trs) => trs.map((tr) => (tr as unknown as { dataset: { requestId: string } }).dataset.requestId));
    expect(new Set(ids).size).toBe(51);
    expect(owner.consoleErrors).toEqual([]);
  });
});
