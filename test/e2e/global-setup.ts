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
import { freePort, startWorker } from "./support/worker";

declare module "vitest" {
  export interface ProvidedContext {
    e2e: { dashboardUrl: string; workerUrl: string; openaiUrl: string };
  }
}

export default async function setup(project: TestProject) {
  await build({ configFile: fileURLToPath(new URL("../../dashboard/vite.config.ts", import.meta.url)), logLevel: "error" });
  const openai = await startOpenAiMock();
  const dashPort = await freePort();
  const dashboardUrl = `http://localhost:${dashPort}`;
  const worker = await startWorker({ appUrl: dashboardUrl });
  const dash = (await startDashboard({ workerUrl: worker.url, port: dashPort })) as { url: string; close: () => Promise<void> };
  project.provide("e2e", { dashboardUrl: dash.url, workerUrl: worker.url, openaiUrl: openai.url });
  return async () => {
    await dash.close();
    await worker.stop();
    await openai.close();
  };
}
