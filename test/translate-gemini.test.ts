/**
 * The `gemini` provider type: `/v1/chat/completions` translated to the Gemini API
 * (`generateContent`, `streamGenerateContent?alt=sse`) and back, priced from Gemini's own
 * `usageMetadata` (cached and thinking tokens included) to the micro-dollar.
 */
import { SELF } from "cloudflare:test";
import OpenAI from "openai";
import { describe, expect, inject, it } from "vitest";
import { CATALOG } from "../src/pricing/catalog";
import { call, createOrgWithCast, createOrg, createUser } from "./factories";
import { costEventOf, createSealedProvider, gateCounters, upstreamRecord, v1, waitForSettled } from "./factories/gateway";
import { createKey } from "./factories/keys";
import { GEMINI_THOUGHT_SIGNATURE } from "./mock-servers/gemini";

const GEMINI_KEY = "AIza-upstream-gemini-test-0001";
const MODEL = "gemini/gemini-2.5-flash";
const client = (apiKey: string) => new OpenAI({ apiKey, baseURL: "http://localhost/v1", fetch: (url, init) => SELF.fetch(url as string, init as RequestInit), maxRetries: 0 });
const weatherTool = { type: "function" as const, function: { name: "weather", description: "Current weather", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"], additionalProperties: false } } };

/** An org whose default provider is `openai` (the stand-in) with a `gemini` provider at the Gemini stand-in. */
async function geminiOrg() {
  const owner = await createUser();
  const org = await createOrg(owner, { plan: "pro" });
  const urls = inject("mockUrls");
  await createSealedProvider(org, { name: "openai", type: "openai", baseUrl: `${urls.openai}/v1`, apiKey: "sk-upstream-openai", isDefault: true });
  await createSealedProvider(org, { name: "gemini", type: "gemini", baseUrl: `${urls.gemini}/v1beta`, apiKey: GEMINI_KEY });
  const key = await createKey(org, owner, { name: "gemini test" });
  return { org, key };
}

/** The stand-in's prompt count for what it received: ⌈UTF-8 bytes of every string under systemInstruction + contents ÷ 4⌉ (+ cached). */
function mockPromptTokens(upstreamBody: any, cached = 0): number {
  const out: string[] = [];
  const walk = (v: unknown) => {
    if (typeof v === "string") out.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === "object") Object.values(v).forEach(walk);
  };
  walk([upstreamBody.systemInstruction, upstreamBody.contents]);
  return Math.max(1, Math.ceil(out.reduce((n, s) => n + new TextEncoder().encode(s).byteLength, 0) / 4)) + cached;
}

/** gemini-2.5-flash per Mtok: $0.30 input, $0.03 cached input, $2.50 output (thinking included); rounded up once. */
const flashMicros = (uncached: number, cached: number, output: number) => Math.ceil((uncached * 300_000 + cached * 30_000 + output * 2_500_000) / 1_000_000);

describe("OpenAI chat completions translated to the Gemini API", () => {
  it("the unmodified openai SDK streams a tool-calling conversation: OpenAI chunks, a tool call, a usage chunk with cached and thinking tokens, cost exact to the µ$", async () => {
    const { org, key } = await geminiOrg();
    const openai = client(key.key);
    const { data: stream, response } = await openai.chat.completions
      .create({ model: MODEL, stream: true, stream_options: { include_usage: true }, messages: [{ role: "system", content: "Be terse." }, { role: "user", content: "Weather in Paris? #mock:cache #mock:thoughts" }], tools: [weatherTool] })
      .withResponse();
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const c of stream) chunks.push(c);
    expect(chunks.every((c) => c.object === "chat.completion.chunk" && c.id === "resp-gemini-mock")).toBe(true);
    expect(chunks[0]!.choices[0]!.delta.role).toBe("assistant");
    const calls = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ index: 0, type: "function", function: { name: "weather", arguments: '{"city":"Paris"}' } });
    expect(calls[0]!.id).toMatch(/^call_\w+__thought__/);
    expect(calls[0]!.id!.endsWith(GEMINI_THOUGHT_SIGNATURE)).toBe(true);
    expect(chunks.map((c) => c.choices[0]?.finish_reason).filter(Boolean)).toEqual(["tool_calls"]);

    const requestId = response.headers.get("x-request-id")!;
    const up = (await upstreamRecord("gemini", requestId))!;
    expect(up.path).toBe("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse");
    expect(up.headers["x-goog-api-key"]).toBe(GEMINI_KEY);
    expect(up.headers.authorization).toBeUndefined();
    expect(up.body).toEqual({
      contents: [{ role: "user", parts: [{ text: "Weather in Paris? #mock:cache #mock:thoughts" }] }],
      systemInstruction: { parts: [{ text: "Be terse." }] },
      generationConfig: { maxOutputTokens: CATALOG["gemini-2.5-flash"]!.maxOutputTokens },
      tools: [{ functionDeclarations: [{ name: "weather", description: "Current weather", parametersJsonSchema: weatherTool.function.parameters }] }],
    });
    const prompt = mockPromptTokens(up.body, 4096);
    const usageChunk = chunks.at(-1)!;
    expect(usageChunk.choices).toEqual([]);
    expect(usageChunk.usage).toEqual({
      prompt_tokens: prompt,
      completion_tokens: 5 + 64,
      total_tokens: prompt + 69,
      prompt_tokens_details: { cached_tokens: 4096, cache_write_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 64 },
    });
    const ev = (await costEventOf(org.id, requestId))!;
    expect(ev).toMatchObject({ cost_micros: flashMicros(prompt - 4096, 4096, 69), estimated: 0, cached_input_tokens: 4096, output_tokens: 69, status: 200 });

    // Second turn: the call (with its thought signature) and the result go back as functionCall / functionResponse.
    const { data: answer, response: r2 } = await openai.chat.completions
      .create({
        model: MODEL,
        max_tokens: 100,
        tools: [weatherTool],
        messages: [
          { role: "user", content: "Weather in Paris?" },
          { role: "assistant", content: null, tool_calls: [{ id: calls[0]!.id!, type: "function", function: { name: "weather", arguments: '{"city":"Paris"}' } }] },
          { role: "tool", tool_call_id: calls[0]!.id!, content: '{"celsius":21}' },
        ],
      })
      .withResponse();
    expect(answer.choices[0]).toMatchObject({ finish_reason: "stop", message: { role: "assistant", content: "Héllo wörld – 你好" } });
    const up2 = (await upstreamRecord("gemini", r2.headers.get("x-request-id")!))!;
    expect(up2.path).toBe("/v1beta/models/gemini-2.5-flash:generateContent");
    expect(up2.body.contents).toEqual([
      { role: "user", parts: [{ text: "Weather in Paris?" }] },
      { role: "model", parts: [{ functionCall: { name: "weather", args: { city: "Paris" } }, thoughtSignature: GEMINI_THOUGHT_SIGNATURE }] },
      { role: "user", parts: [{ functionResponse: { name: "weather", response: { celsius: 21 } } }] },
    ]);
    expect(Number(r2.headers.get("x-tollgate-cost-micros"))).toBe(flashMicros(mockPromptTokens(up2.body), 0, 5));
  });

  it("non-streamed: images, stop, sampling, seed, JSON schema output and a forced tool are translated; streamed text arrives chunk by chunk", async () => {
    const { org, key } = await geminiOrg();
    const schema = { type: "object", properties: { answer: { type: "string" } } };
    const { data, response } = await client(key.key)
      .chat.completions.create({
        model: MODEL,
        max_tokens: 256,
        temperature: 1.4,
        top_p: 0.8,
        seed: 42,
        stop: ["END", "STOP"],
        response_format: { type: "json_schema", json_schema: { name: "a", schema } },
        tools: [weatherTool],
        tool_choice: { type: "function", function: { name: "weather" } },
        messages: [
          {
            role: "user",
            content: [
              { type: "text", text: "Describe" },
              { type: "image_url", image_url: { url: "data:image/jpeg;base64,/9j/4AAQ" } },
              { type: "image_url", image_url: { url: "https://example.com/a/cat.PNG?x=1" } },
            ],
          },
        ],
      })
      .withResponse();
    expect(data).toMatchObject({ object: "chat.completion", model: "gemini-2.5-flash", choices: [{ finish_reason: "tool_calls", message: { content: null, tool_calls: [{ type: "function", function: { name: "weather", arguments: '{"city":"Paris"}' } }] } }] });
    const up = (await upstreamRecord("gemini", response.headers.get("x-request-id")!))!;
    expect(up.body.contents).toEqual([{ role: "user", parts: [{ text: "Describe" }, { inlineData: { mimeType: "image/jpeg", data: "/9j/4AAQ" } }, { fileData: { mimeType: "image/png", fileUri: "https://example.com/a/cat.PNG?x=1" } }] }]);
    expect(up.body.generationConfig).toEqual({ maxOutputTokens: 256, temperature: 1.4, topP: 0.8, seed: 42, stopSequences: ["END", "STOP"], responseMimeType: "application/json", responseJsonSchema: schema });
    expect(up.body.toolConfig).toEqual({ functionCallingConfig: { mode: "ANY", allowedFunctionNames: ["weather"] } });
    expect((await costEventOf(org.id, response.headers.get("x-request-id")!))).toMatchObject({ estimated: 0, cost_micros: flashMicros(mockPromptTokens(up.body), 0, 5) });

    const res = await v1(key, "/chat/completions", { model: MODEL, stream: true, messages: [{ role: "user", content: "Hi" }] });
    const events = (await res.text()).split("\n\n").filter(Boolean);
    const contents = events.map((e) => e.slice(6)).filter((d) => d !== "[DONE]").map((d) => JSON.parse(d).choices[0]?.delta?.content).filter((c) => c);
    expect(contents).toEqual(["Hé", "llo", " wörld", " – ", "你好"]);
    expect(events.at(-1)).toBe("data: [DONE]");
    expect(events.some((e) => e.includes('"usage"'))).toBe(false); // not asked for: removed, as on OpenAI streams
  });

  it.each([
    ["n > 1", { n: 3 }, "n"],
    ["parallel_tool_calls: false", { parallel_tool_calls: false, tools: [weatherTool] }, "parallel_tool_calls"],
    ["a tool result for an unknown call", { messages: [{ role: "user", content: "x" }, { role: "tool", tool_call_id: "nope", content: "1" }] }, "messages.1.tool_call_id"],
    ["an image URL of unknown media type", { messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "https://example.com/img" } }] }] }, "messages.0.content.0.image_url.url"],
  ])("refuses %s with a 400 naming the field and calls no provider", async (_n, patch, param) => {
    const { org, key } = await geminiOrg();
    const res = await v1(key, "/chat/completions", { model: MODEL, messages: [{ role: "user", content: "x" }], ...patch });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error).toMatchObject({ code: "invalid_request", param });
    expect(await upstreamRecord("gemini", res.headers.get("x-request-id")!)).toBeNull();
    await waitForSettled(org.id);
    expect((await gateCounters(org.id)).reservations).toBe(0);
  });

  it("Gemini errors map to OpenAI-shaped errors; an in-stream error reaches the SDK as an APIError", async () => {
    const { key } = await geminiOrg();
    const post = (directive: string) => v1(key, "/chat/completions", { model: MODEL, messages: [{ role: "user", content: `x ${directive}` }] });
    const r429 = await post("#mock:fail-429");
    expect(r429.status).toBe(429);
    expect(((await r429.json()) as any).error).toMatchObject({ code: "rate_limit_exceeded", scope: "provider" });
    const r400 = await post("#mock:fail-400");
    expect(r400.status).toBe(400);
    expect(((await r400.json()) as any).error.message).toContain("mock failure 400");
    const r503 = await post("#mock:fail-503");
    expect(r503.status).toBe(502);
    expect(((await r503.json()) as any).error).toMatchObject({ code: "upstream_error", upstream_status: 503 });

    const stream = await client(key.key).chat.completions.create({ model: MODEL, stream: true, messages: [{ role: "user", content: "x #mock:stream-error" }] });
    const err = await (async () => {
      for await (const _c of stream) void _c;
    })().then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as Error).message).toContain("overloaded");
  });

  it("a gemini provider is created with Google's default base URL and lists gemini models only", async () => {
    const { org, owner } = await createOrgWithCast();
    const created = await call(owner, "POST", `/api/orgs/${org.id}/providers`, { name: "google", type: "gemini", api_key: "AIza-1234" });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ type: "gemini", base_url: "https://generativelanguage.googleapis.com/v1beta" });
    const { key } = await geminiOrg();
    const res = await SELF.fetch("http://localhost/v1/models", { headers: { authorization: `Bearer ${key.key}` } });
    const ids = ((await res.json()) as any).data.map((m: any) => m.id) as string[];
    expect(ids).toContain("gemini/gemini-2.5-flash");
    expect(ids.filter((id) => id.startsWith("gemini/") && !id.startsWith("gemini/gemini-"))).toEqual([]);
  });
});
