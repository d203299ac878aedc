/**
 * The dashboard shell knows the deployment's org mode (from `/api/me`) and the org's branding:
 * multi mode offers the org switcher and "Create organization", single mode (a second Worker started
 * here with ORG_MODE=single, behind its own one-origin server, serving the same built dashboard) offers
 * neither; a display name, logo and accent colour saved in Settings show in the shell.
 */
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import type { Browser } from "playwright-core";
// @ts-expect-error: plain ESM module without type declarations
import { startDashboard } from "../../dashboard/dev-server.mjs";
import { launchBrowser, openPage, screenshot, unlabelledControls } from "./support/browser";
import { apiAsPage, fillSignup, signUp, uniqueEmail } from "./support/flow";
import { freePort, startWorker, type WorkerHandle } from "./support/worker";

const { dashboardUrl } = inject("e2e");
const LOGO = "https://logo.example.com/acme.svg";
const SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="24" height="24"><rect width="24" height="24" fill="#12ab34"/></svg>`;
let browser: Browser;
let single: { worker: WorkerHandle; dash: { url: string; close: () => Promise<void> } } | null = null;

beforeAll(async () => {
  browser = await launchBrowser();
  const port = await freePort();
  const worker = await startWorker({ appUrl: `http://localhost:${port}`, vars: { ORG_MODE: "single" } });
  const dash = (await startDashboard({ workerUrl: worker.url, port, build: false })) as { url: string; close: () => Promise<void> };
  single = { worker, dash };
});
afterAll(async () => {
  await browser?.close();
  await single?.dash.close();
  await single?.worker.stop();
});

describe("org mode in the shell", () => {
  test("multi mode: the org switcher offers the user's orgs and Create organization", async () => {
    const { page } = await openPage(browser, dashboardUrl);
    await signUp(page, "Multi Mona", uniqueEmail("multi"));
    expect((await apiAsPage(page, "GET", "/me")).body.org_mode).toBe("multi");
    const org = await apiAsPage(page, "POST", "/orgs", { name: "Mona Works", slug: `mona-${Date.now().toString(36)}` });
    expect(org.status).toBe(201);
    await page.goto(`/orgs/${org.body.id}`);
    await page.getByRole("heading", { level: 1, name: "Overview" }).waitFor();
    const switcher = page.getByRole("button", { name: /Switch organization/ });
    expect(await switcher.count()).toBe(1);
    await switcher.click();
    await page.getByRole("menuitem", { name: "Create organization" }).waitFor();
    expect(await page.getByRole("menuitemradio").count()).toBe(2); // personal + Mona Works
    expect(page.consoleErrors).toEqual([]);
  });

  test("single mode: no org switcher and no Create organization, the org shown as a label", async () => {
    const { page } = await openPage(browser, single!.dash.url);
    await page.goto("/signup");
    await fillSignup(page, "Solo Sam", uniqueEmail("single"));
    // Single-org mode creates no personal org at signup: the user creates their one org.
    await page.waitForURL((u) => !u.pathname.startsWith("/signup"));
    const me = await apiAsPage(page, "GET", "/me");
    expect(me.body.org_mode).toBe("single");
    expect(me.body.memberships).toEqual([]);
    const org = await apiAsPage(page, "POST", "/orgs", { name: "Solo Corp", slug: `solo-${Date.now().toString(36)}` });
    expect(org.status).toBe(201);
    for (const [width, suffix] of [[1280, ""], [390, "-mobile"]] as const) {
      await page.setViewportSize({ width, height: 844 });
      await page.goto(`/orgs/${org.body.id}`);
      await page.getByRole("heading", { level: 1, name: "Overview" }).waitFor();
      await page.waitForLoadState("networkidle");
      if (width === 390) await page.getByRole("button", { name: "Open navigation" }).click();
      await page.getByTestId("org-label").getByText("Solo Corp").waitFor();
      expect(await page.getByRole("button", { name: /Switch organization/ }).count()).toBe(0);
      expect(await page.getByText("Create organization").count()).toBe(0);
      expect(await unlabelledControls(page)).toEqual([]);
      await screenshot(page, `single-mode-shell${suffix}`);
    }
    // The API agrees: a second org is refused.
    expect((await apiAsPage(page, "POST", "/orgs", { name: "Second" })).status).toBe(409);
    expect(page.consoleErrors).toEqual([]);
  });
});

describe("branding in the shell", () => {
  test("display name, logo (with alt text) and accent colour saved in Settings show in the sidebar", async () => {
    const { page } = await openPage(browser, dashboardUrl);
    await page.route(LOGO, (route) => route.fulfill({ status: 200, contentType: "image/svg+xml", body: SVG }));
    await signUp(page, "Brand Bea", uniqueEmail("brand"));
    const org = await apiAsPage(page, "POST", "/orgs", { name: "Bea Labs", slug: `bea-${Date.now().toString(36)}` });
    expect(org.status).toBe(201);
    await page.goto(`/orgs/${org.body.id}/settings`);
    await page.getByRole("heading", { level: 1, name: "Settings" }).waitFor();
    expect(await page.getByTestId("brand").innerText()).toContain("Tollgate");
    await page.getByLabel("Display name").fill("Acme AI");
    await page.getByLabel("Logo URL").fill(LOGO);
    await page.getByLabel("Accent color", { exact: true }).fill("#12AB34");
    await page.getByRole("button", { name: "Save changes" }).click();
    const logo = page.getByRole("img", { name: "Acme AI logo" });
    await logo.waitFor();
    expect(await logo.getAttribute("src")).toBe(LOGO);
    expect(await page.getByTestId("brand").innerText()).toContain("Acme AI");
    expect(await page.evaluate(`getComputedStyle(document.querySelector(".shell")).getPropertyValue("--accent").trim()`)).toBe("#12ab34");
    // The active navigation item takes the org's colour.
    expect(await page.evaluate(`getComputedStyle(document.querySelector(".nav a.active")).color`)).toBe("rgb(18, 171, 52)");
    const settings = await apiAsPage(page, "GET", `/orgs/${org.body.id}/settings`);
    expect(settings.body.branding).toEqual({ display_name: "Acme AI", logo_url: LOGO, accent_color: "#12ab34" });
    await screenshot(page, "branded-shell");
    expect(page.consoleErrors).toEqual([]);
  });
});
