/**
 * `/v1/chat/completions` on an `anthropic` provider: the OpenAI request is translated to the Messages
 * API, the answer (streamed chunk by chunk or not) back to OpenAI's shapes, and the call is priced
 * from Anthropic's own usage (cache writes included) to the micro-dollar.
 */
import { SELF } from "cloudflare:test";
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { CATALOG } from "../src/pricing/catalog";
import { ANTHROPIC_UPSTREAM_KEY, costEventOf, createGatewayOrg, gateCounters, upstreamRecord, v1, waitForSettled } from "./factories/gateway";

const MODEL = "anthropic/claude-sonnet-4-5";
const client = (apiKey: string) => new OpenAI({ apiKey, baseURL: "http://localhost/v1", fetch: (url, init) => SELF.fetch(url as string, init as RequestInit), maxRetries: 0 });

const weatherTool = { type: "function" as const, function: { name: "weather", description: "Current weather", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } };

/** The stand-in's input count for what it received: ⌈UTF-8 bytes of every string under system + messages ÷ 4⌉. */
function mockInputTokens(upstreamBody: any): number {
  const out: string[] = [];
  const walk = (v: unknown) => {
    if (typeof v === "string") out.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === "object") Object.values(v).forEach(walk);
  };
  walk([upstreamBody.system, upstreamBody.messages]);
  return Math.max(1, Math.ceil(out.reduce((n, s) => n + new TextEncoder().encode(s).byteLength, 0) / 4));
}

/** claude-sonnet-4-5 per Mtok: $3 input, $15 output, $3.75 5-minute cache write, $0.30 cache read; rounded up once. */
const sonnetMicros = (input: number, cacheWrite: number, cacheRead: number, output: number) => Math.ceil((input * 3_000_000 + cacheWrite * 3_750_000 + cacheRead * 300_000 + output * 15_000_000) / 1_000_000);

