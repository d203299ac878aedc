import Anthropic from "@anthropic-ai/sdk";
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { costEventOf, createGatewayOrg, upstreamRecord, waitForSettled } from "./factories/gateway";

function messages(key: string, body: Record<string, unknown>) {
  return SELF.fetch("http://localhost/v1/messages", {
    method: "POST",
    headers: { "content-type": "application/json", "x-api-key": key, "anthropic-version": "2023-06-01" },
    body: JSON.stringify({ model: "openai/gpt-4o-mini", max_tokens: 64, ...body }),
  });
}

/** The real Anthropic SDK pointed at the Worker. */
function sdk(apiKey: string) {
  return new Anthropic({ apiKey, baseURL: "http://localhost", fetch: (url, init) => SELF.fetch(url as string, init as RequestInit), maxRetries: 0 });
}

describe("/v1/messages → OpenAI-format providers (translated)", () => {
  it("streamed through the Anthropic SDK: text arrives as Anthropic events, the stream asks for usage and is charged exactly", async () => {
    const { org, key } = await createGatewayOrg();
    const stream = sdk(key.key).messages.stream({ model: "openai/gpt-4o-mini", max_tokens: 64, messages: [{ role: "user", content: "Hello" }] });
    const texts: string[] = [];
    stream.on("text", (t) => texts.push(t));
    const final = await stream.finalMessage();
    expect(texts.length).toBeGreaterThan(1);
    expect(final.content).toHaveLength(1);
    expect(final.content[0]).toMatchObject({ type: "text", text: texts.join("") });
    expect(final.stop_reason).toBe("end_turn");
    expect(final.usage.output_tokens).toBeGreaterThan(0);
    expect(final.usage.input_tokens).toBeGreaterThan(0);
    const requestId = (await stream.withResponse()).response.headers.get("x-request-id")!;
    const up = (await upstreamRecord("openai", requestId))!;
    expect(up.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    const ev = await costEventOf(org.id, requestId);
    expect(ev).toMatchObject({ endpoint: "messages", status: 200, estimated: 0, output_tokens: final.usage.output_tokens });
  });

  it("a stream the provider cuts ends in Anthropic's error event and is charged at an estimate (never $0)", async () => {
    const { org, key } = await createGatewayOrg();
    const res = await messages(key.key, { stream: true, messages: [{ role: "user", content: "Hello #mock:truncate" }] });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain("event: content_block_delta");
    expect(text).toContain("event: error");
    expect(text).not.toContain("event: message_stop");
    const ev = await costEventOf(org.id, res.headers.get("x-request-id")!);
    expect(ev).toMatchObject({ endpoint: "messages", status: 502, estimated: 1 });
    expect(ev!.cost_micros).toBeGreaterThan(0);
  });

  it("a streamed forced tool call arrives as a tool_use block with its JSON input", async () => {
    const { org, key } = await createGatewayOrg();
    const tools = [{ name: "get_weather", description: "Weather", input_schema: { type: "object" as const, properties: { city: { type: "string" } }, required: ["city"] } }];
    const final = await sdk(key.key).messages.stream({ model: "openai/gpt-4o-mini", max_tokens: 64, tools, tool_choice: { type: "tool", name: "get_weather" }, messages: [{ role: "user", content: "Paris?" }] }).finalMessage();
    expect(final.stop_reason).toBe("tool_use");
    const use = final.content.find((b) => b.type === "tool_use") as any;
    expect(use.name).toBe("get_weather");
    expect(typeof use.input.city).toBe("string");
    await waitForSettled(org.id);
  });

  it("a text conversation: OpenAI chat request upstream, Anthropic message back, charged at the provider's exact usage", async () => {
    const { org, key } = await createGatewayOrg();
    const res = await messages(key.key, { system: "Be brief.", messages: [{ role: "user", content: "Hello" }, { role: "assistant", content: "Hi" }, { role: "user", content: [{ type: "text", text: "How are you?" }] }], stop_sequences: ["END"] });
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    expect(body).toMatchObject({ type: "message", role: "assistant", stop_reason: "end_turn" });
    expect(body.content[0].type).toBe("text");
    expect(body.content[0].text.length).toBeGreaterThan(0);
    expect(body.usage.input_tokens).toBeGreaterThan(0);
    expect(body.usage.output_tokens).toBeGreaterThan(0);

    const requestId = res.headers.get("x-request-id")!;
    const up = (await upstreamRecord("openai", requestId))!;
    expect(up.path).toBe("/v1/chat/completions");
    expect(up.headers.authorization).toMatch(/^Bearer sk-upstream-openai/);
    expect(up.headers["x-api-key"]).toBeUndefined();
    expect(up.body).toMatchObject({
      model: "gpt-4o-mini", max_tokens: 64, stop: ["END"],
      messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Hello" }, { role: "assistant", content: "Hi" }, { role: "user", content: [{ type: "text", text: "How are you?" }] }],
    });
    const ev = await costEventOf(org.id, requestId);
    expect(ev).toMatchObject({ endpoint: "messages", provider: "openai", model: "gpt-4o-mini", status: 200, estimated: 0, output_tokens: body.usage.output_tokens });
    expect(ev!.cost_micros).toBeGreaterThan(0);
  });

  it("a tool-use round trip: tools and tool_choice go as functions, the call comes back as a tool_use block, the result as a tool message", async () => {
    const { org, key } = await createGatewayOrg();
    const tools = [{ name: "get_weather", description: "Weather", input_schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } }];
    const first = await messages(key.key, { tools, tool_choice: { type: "tool", name: "get_weather" }, messages: [{ role: "user", content: "Weather in Paris?" }] });
    expect(first.status).toBe(200);
    const call = (await first.json()) as any;
    expect(call.stop_reason).toBe("tool_use");
    const use = call.content.find((b: any) => b.type === "tool_use");
    expect(use).toMatchObject({ name: "get_weather" });
    expect(typeof use.input.city).toBe("string");
    const up1 = (await upstreamRecord("openai", first.headers.get("x-request-id")!))!;
    expect(up1.body.tools[0]).toMatchObject({ type: "function", function: { name: "get_weather", parameters: tools[0]!.input_schema } });
    expect(up1.body.tool_choice).toEqual({ type: "function", function: { name: "get_weather" } });

    const second = await messages(key.key, {
      tools,
      messages: [
        { role: "user", content: "Weather in Paris?" },
        { role: "assistant", content: [use] },
        { role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: "sunny" }] },
      ],
    });
    expect(second.status).toBe(200);
    const up2 = (await upstreamRecord("openai", second.headers.get("x-request-id")!))!;
    expect(up2.body.messages[1]).toMatchObject({ role: "assistant", content: null, tool_calls: [{ id: use.id, type: "function", function: { name: "get_weather" } }] });
    expect(up2.body.messages[2]).toEqual({ role: "tool", tool_call_id: use.id, content: "sunny" });
    await waitForSettled(org.id);
  });

  it("refuses what it cannot translate (thinking, top_k, server tools) with a 400 in Anthropic's envelope; nothing is sent", async () => {
    const { org, key } = await createGatewayOrg();
    for (const [extra, param] of [
      [{ top_k: 5 }, "top_k"],
      [{ thinking: { type: "enabled", budget_tokens: 1024 } }, "thinking"],
      [{ tools: [{ type: "web_search_20250305", name: "web_search" }] }, "tools.0.type"],
    ] as const) {
      const res = await messages(key.key, { messages: [{ role: "user", content: "hi" }], ...extra });
      expect(res.status).toBe(400);
      const err = (await res.json()) as any;
      expect(err).toMatchObject({ type: "error", error: { type: "invalid_request_error", param } });
      expect(await upstreamRecord("openai", res.headers.get("x-request-id")!)).toBeNull();
    }
    await waitForSettled(org.id);
  });
});
