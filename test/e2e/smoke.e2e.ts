import { afterAll, beforeAll, expect, inject, test } from "vitest";
import type { Browser } from "playwright-core";
import { launchBrowser, openPage, screenshot } from "./support/browser";

const { dashboardUrl } = inject("e2e");
let browser: Browser;
beforeAll(async () => { browser = await launchBrowser(); });
afterAll(async () => { await browser?.close(); });

test("sign up lands on the personal org overview", async () => {
  const { page, context } = await openPage(browser, dashboardUrl);
  await page.goto("/");
  await page.waitForURL("**/login");
  await screenshot(page, "login");
  await page.getByRole("link", { name: "Create an account" }).click();
  await page.getByLabel("Full name").fill("Ada Lovelace");
  await page.getByLabel("Work email").fill(`ada-${Date.now()}@example.com`);
  await page.getByLabel("Password").fill("correct horse battery");
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByRole("heading", { name: "Overview" }).waitFor();
  await screenshot(page, "overview-empty");
  expect(page.consoleErrors).toEqual([]);
  await context.close();
});