describe("OpenAI chat completions translated to Anthropic Messages", () => {
  it("the unmodified openai SDK streams a tool-calling conversation: OpenAI chunks, a tool call, a usage chunk, cost exact to the µ$", async () => {
    const { org, key } = await createGatewayOrg();
    const openai = client(key.key);
    const { data: stream, response } = await openai.chat.completions
      .create({
        model: MODEL,
        stream: true,
        stream_options: { include_usage: true },
        messages: [
          { role: "system", content: "You are terse." },
          { role: "user", content: "Weather in Paris? #mock:cache" },
        ],
        tools: [weatherTool],
      })
      .withResponse();
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const c of stream) chunks.push(c);
    expect(chunks.every((c) => c.object === "chat.completion.chunk" && c.id === "msg_mock01")).toBe(true);
    expect(chunks[0]!.choices[0]!.delta.role).toBe("assistant");
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? "").join("");
    expect(text).toBe("Héllo wörld – 你好");
    const calls = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
    expect(calls[0]).toMatchObject({ index: 0, id: "toolu_mock01", type: "function", function: { name: "weather", arguments: "" } });
    expect(calls.length).toBeGreaterThan(2); // the arguments arrive in pieces, as Anthropic streams them
    expect(calls.map((t) => t.function?.arguments ?? "").join("")).toBe('{"city":"Paris"}');
    expect(chunks.map((c) => c.choices[0]?.finish_reason).filter(Boolean)).toEqual(["tool_calls"]);
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);

    const requestId = response.headers.get("x-request-id")!;
    const up = (await upstreamRecord("anthropic", requestId))!;
    expect(up.path).toBe("/v1/messages");
    expect(up.headers["x-api-key"]).toBe(ANTHROPIC_UPSTREAM_KEY);
    expect(up.body).toMatchObject({
      model: "claude-sonnet-4-5",
      stream: true,
      max_tokens: CATALOG["claude-sonnet-4-5"]!.maxOutputTokens, // Anthropic requires it; the gate reserved exactly this
      system: [{ type: "text", text: "You are terse." }],
      messages: [{ role: "user", content: [{ type: "text", text: "Weather in Paris? #mock:cache" }] }],
      tools: [{ name: "weather", description: "Current weather", input_schema: weatherTool.function.parameters }],
    });
    expect(up.body.stream_options).toBeUndefined();
    const input = mockInputTokens(up.body);
    expect(last.usage).toEqual({
      prompt_tokens: input + 2048 + 4096,
      completion_tokens: 5,
      total_tokens: input + 2048 + 4096 + 5,
      prompt_tokens_details: { cached_tokens: 4096, cache_write_tokens: 2048 },
      completion_tokens_details: { reasoning_tokens: 0 },
    });
    const ev = (await costEventOf(org.id, requestId))!;
    expect(ev).toMatchObject({ cost_micros: sonnetMicros(input, 2048, 4096, 5), estimated: 0, cache_write_tokens: 2048, cached_input_tokens: 4096, output_tokens: 5, endpoint: "chat.completions", status: 200 });

    // Second turn: the tool result goes back as Anthropic tool_use / tool_result blocks.
    const assistant = { role: "assistant" as const, content: text, tool_calls: [{ id: "toolu_mock01", type: "function" as const, function: { name: "weather", arguments: '{"city":"Paris"}' } }] };
    const { data: answer, response: r2 } = await openai.chat.completions
      .create({ model: MODEL, max_tokens: 200, messages: [{ role: "user", content: "Weather in Paris?" }, assistant, { role: "tool", tool_call_id: "toolu_mock01", content: '{"celsius":21}' }], tools: [weatherTool] })
      .withResponse();
    expect(answer.choices[0]).toMatchObject({ finish_reason: "stop", message: { role: "assistant", content: "Héllo wörld – 你好" } });
    expect(answer.choices[0]!.message.tool_calls).toBeUndefined();
    const up2 = (await upstreamRecord("anthropic", r2.headers.get("x-request-id")!))!;
    expect(up2.body.messages).toEqual([
      { role: "user", content: [{ type: "text", text: "Weather in Paris?" }] },
      { role: "assistant", content: [{ type: "text", text: "Héllo wörld – 你好" }, { type: "tool_use", id: "toolu_mock01", name: "weather", input: { city: "Paris" } }] },
      { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_mock01", content: '{"celsius":21}' }] },
    ]);
    expect(up2.body.max_tokens).toBe(200);
    expect(Number(r2.headers.get("x-tollgate-cost-micros"))).toBe(sonnetMicros(mockInputTokens(up2.body), 0, 0, 5));
  });

  it("non-streamed: images (URL and base64), stop, sampling, tool_choice and user are translated; the answer is an OpenAI chat.completion", async () => {
    const { org, key } = await createGatewayOrg();
    const { data, response } = await client(key.key)
      .chat.completions.create({
        model: MODEL,
        max_completion_tokens: 300,
        temperature: 0.5,
        top_p: 0.9,
        stop: "END",
        user: "cust-7",
        parallel_tool_calls: false,
        tool_choice: "required",
        tools: [weatherTool],
        messages: [
          { role: "developer", content: "Be brief." },
          {
            role: "user",
            content: [
              { type: "text", text: "Compare these" },
              { type: "image_url", image_url: { url: "https://example.com/cat.png" } },
              { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=" } },
            ],
          },
        ],
      })
      .withResponse();
    expect(data).toMatchObject({ object: "chat.completion", model: "claude-sonnet-4-5", choices: [{ index: 0, finish_reason: "tool_calls", message: { role: "assistant", content: "Héllo wörld – 你好", tool_calls: [{ id: "toolu_mock01", type: "function", function: { name: "weather", arguments: '{"city":"Paris"}' } }] } }] });
    const up = (await upstreamRecord("anthropic", response.headers.get("x-request-id")!))!;
    expect(up.body).toEqual({
      model: "claude-sonnet-4-5",
      max_tokens: 300,
      temperature: 0.5,
      top_p: 0.9,
      stop_sequences: ["END"],
      system: [{ type: "text", text: "Be brief." }],
      metadata: { user_id: "cust-7" },
      tools: [{ name: "weather", description: "Current weather", input_schema: weatherTool.function.parameters }],
      tool_choice: { type: "any", disable_parallel_tool_use: true },
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "Compare these" },
            { type: "image", source: { type: "url", url: "https://example.com/cat.png" } },
            { type: "image", source: { type: "base64", media_type: "image/png", data: "iVBORw0KGgo=" } },
          ],
        },
      ],
    });
    const input = mockInputTokens(up.body);
    expect(data.usage).toMatchObject({ prompt_tokens: input, completion_tokens: 5 });
    expect(Number(response.headers.get("x-tollgate-cost-micros"))).toBe(sonnetMicros(input, 0, 0, 5));
    expect((await costEventOf(org.id, response.headers.get("x-request-id")!))).toMatchObject({ cost_micros: sonnetMicros(input, 0, 0, 5), estimated: 0 });
  });

  it("streamed without include_usage: the client sees no usage chunk, the charge is still Anthropic's exact usage", async () => {
    const { org, key } = await createGatewayOrg();
    const { data: stream, response } = await client(key.key).chat.completions.create({ model: MODEL, stream: true, max_tokens: 50, messages: [{ role: "user", content: "Hi" }] }).withResponse();
    let text = "";
    let sawUsage = false;
    for await (const c of stream) {
      text += c.choices[0]?.delta.content ?? "";
      if (c.usage) sawUsage = true;
    }
    expect(text).toBe("Héllo wörld – 你好");
    expect(sawUsage).toBe(false);
    const requestId = response.headers.get("x-request-id")!;
    const up = (await upstreamRecord("anthropic", requestId))!;
    expect(await costEventOf(org.id, requestId)).toMatchObject({ output_tokens: 5, estimated: 0, cost_micros: sonnetMicros(mockInputTokens(up.body), 0, 0, 5) });
  });

  it.each([
    ["n > 1", { n: 2 }, "n"],
    ["JSON mode", { response_format: { type: "json_object" } }, "response_format"],
    ["temperature above Anthropic's 1", { temperature: 1.5 }, "temperature"],
    ["logprobs", { logprobs: true }, "logprobs"],
    ["an audio part", { messages: [{ role: "user", content: [{ type: "input_audio", input_audio: { data: "AAAA", format: "wav" } }] }] }, "messages.0.content.0.type"],
    ["tool call arguments that are not JSON", { messages: [{ role: "user", content: "x" }, { role: "assistant", content: null, tool_calls: [{ id: "t1", type: "function", function: { name: "f", arguments: "{nope" } }] }] }, "messages.1.tool_calls.0.function.arguments"],
    ["a non-function tool", { tools: [{ type: "web_search" }] }, "tools.0.type"],
  ])("refuses %s with a 400 naming the field, calls no provider and releases the reservation", async (_name, patch, param) => {
    const { org, key } = await createGatewayOrg();
    const res = await v1(key, "/chat/completions", { model: MODEL, max_tokens: 10, messages: [{ role: "user", content: "x" }], ...patch });
    expect(res.status).toBe(400);
    const body = (await res.json()) as any;
    expect(body.error).toMatchObject({ code: "invalid_request", type: "invalid_request", param });
    expect(await upstreamRecord("anthropic", res.headers.get("x-request-id")!)).toBeNull();
    await waitForSettled(org.id);
    expect((await gateCounters(org.id)).reservations).toBe(0);
    expect((await costEventOf(org.id, res.headers.get("x-request-id")!))?.cost_micros ?? 0).toBe(0);
  });

  it("provider errors map to OpenAI-shaped errors with the right status", async () => {
    const { key } = await createGatewayOrg();
    const call = (directive: string) => v1(key, "/chat/completions", { model: MODEL, max_tokens: 10, messages: [{ role: "user", content: `x ${directive}` }] });
    const r429 = await call("#mock:fail-429");
    expect(r429.status).toBe(429);
    expect(r429.headers.get("retry-after")).toBe("7");
    expect(((await r429.json()) as any).error).toMatchObject({ code: "rate_limit_exceeded", scope: "provider", upstream_status: 429 });
    const r400 = await call("#mock:fail-400");
    expect(r400.status).toBe(400);
    expect(((await r400.json()) as any).error).toMatchObject({ code: "invalid_request", message: expect.stringContaining("mock failure 400") });
    const r500 = await call("#mock:fail-500");
    expect(r500.status).toBe(502);
    expect(((await r500.json()) as any).error).toMatchObject({ code: "upstream_error", upstream_status: 500 });
  });

  it("an Anthropic error event mid-stream reaches the openai SDK as an APIError and the delivered output is charged as an estimate", async () => {
    const { org, key } = await createGatewayOrg();
    const { data: stream, response } = await client(key.key).chat.completions.create({ model: MODEL, stream: true, max_tokens: 50, messages: [{ role: "user", content: "Hi #mock:stream-error" }] }).withResponse();
    let text = "";
    const err = await (async () => {
      for await (const c of stream) text += c.choices[0]?.delta.content ?? "";
    })().then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(String((err as Error).message)).toContain("Overloaded");
    expect(text).toBe("Héllo wörld – 你好");
    const ev = (await costEventOf(org.id, response.headers.get("x-request-id")!))!;
    expect(ev.estimated).toBe(1);
    expect(ev.output_tokens).toBeGreaterThanOrEqual(new TextEncoder().encode("Héllo wörld – 你好").byteLength);
  });
});
