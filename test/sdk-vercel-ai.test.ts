/**
 * The Vercel AI SDK (`ai` + `@ai-sdk/openai` / `@ai-sdk/openai-compatible`), unmodified, against the
 * gateway: only baseURL, apiKey and the fetch that reaches the Worker are set. Backed by the OpenAI
 * stand-in and by `npm start`'s demo provider (scripts/demo-upstream.mjs, as a new user meets it).
 */
import { createOpenAI } from "@ai-sdk/openai";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { generateText, stepCountIs, streamText, tool, type LanguageModel } from "ai";
import { SELF } from "cloudflare:test";
import { inject } from "vitest";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { createOrg, createUser } from "./factories";
import { costEventOf, costEvents, createGatewayOrg, createSealedProvider, flushGate, waitForSettled } from "./factories/gateway";
import { createKey } from "./factories/keys";

const workerFetch = ((url: string | URL | Request, init?: RequestInit) => SELF.fetch(url instanceof Request ? url : String(url), init)) as typeof fetch;

const openaiFor = (apiKey: string) => createOpenAI({ apiKey, baseURL: "http://localhost/v1", fetch: workerFetch });
const compatibleFor = (apiKey: string) => createOpenAICompatible({ name: "tollgate", apiKey, baseURL: "http://localhost/v1", fetch: workerFetch, includeUsage: true });

/** An org set up exactly like `npm start` seeds it: one `openai_compatible` provider "demo" (default) at the demo provider. */
async function demoOrg() {
  const owner = await createUser();
  const org = await createOrg(owner, { plan: "pro" });
  await createSealedProvider(org, { name: "demo", type: "openai_compatible", baseUrl: `${inject("mockUrls").demo}/v1`, apiKey: "demo-upstream-key", isDefault: true });
  const key = await createKey(org, owner, { name: "demo key" });
  return { org, key };
}

const weather = tool({
  description: "Current weather in a city",
  inputSchema: z.object({ city: z.string() }),
  execute: async ({ city }) => ({ city, forecast: "sunny", celsius: 21 }),
});

type Backend = { name: string; setup: () => Promise<{ org: { id: string }; key: { key: string } }>; model: string; text: RegExp };
const backends: Backend[] = [
  { name: "the OpenAI stand-in", setup: () => createGatewayOrg(), model: "gpt-4o-mini", text: /^Héllo wörld – 你好$/ },
  { name: "npm start's demo provider", setup: demoOrg, model: "gpt-4o-mini", text: /Tollgate demo provider/ },
];

const apis: Array<{ api: string; model: (apiKey: string, model: string) => LanguageModel }> = [
  { api: "openai.chat", model: (k, m) => openaiFor(k).chat(m) },
  { api: "openai.responses", model: (k, m) => openaiFor(k).responses(m) },
  { api: "openai (default = Responses)", model: (k, m) => openaiFor(k)(m) },
  { api: "openai-compatible", model: (k, m) => compatibleFor(k).chatModel(m) },
];

/** An org with a `gemini` provider at the Gemini stand-in (besides the default OpenAI one). */
async function geminiOrg() {
  const f = await createGatewayOrg();
  await createSealedProvider(f.org, { name: "gemini", type: "gemini", baseUrl: `${inject("mockUrls").gemini}/v1beta`, apiKey: "AIza-test" });
  return f;
}

/** Chat models translated to another provider's format (the Responses API is not translated). */
const translated: Backend[] = [
  { name: "the Anthropic stand-in (translated)", setup: () => createGatewayOrg(), model: "anthropic/claude-sonnet-4-5", text: /^Héllo wörld – 你好$/ },
  { name: "the Gemini stand-in (translated)", setup: geminiOrg, model: "gemini/gemini-2.5-flash", text: /^Héllo wörld – 你好$/ },
];

