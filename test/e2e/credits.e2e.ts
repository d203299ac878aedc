/**
 * Prepaid credits in the dashboard: a Worker started here with CREDITS_ENABLED=true (as `npm start` runs
 * it), behind its own one-origin server serving the built dashboard. A new user sees their $5.00 signup
 * credit in the sidebar and on the Credits page.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Browser } from "playwright-core";
// @ts-expect-error: plain ESM module without type declarations
import { startDashboard } from "../../dashboard/dev-server.mjs";
import { launchBrowser, openPage, screenshot } from "./support/browser";
import { orgIdOf, signUp, uniqueEmail } from "./support/flow";
import { freePort, startWorker, type WorkerHandle } from "./support/worker";

let browser: Browser;
let prepaid: { worker: WorkerHandle; dash: { url: string; close: () => Promise<void> } } | null = null;

beforeAll(async () => {
  browser = await launchBrowser();
  const port = await freePort();
  const worker = await startWorker({ appUrl: `http://localhost:${port}`, vars: { CREDITS_ENABLED: "true" } });
  const dash = (await startDashboard({ workerUrl: worker.url, port, build: false })) as { url: string; close: () => Promise<void> };
  prepaid = { worker, dash };
});
afterAll(async () => {
  await browser?.close();
  await prepaid?.dash.close();
  await prepaid?.worker.stop();
});

describe("prepaid credits", () => {
  test("a new user sees the $5.00 signup credit in the sidebar and on the Credits page", async () => {
    const { page } = await openPage(browser, prepaid!.dash.url);
    await signUp(page, "Credit Cleo", uniqueEmail("credits"));
    const balance = page.getByTestId("credits-balance");
    await balance.waitFor();
    expect((await balance.textContent())?.replace(/\s+/g, " ").trim()).toBe("Credits: $5.00");
    await balance.click();
    await page.waitForURL((u) => u.pathname === `/orgs/${orgIdOf(u.toString())}/credits`);
    await page.getByRole("heading", { level: 1, name: "Credits" }).waitFor();
    expect(await page.getByTestId("credits-page-balance").textContent()).toBe("$5.00");
    await page.getByRole("cell", { name: "Signup credit" }).waitFor();
    await screenshot(page, "credits-page");
    expect(page.consoleErrors).toEqual([]);
  });
});
