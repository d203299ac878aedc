/**
 * Runs in Node before the workerd test pool: starts the local stand-ins for outside services on
 * random loopback ports and hands their URLs to tests via `inject("mockUrls")`.
 * To add one: write `test/mock-servers/<name>.ts` exporting a start function and list it here.
 */
import type { TestProject } from "vitest/node";
import { startDemoUpstream } from "../scripts/demo-upstream.mjs";
import { startAnthropicMock } from "./mock-servers/anthropic";
import { startEchoServer } from "./mock-servers/echo";
import { startGeminiMock } from "./mock-servers/gemini";
import { startOpenAiMock } from "./mock-servers/openai";
import { startSendGridServer } from "./mock-servers/sendgrid";
import { startStripeStandIn } from "./mock-servers/stripe.mjs";
import type { MockServer } from "./mock-servers/types";
import { startWebhookReceiver } from "./mock-servers/webhook-receiver";

/** `npm start`'s demo model provider, as is: tests prove a new user's first calls work against it. */
async function startDemo(): Promise<MockServer> {
  const s = await startDemoUpstream(0);
  return { name: "demo", url: s.url, close: async () => s.close() };
}

const starters: Array<() => Promise<MockServer>> = [startEchoServer, startSendGridServer, () => startOpenAiMock(), () => startAnthropicMock(), () => startGeminiMock(), startDemo, startWebhookReceiver, () => startStripeStandIn()];

declare module "vitest" {
  export interface ProvidedContext {
    mockUrls: Record<string, string>;
  }
}

export default async function setup(project: TestProject) {
  const servers = await Promise.all(starters.map((start) => start()));
  project.provide("mockUrls", Object.fromEntries(servers.map((s) => [s.name, s.url])));
  return async () => {
    await Promise.all(servers.map((s) => s.close()));
  };
}
