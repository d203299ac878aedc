/**
 * The invitation accept page beyond the new-user path: a signed-in invitee accepts in one click, a signed-out
 * existing user signs in on the page and is joined, and a revoked link explains itself (410) instead of failing.
 */
import { afterAll, beforeAll, expect, inject, test } from "vitest";
import type { Browser } from "playwright-core";
import { launchBrowser, openPage, screenshot, type TrackedPage } from "./support/browser";
import { apiAsPage, orgIdOf, PASSWORD, readInviteLink, signUp, uniqueEmail } from "./support/flow";

const { dashboardUrl } = inject("e2e");
let browser: Browser;
let owner: TrackedPage;
let orgId = "";
beforeAll(async () => {
  browser = await launchBrowser();
  owner = (await openPage(browser, dashboardUrl)).page;
  await signUp(owner, "Irene Inviter", uniqueEmail("inviter"));
  const org = await apiAsPage(owner, "POST", "/orgs", { name: "Invite Co", slug: `invite-co-${Date.now().toString(36)}` });
  expect(org.status).toBe(201);
  orgId = org.body.id;
});
afterAll(async () => {
  await browser?.close();
});

const invite = async (email: string, role = "member") => {
  const res = await apiAsPage(owner, "POST", `/orgs/${orgId}/invitations`, { email, role });
  expect(res.status).toBe(201);
  return res.body.id as string;
};

test("a signed-in invitee accepts with one click and lands in the org", async () => {
  const email = uniqueEmail("existing");
  const { page } = await openPage(browser, dashboardUrl);
  await signUp(page, "Eve Existing", email);
  await invite(email, "viewer");
  await page.goto(await readInviteLink(dashboardUrl, email));
  await page.getByText(`Signed in as ${email}`).waitFor();
  await screenshot(page, "accept-invite-signed-in");
  await page.getByRole("button", { name: "Accept invitation" }).click();
  await page.waitForURL((u) => orgIdOf(u.toString()) === orgId);
  await page.getByRole("button", { name: /Organization: Invite Co/ }).waitFor();
  expect(page.consoleErrors).toEqual([]);
});

test("a signed-out existing user signs in on the invitation page and is joined", async () => {
  const email = uniqueEmail("returning");
  const first = await openPage(browser, dashboardUrl);
  await signUp(first.page, "Rita Returning", email);
  await first.context.close();
  await invite(email);
  const { page } = await openPage(browser, dashboardUrl);
  await page.goto(await readInviteLink(dashboardUrl, email));
  await page.getByRole("button", { name: "I have an account" }).click();
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL((u) => orgIdOf(u.toString()) === orgId);
  const me = await apiAsPage(page, "GET", "/me");
  expect(me.body.memberships.some((m: { org: { id: string }; role: string }) => m.org.id === orgId && m.role === "member")).toBe(true);
});

test("a revoked invitation link explains it can't be used and offers no accept button", async () => {
  const email = uniqueEmail("revoked");
  const id = await invite(email);
  const link = await readInviteLink(dashboardUrl, email);
  expect((await apiAsPage(owner, "DELETE", `/orgs/${orgId}/invitations/${id}`)).status).toBe(200);
  const { page } = await openPage(browser, dashboardUrl);
  await page.goto(link);
  await page.getByRole("heading", { name: "This invitation can't be used" }).waitFor();
  await screenshot(page, "accept-invite-revoked");
  expect(await page.getByRole("button", { name: "Accept invitation" }).count()).toBe(0);
  expect(page.consoleErrors).toEqual([]);
});
