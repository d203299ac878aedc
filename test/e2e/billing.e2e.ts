/**
 * Billing in real Chromium against the real Worker and the Stripe stand-in: the owner upgrades free → pro
 * from the Billing page (Checkout on the stand-in "pays" and fires the signed webhooks), comes back to the
 * dashboard on Pro, and the very next proxied request carries the Pro org RPM cap.
 */
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import type { Browser, BrowserContext } from "playwright-core";
import { launchBrowser, openPage, screenshot, type TrackedPage } from "./support/browser";
import { apiAsPage, signUp, uniqueEmail } from "./support/flow";

const { dashboardUrl, workerUrl, openaiUrl, stripeUrl } = inject("e2e");
let browser: Browser;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  browser = await launchBrowser();
});
afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close();
});

const chat = (key: string) =>
  fetch(`${workerUrl}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hello" }], max_tokens: 16 }),
  });

describe.sequential("billing page", () => {
  let owner: TrackedPage;
  let orgId = "";
  let key = "";

  test("the owner upgrades free → pro through Checkout and the next proxied request has the Pro RPM cap", async () => {
    const o = await openPage(browser, dashboardUrl);
    contexts.push(o.context);
    owner = o.page;
    await signUp(owner, "Bea Billing", uniqueEmail("billing-owner"));
    const org = await apiAsPage(owner, "POST", "/orgs", { name: "Pay Labs", slug: `pay-${Date.now().toString(36)}` });
    expect(org.status).toBe(201);
    orgId = org.body.id;
    expect((await apiAsPage(owner, "POST", `/orgs/${orgId}/providers`, { name: "openai", type: "openai", base_url: `${openaiUrl}/v1`, api_key: "sk-mock-upstream-key", is_default: true })).status).toBe(201);
    const created = await apiAsPage(owner, "POST", `/orgs/${orgId}/keys`, { name: "billing-e2e" });
    expect(created.status).toBe(201);
    key = created.body.key;
    const before = await chat(key);
    expect(before.status, await before.clone().text()).toBe(200);
    expect(before.headers.get("x-ratelimit-limit-requests")).toBe("600");

    await owner.goto(`/orgs/${orgId}/billing`);
    await owner.getByRole("heading", { level: 1, name: "Billing" }).waitFor();
    await owner.getByTestId("current-plan").getByText("Free", { exact: true }).waitFor();
    await owner.getByRole("button", { name: "Upgrade to Pro" }).click();
    await owner.waitForURL(`${stripeUrl}/checkout/pay/**`);
    await owner.getByRole("button", { name: "Pay and subscribe" }).click();
    await owner.waitForURL(`**/orgs/${orgId}/billing?checkout=success**`);
    await owner.getByTestId("current-plan").getByText("Pro", { exact: true }).waitFor({ timeout: 15_000 });
    await owner.getByTestId("current-plan").getByText("active").waitFor();
    await screenshot(owner, "billing-pro");

    const after = await chat(key);
    expect(after.status).toBe(200);
    expect(after.headers.get("x-ratelimit-limit-requests")).toBe("6000");
    const billing = await apiAsPage(owner, "GET", `/orgs/${orgId}/billing`);
    expect(billing.body).toMatchObject({ plan: { id: "pro" }, subscription: { status: "active" } });
    expect(billing.body.billing_anchor).not.toBeNull();
    expect(owner.consoleErrors).toEqual([]);
  });

  test("after the subscription ends with 12 keys on Free (10), every page shows the plan-limit banner and the keys still work", async () => {
    for (let i = 0; i < 11; i++) expect((await apiAsPage(owner, "POST", `/orgs/${orgId}/keys`, { name: `extra-${i}` })).status).toBe(201);
    const subId = (await apiAsPage(owner, "GET", `/orgs/${orgId}/billing`)).body.subscription.id;
    // Stripe ends the subscription; the stand-in sends customer.subscription.deleted to the Worker.
    const ended = await fetch(`${stripeUrl}/v1/subscriptions/${subId}`, { method: "DELETE", headers: { authorization: "Bearer sk_test_tollgate_e2e" } });
    expect(ended.status).toBe(200);
    await expect.poll(async () => (await apiAsPage(owner, "GET", `/orgs/${orgId}/billing`)).body.plan.id, { timeout: 15_000 }).toBe("free");

    for (const page of ["keys", "budgets", ""]) {
      await owner.goto(`/orgs/${orgId}/${page}`);
      const banner = owner.getByTestId("plan-limit-banner");
      await banner.waitFor({ timeout: 15_000 });
      expect(await banner.textContent()).toContain("API keys (12 of 10)");
    }
    await screenshot(owner, "billing-over-limit-banner");
    expect((await chat(key)).status).toBe(200);
    const refused = await apiAsPage(owner, "POST", `/orgs/${orgId}/keys`, { name: "thirteenth" });
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatchObject({ code: "plan_limit", limit_name: "keys", upgrade_plan: "pro" });
  });
});
