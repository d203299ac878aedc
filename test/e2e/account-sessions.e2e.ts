/**
 * Account page: a user signed in on two browsers sees both sessions (this one marked), signs the other
 * out (its next API call is refused), then changes the password, which signs out every other session.
 */
import { afterAll, beforeAll, expect, inject, test } from "vitest";
import type { Browser } from "playwright-core";
import { launchBrowser, openPage, screenshot } from "./support/browser";
import { apiAsPage, PASSWORD, signUp, uniqueEmail } from "./support/flow";

const { dashboardUrl } = inject("e2e");
let browser: Browser;
beforeAll(async () => {
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
});

async function signInElsewhere(email: string, password: string) {
  const { page } = await openPage(browser, dashboardUrl);
  await page.goto("/login");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Overview" }).waitFor();
  return page;
}

test("lists sessions, signs another browser out, and a password change signs out the rest", async () => {
  const email = uniqueEmail("sessions");
  const { page } = await openPage(browser, dashboardUrl);
  await signUp(page, "Sam Sessions", email);
  const laptop = await signInElsewhere(email, PASSWORD);

  await page.getByRole("button", { name: `Account menu for ${email}` }).click();
  await page.getByRole("menuitem", { name: "Account & sessions" }).click();
  await page.getByRole("heading", { name: "Account" }).waitFor();
  const table = page.getByRole("table", { name: "Sessions" });
  await expect.poll(() => table.locator("tbody tr").count()).toBe(2);
  await expect.poll(() => table.getByText("This session").count()).toBe(1);
  await screenshot(page, "account-sessions");

  await table.locator("tbody tr", { hasNotText: "This session" }).getByRole("button", { name: "Sign out" }).click();
  await page.getByText("Session signed out.").waitFor();
  await expect.poll(() => table.locator("tbody tr").count()).toBe(1);
  expect((await apiAsPage(laptop, "GET", "/me")).status).toBe(401);
  expect((await apiAsPage(page, "GET", "/me")).status).toBe(200);

  const phone = await signInElsewhere(email, PASSWORD);
  await page.getByLabel("Current password").fill(PASSWORD);
  await page.getByLabel("New password").fill("an entirely new passphrase");
  await page.getByRole("button", { name: "Change password" }).click();
  await page.getByText("Password changed. 1 other session signed out.").waitFor();
  expect((await apiAsPage(phone, "GET", "/me")).status).toBe(401);
  expect((await apiAsPage(page, "GET", "/me")).status).toBe(200);
  expect(page.consoleErrors).toEqual([]);
});
