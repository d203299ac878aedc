/**
 * Global setup of the `e2e` project: builds the dashboard, starts a mock OpenAI upstream, the real Worker
 * (`wrangler dev --local`, fresh D1) and the one-origin dashboard server, and hands their URLs to the tests.
 */
import { fileURLToPath } from "node:url";
import { build } from "vite";
import type { TestProject } from "vitest/node";
// @ts-expect-error: plain ESM module without type declarations
import { startDashboard } from "../../dashboard/dev-server.mjs";
import { startOpenAiMock } from "../mock-servers/openai";
import { startStripeStandIn } from "../mock-servers/stripe.mjs";
import { freePort, startWorker } from "./support/worker";

declare module "vitest" {
  export interface ProvidedContext {
    /** `workerState`: the Worker's persistence dir, for `execLocalD1`. */
    e2e: { dashboardUrl: string; workerUrl: string; workerState: string; openaiUrl: string; stripeUrl: string };
  }
}

export default async function setup(project: TestProject) {
  await build({ configFile: fileURLToPath(new URL("../../dashboard/vite.config.ts", import.meta.url)), logLevel: "error" });
  const openai = await startOpenAiMock();
  const dashPort = await freePort();
  const dashboardUrl = `http://localhost:${dashPort}`;
  // The Stripe stand-in delivers its signed webhooks to the Worker, whose URL is known only once it runs.
  const stripeOpts: { webhookSecret: string; webhookUrl?: string } = { webhookSecret: "whsec_tollgate_e2e_standin_secret" };
  const stripe = await startStripeStandIn(stripeOpts);
  const worker = await startWorker({
    appUrl: dashboardUrl,
    vars: { STRIPE_API_URL: stripe.url, STRIPE_SECRET_KEY: "sk_test_tollgate_e2e", STRIPE_WEBHOOK_SECRET: stripeOpts.webhookSecret, STRIPE_PRICE_PRO: "price_e2e_pro" },
  });
  stripeOpts.webhookUrl = `${worker.url}/webhooks/stripe`;
  const dash = (await startDashboard({ workerUrl: worker.url, port: dashPort })) as { url: string; close: () => Promise<void> };
  project.provide("e2e", { dashboardUrl: dash.url, workerUrl: worker.url, workerState: worker.state, openaiUrl: openai.url, stripeUrl: stripe.url });
  return async () => {
    await dash.close();
    await worker.stop();
    await openai.close();
    await stripe.close();
  };
}
