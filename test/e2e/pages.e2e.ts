/**
 * Every main page, as an owner with some data, at desktop (1280) and phone (390) width: it renders without
 * console errors or 5xx answers, every control has an accessible name, and a screenshot is saved for review.
 */
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import type { Browser } from "playwright-core";
import { launchBrowser, openPage, screenshot, unlabelledControls, type TrackedPage } from "./support/browser";
import { apiAsPage, signUp, uniqueEmail } from "./support/flow";

const { dashboardUrl } = inject("e2e");
let browser: Browser;
let page: TrackedPage;
let orgId = "";

const PAGES: Array<[string, string]> = [
  ["", "Overview"], ["usage", "Usage"], ["cost-events", "Cost events"], ["keys", "API keys"], ["budgets", "Budgets & limits"], ["providers", "Providers & pricing"], ["webhooks", "Webhooks"], ["guardrails", "Guardrails"],
  ["teams", "Teams"], ["members", "Members"], ["tokens", "Management tokens"], ["audit", "Audit trail"], ["billing", "Billing"], ["settings", "Settings"],
];

beforeAll(async () => {
  browser = await launchBrowser();
  page = (await openPage(browser, dashboardUrl)).page;
  await signUp(page, "Grace Hopper", uniqueEmail("grace"));
  const org = await apiAsPage(page, "POST", "/orgs", { name: "Hopper Labs", slug: `hopper-${Date.now().toString(36)}` });
  expect(org.status).toBe(201);
  orgId = org.body.id;
  const team = await apiAsPage(page, "POST", `/orgs/${orgId}/teams`, { name: "Search" });
  expect(team.status).toBe(201);
  expect((await apiAsPage(page, "POST", `/orgs/${orgId}/keys`, { name: "search-prod", team_id: team.body.id, rpm: 600 })).status).toBe(201);
  expect((await apiAsPage(page, "POST", `/orgs/${orgId}/budgets`, { scope: "org", limit_usd: "500", period: "monthly", mode: "hard" })).status).toBe(201);
  expect((await apiAsPage(page, "POST", `/orgs/${orgId}/guardrails`, { name: "No personal data in prompts to external providers", kind: "pii", action: "redact" })).status).toBe(201);
  expect((await apiAsPage(page, "POST", `/orgs/${orgId}/webhooks`, { url: "https://hooks.example.com/tollgate/a-rather-long-endpoint-path-for-phones", events: ["budget.threshold", "budget.exceeded", "key.created"], description: "Ops alerts" })).status).toBe(201);
  expect((await apiAsPage(page, "POST", `/orgs/${orgId}/invitations`, { email: uniqueEmail("pending"), role: "member" })).status).toBe(201);
  expect((await apiAsPage(page, "POST", `/orgs/${orgId}/management-tokens`, { name: "terraform-ci", role: "admin", expires_at: new Date(Date.now() + 30 * 86_400_000).toISOString() })).status).toBe(201);
});
afterAll(async () => {
  await browser?.close();
});

describe("main pages", () => {
  for (const [path, title] of PAGES) {
    test(`${title}: renders, labelled controls, clean console, desktop and phone`, async () => {
      page.consoleErrors.length = 0;
      page.serverErrors.length = 0;
      const slug = path || "overview";
      for (const [width, height, suffix] of [[1280, 860, ""], [390, 844, "-mobile"]] as const) {
        await page.setViewportSize({ width, height });
        await page.goto(`/orgs/${orgId}${path ? `/${path}` : ""}`);
        await page.getByRole("heading", { level: 1, name: title }).waitFor();
        await page.waitForLoadState("networkidle");
        expect(await unlabelledControls(page)).toEqual([]);
        // Nothing overflows the phone viewport horizontally (tables scroll inside their card).
        if (width === 390) expect(await page.evaluate("document.documentElement.scrollWidth")).toBeLessThanOrEqual(390);
        await screenshot(page, `${slug}${suffix}`);
      }
      expect(page.consoleErrors).toEqual([]);
      expect(page.serverErrors).toEqual([]);
    });
  }

  test("dialogs are labelled too: create key, create budget, invite by CSV", async () => {
    await page.setViewportSize({ width: 1280, height: 860 });
    await page.goto(`/orgs/${orgId}/keys`);
    await page.getByRole("button", { name: "Create key" }).click();
    await page.getByRole("dialog").waitFor();
    expect(await unlabelledControls(page)).toEqual([]);
    await screenshot(page, "dialog-create-key");
    await page.keyboard.press("Escape");
    await page.goto(`/orgs/${orgId}/budgets`);
    await page.getByRole("button", { name: "Create budget" }).click();
    await page.getByRole("dialog").waitFor();
    expect(await unlabelledControls(page)).toEqual([]);
    await page.keyboard.press("Escape");
    expect(await page.getByRole("dialog").count()).toBe(0);
    expect(page.consoleErrors).toEqual([]);
  });
});