describe.each(translated)("the Vercel AI SDK's chat models against Tollgate backed by $name", (b) => {
  describe.each(apis.filter((a) => a.api === "openai.chat" || a.api === "openai-compatible"))("$api", ({ model }) => {
    it("generateText and streamText return the text with exact usage", async () => {
      const { org, key } = await b.setup();
      const r = await generateText({ model: model(key.key, b.model), prompt: "Hello", maxRetries: 0 });
      expect(r.text).toMatch(b.text);
      expect(r.usage.outputTokens).toBe(5);
      const s = streamText({ model: model(key.key, b.model), prompt: "Hello", maxRetries: 0 });
      let text = "";
      for await (const part of s.textStream) text += part;
      expect(text).toMatch(b.text);
      expect((await s.usage).outputTokens).toBe(5);
      await waitForSettled(org.id);
      await flushGate(org.id);
      const evs = await costEvents(org.id);
      expect(evs.map((e) => [e.estimated, e.output_tokens])).toEqual([[0, 5], [0, 5]]);
    });

    it("generateText and streamText run a tool call round trip", async () => {
      const { key } = await b.setup();
      const r = await generateText({ model: model(key.key, b.model), prompt: "Weather in Paris?", tools: { weather }, stopWhen: stepCountIs(3), maxRetries: 0 });
      expect(r.steps.length).toBe(2);
      expect(r.steps[0]!.toolCalls[0]).toMatchObject({ toolName: "weather", input: { city: "Paris" } });
      expect(r.steps[0]!.toolResults[0]!.output).toMatchObject({ forecast: "sunny" });
      expect(r.text).toMatch(b.text);
      const s = streamText({ model: model(key.key, b.model), prompt: "Weather in Paris?", tools: { weather }, stopWhen: stepCountIs(3), maxRetries: 0 });
      let text = "";
      for await (const part of s.textStream) text += part;
      const steps = await s.steps;
      expect(steps.length).toBe(2);
      expect(steps[0]!.toolCalls[0]).toMatchObject({ toolName: "weather", input: { city: "Paris" } });
      expect(text).toContain("Héllo wörld – 你好");
    });
  });
});

describe.each(backends)("the Vercel AI SDK against Tollgate backed by $name", (b) => {
  describe.each(apis)("$api", ({ model }) => {
    it("generateText returns the text and exact usage, and the call is charged", async () => {
      const { org, key } = await b.setup();
      const r = await generateText({ model: model(key.key, b.model), prompt: "Hello", maxRetries: 0 });
      expect(r.text).toMatch(b.text);
      expect(r.usage.outputTokens).toBeGreaterThan(0);
      expect(r.usage.inputTokens).toBeGreaterThan(0);
      const requestId = r.response.headers?.["x-request-id"];
      expect(requestId).toMatch(/^req_/);
      const ev = (await costEventOf(org.id, requestId!))!;
      expect(ev).toMatchObject({ output_tokens: r.usage.outputTokens, estimated: 0, status: 200 });
      expect(ev.cost_micros).toBeGreaterThan(0);
    });

    it("streamText streams the text and reports usage", async () => {
      const { org, key } = await b.setup();
      const r = streamText({ model: model(key.key, b.model), prompt: "Hello", maxRetries: 0 });
      let text = "";
      let deltas = 0;
      for await (const part of r.textStream) {
        text += part;
        deltas++;
      }
      expect(text).toMatch(b.text);
      expect(deltas).toBeGreaterThan(1);
      const usage = await r.usage;
      expect(usage.outputTokens).toBeGreaterThan(0);
      await waitForSettled(org.id);
      await flushGate(org.id);
      const evs = await costEvents(org.id);
      expect(evs).toHaveLength(1);
      expect(evs[0]).toMatchObject({ estimated: 0, output_tokens: usage.outputTokens });
    });

    it("generateText runs a tool call round trip", async () => {
      const { org, key } = await b.setup();
      const r = await generateText({ model: model(key.key, b.model), prompt: "Weather in Paris?", tools: { weather }, stopWhen: stepCountIs(3), maxRetries: 0 });
      expect(r.steps.length).toBe(2);
      const call = r.steps[0]!.toolCalls[0]!;
      expect(call.toolName).toBe("weather");
      expect(call.input).toMatchObject({ city: expect.any(String) });
      expect(r.steps[0]!.toolResults[0]!.output).toMatchObject({ forecast: "sunny" });
      expect(r.text).toMatch(b.text);
      await waitForSettled(org.id);
      await flushGate(org.id);
      expect((await costEvents(org.id)).every((e) => e.estimated === 0 && e.cost_micros > 0)).toBe(true);
      expect(await costEvents(org.id)).toHaveLength(2);
    });

    it("streamText runs a tool call round trip", async () => {
      const { key } = await b.setup();
      const r = streamText({ model: model(key.key, b.model), prompt: "Weather in Paris?", tools: { weather }, stopWhen: stepCountIs(3), maxRetries: 0 });
      let text = "";
      for await (const part of r.textStream) text += part;
      const steps = await r.steps;
      expect(steps.length).toBe(2);
      expect(steps[0]!.toolCalls[0]).toMatchObject({ toolName: "weather", input: { city: expect.any(String) } });
      expect(text).toMatch(b.text);
    });
  });
});
