/**
 * Prepaid credits in the dashboard: a Worker started here with CREDITS_ENABLED=true (as `npm start` runs
 * it), behind its own one-origin server serving the built dashboard, with its own Stripe stand-in delivering
 * signed webhooks to it. A new user sees their $5.00 signup credit in the sidebar and on the Credits page, and
 * tops up through Checkout on the Billing page.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Browser } from "playwright-core";
// @ts-expect-error: plain ESM module without type declarations
import { startDashboard } from "../../dashboard/dev-server.mjs";
import { launchBrowser, openPage, screenshot } from "./support/browser";
import { orgIdOf, signUp, uniqueEmail } from "./support/flow";
import { freePort, startWorker, type WorkerHandle } from "./support/worker";
import { startStripeStandIn } from "../mock-servers/stripe.mjs";

let browser: Browser;
let prepaid: { worker: WorkerHandle; dash: { url: string; close: () => Promise<void> }; stripe: { url: string; close: () => Promise<void> } } | null = null;

beforeAll(async () => {
  browser = await launchBrowser();
  // The stand-in listens first: a port freePort() just released could otherwise be handed to it.
  const stripeOpts: { webhookSecret: string; webhookUrl?: string } = { webhookSecret: "whsec_tollgate_e2e_credits_standin" };
  const stripe = await startStripeStandIn(stripeOpts);
  const port = await freePort();
  const worker = await startWorker({
    appUrl: `http://localhost:${port}`,
    vars: { CREDITS_ENABLED: "true", STRIPE_API_URL: stripe.url, STRIPE_SECRET_KEY: "sk_test_tollgate_e2e_credits", STRIPE_WEBHOOK_SECRET: stripeOpts.webhookSecret },
  });
  stripeOpts.webhookUrl = `${worker.url}/webhooks/stripe`;
  const dash = (await startDashboard({ workerUrl: worker.url, port, build: false })) as { url: string; close: () => Promise<void> };
  prepaid = { worker, dash, stripe };
});
afterAll(async () => {
  await browser?.close();
  await prepaid?.dash.close();
  await prepaid?.worker.stop();
  await prepaid?.stripe.close();
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

  test("the owner tops up $20 through Checkout on the Billing page and sees the balance rise", async () => {
    const { page } = await openPage(browser, prepaid!.dash.url);
    await signUp(page, "Topup Tara", uniqueEmail("topup"));
    await page.getByTestId("credits-balance").waitFor();
    const orgId = orgIdOf(page.url());
    await page.goto(`/orgs/${orgId}/billing`);
    await page.getByRole("heading", { level: 1, name: "Billing" }).waitFor();
    expect(await page.getByTestId("billing-credit-balance").textContent()).toBe("$5.00");
    await page.getByTestId("topup-amount").fill("20");
    await page.getByRole("button", { name: "Top up" }).click();
    await page.waitForURL(`${prepaid!.stripe.url}/checkout/pay/**`);
    // Free plan: $20.00 of credit plus the 5% platform fee.
    expect(await page.locator("#total").textContent()).toBe("$21.00");
    await page.getByRole("button", { name: "Pay", exact: true }).click();
    await page.waitForURL(`**/orgs/${orgId}/billing?topup=success**`);
    await page.getByTestId("billing-credit-balance").getByText("$25.00").waitFor({ timeout: 15_000 });
    await screenshot(page, "billing-topup");
    await page.getByRole("link", { name: "Ledger and usage" }).click();
    await page.getByRole("cell", { name: "Top-up" }).waitFor();
    expect(await page.getByTestId("credits-page-balance").textContent()).toBe("$25.00");
    expect(page.consoleErrors).toEqual([]);
  });
});
