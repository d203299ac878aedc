/** The data plane's pure parts: SSE framing, usage normalisation, the token estimator, attribution. */
import { describe, expect, it } from "vitest";
import { readAttribution, stripTollgateMetadata } from "../src/proxy/attribution";
import { estimateRequest, IMAGE_TOKENS, tokensOf, utf8Length } from "../src/proxy/estimate";
import { setRateLimitHeaders } from "../src/proxy/headers";
import { SseParser } from "../src/proxy/sse";
import { anthropicStreamTracker, estimatedUsage, fromAnthropicUsage, fromOpenAiUsage, fromResponsesUsage, openAiStreamTracker, responsesStreamTracker } from "../src/proxy/usage";

const enc = new TextEncoder();
const events = (parts: Uint8Array[]) => {
  const p = new SseParser();
  const out = parts.flatMap((x) => p.push(x));
  const tail = p.end();
  return tail ? [...out, tail] : out;
};

describe("SSE parser", () => {
  const stream = 'data: {"a":"héllo 你好 👋"}\n\nevent: message_delta\ndata: {"b":2}\n\n: comment\ndata: line1\ndata: line2\n\ndata: [DONE]\n\n';
  const bytes = enc.encode(stream);

  it("yields the same events however the bytes are split (every split point, incl. inside UTF-8 sequences)", () => {
    const whole = events([bytes]).map((e) => [e.event, e.data]);
    expect(whole).toEqual([[null, '{"a":"héllo 你好 👋"}'], ["message_delta", '{"b":2}'], [null, "line1\nline2"], [null, "[DONE]"]]);
    for (let i = 1; i < bytes.length; i++) {
      expect(events([bytes.subarray(0, i), bytes.subarray(i)]).map((e) => [e.event, e.data])).toEqual(whole);
    }
    expect(events(Array.from(bytes, (b) => new Uint8Array([b]))).map((e) => [e.event, e.data])).toEqual(whole);
  });

  it("handles CRLF framing and keeps each event's raw bytes for re-emission", () => {
    const crlf = enc.encode("data: x\r\n\r\ndata: y\r\n\r\n");
    const evs = events([crlf.subarray(0, 9), crlf.subarray(9)]);
    expect(evs.map((e) => e.data)).toEqual(["x", "y"]);
    expect(new TextDecoder().decode(evs[0]!.raw)).toBe("data: x\r\n\r\n");
  });

  it("returns an unterminated trailing event at end of stream", () => {
    expect(events([enc.encode("data: a\n\ndata: partial")]).map((e) => e.data)).toEqual(["a", "partial"]);
  });
});

describe("usage normalisation", () => {
  it("OpenAI chat: cached ⊂ prompt, reasoning ⊂ completion", () => {
    expect(fromOpenAiUsage({ prompt_tokens: 1200, completion_tokens: 300, prompt_tokens_details: { cached_tokens: 1024 }, completion_tokens_details: { reasoning_tokens: 192 } })).toEqual({
      uncachedInputTokens: 176, cachedInputTokens: 1024, cacheWriteTokens: 0, cacheWrite1hTokens: 0, outputTokens: 300, reasoningTokens: 192,
    });
  });

  it("Responses API", () => {
    expect(fromResponsesUsage({ input_tokens: 36, input_tokens_details: { cached_tokens: 6 }, output_tokens: 87, output_tokens_details: { reasoning_tokens: 10 } })).toMatchObject({ uncachedInputTokens: 30, cachedInputTokens: 6, outputTokens: 87, reasoningTokens: 10 });
  });

  it("Anthropic: input excludes cache tokens; 1h writes split out when broken down", () => {
    expect(fromAnthropicUsage({ input_tokens: 12, output_tokens: 6, cache_creation_input_tokens: 2048, cache_read_input_tokens: 4096, cache_creation: { ephemeral_5m_input_tokens: 48, ephemeral_1h_input_tokens: 2000 } })).toEqual({
      uncachedInputTokens: 12, cachedInputTokens: 4096, cacheWriteTokens: 48, cacheWrite1hTokens: 2000, outputTokens: 6, reasoningTokens: 0,
    });
  });

  it("Anthropic stream: message_delta output_tokens is cumulative, not summed", () => {
    const t = anthropicStreamTracker();
    const ev = (event: string, data: object) => ({ event, data: JSON.stringify(data), raw: new Uint8Array() });
    t.onEvent(ev("message_start", { type: "message_start", message: { usage: { input_tokens: 25, output_tokens: 1, cache_read_input_tokens: 7 } } }));
    t.onEvent(ev("content_block_delta", { type: "content_block_delta", delta: { type: "text_delta", text: "héllo" } }));
    t.onEvent(ev("message_delta", { type: "message_delta", usage: { output_tokens: 10 } }));
    t.onEvent(ev("message_delta", { type: "message_delta", usage: { output_tokens: 15 } }));
    expect(t.usage).toMatchObject({ uncachedInputTokens: 25, cachedInputTokens: 7, outputTokens: 15 });
    expect(t.outputBytes).toBe(6);
  });

  it("OpenAI stream: the usage-only chunk is recognised; deltas are counted in UTF-8 bytes", () => {
    const t = openAiStreamTracker();
    const ev = (data: string) => ({ event: null, data, raw: new Uint8Array() });
    t.onEvent(ev('{"choices":[{"index":0,"delta":{"content":"你好"}}],"usage":null}'));
    expect(t.lastWasUsageOnlyChunk).toBe(false);
    t.onEvent(ev('{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}'));
    expect(t.lastWasUsageOnlyChunk).toBe(true);
    t.onEvent(ev("[DONE]"));
    expect(t.usage).toMatchObject({ uncachedInputTokens: 3, outputTokens: 2 });
    expect(t.outputBytes).toBe(6);
  });

  it("Responses stream: usage from response.completed", () => {
    const t = responsesStreamTracker();
    t.onEvent({ event: "response.output_text.delta", data: '{"type":"response.output_text.delta","delta":"abc"}', raw: new Uint8Array() });
    t.onEvent({ event: "response.completed", data: '{"type":"response.completed","response":{"usage":{"input_tokens":5,"output_tokens":3}}}', raw: new Uint8Array() });
    expect(t.usage).toMatchObject({ uncachedInputTokens: 5, outputTokens: 3 });
    expect(t.outputBytes).toBe(3);
  });

  it("estimated usage: delivered bytes, capped by the reservation, never below what the provider reported", () => {
    expect(estimatedUsage(null, 100, 40, 30)).toMatchObject({ uncachedInputTokens: 100, outputTokens: 30 });
    expect(estimatedUsage(null, 100, 10, 30)).toMatchObject({ uncachedInputTokens: 100, outputTokens: 10 });
    expect(estimatedUsage(fromAnthropicUsage({ input_tokens: 7, output_tokens: 20 }), 100, 5, 30)).toMatchObject({ uncachedInputTokens: 7, outputTokens: 20 });
  });
});

describe("token estimator (upper bound)", () => {
  it("counts UTF-8 bytes, surrogate pairs as 4", () => {
    expect(utf8Length("abc")).toBe(3);
    expect(utf8Length("é")).toBe(2);
    expect(utf8Length("你好")).toBe(6);
    expect(utf8Length("👋")).toBe(4);
    for (const s of ["héllo wörld", "日本語のテキスト", "emoji 👋🏽 mix", "\u0000\u007f\u0080\u07ff\u0800\uffff"]) expect(utf8Length(s)).toBe(enc.encode(s).length);
  });

  it("is at least the UTF-8 byte length of every prompt string (tokens ≤ bytes)", () => {
    const text = "Résumé: 東京 → 👋 ".repeat(50);
    const { estimate } = estimateRequest("chat.completions", { model: "m", messages: [{ role: "user", content: text }], max_tokens: 10 });
    expect(estimate.inputTokens).toBeGreaterThanOrEqual(enc.encode(text).length);
    expect(estimate.outputTokens).toBe(10);
  });

  it("prices images flat, multiplies output by n, defaults legacy completions to 16, sizes from the model when uncapped", () => {
    const img = { type: "image_url", image_url: { url: `data:image/png;base64,${"A".repeat(100_000)}` } };
    expect(tokensOf(img)).toBe(IMAGE_TOKENS);
    expect(estimateRequest("chat.completions", { messages: [{ role: "user", content: "x" }], n: 3, max_completion_tokens: 100 }).estimate.outputTokens).toBe(300);
    expect(estimateRequest("completions", { prompt: "x" }).estimate.outputTokens).toBe(16);
    expect(estimateRequest("completions", { prompt: ["a", "b"], max_tokens: 5 }).estimate.outputTokens).toBe(10);
    expect(estimateRequest("embeddings", { input: [1, 2, 3] })).toMatchObject({ estimate: { outputTokens: 0 }, outputCapFromModel: false });
    expect(estimateRequest("responses", { input: "x" })).toMatchObject({ outputCapFromModel: true });
    expect(estimateRequest("responses", { input: "x", previous_response_id: "resp_1", max_output_tokens: 5 }).estimate.inputTokens).toBeGreaterThan(100_000);
  });
});

describe("attribution", () => {
  const h = (o: Record<string, string>) => new Headers(o);
  it("customer: body user, then metadata.customer_id, then header", () => {
    expect(readAttribution({ user: "u1", metadata: { customer_id: "c1" } }, h({ "x-tollgate-customer": "h1" }), "user")).toMatchObject({ ok: true, attribution: { customerId: "u1" } });
    expect(readAttribution({ metadata: { customer_id: "c1" } }, h({ "x-tollgate-customer": "h1" }), "user")).toMatchObject({ attribution: { customerId: "c1" } });
    expect(readAttribution({}, h({ "x-tollgate-customer": "h1" }), "user")).toMatchObject({ attribution: { customerId: "h1" } });
  });

  it("tags: header pairs merged under metadata.tags; malformed ones refused with the param", () => {
    expect(readAttribution({ metadata: { tags: { env: "staging" } } }, h({ "x-tollgate-tags": "team=search, env=prod" }), "user")).toMatchObject({ attribution: { tags: { team: "search", env: "staging" } } });
    expect(readAttribution({}, h({ "x-tollgate-tags": "team" }), "user")).toMatchObject({ ok: false, param: "X-Tollgate-Tags" });
    expect(readAttribution({ metadata: { tags: { a: 1 } } }, h({}), "user")).toMatchObject({ ok: false, param: "metadata.tags.a" });
  });

  it("trace: X-Tollgate-Trace-Id, else traceparent's trace id", () => {
    expect(readAttribution({}, h({ traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" }), "user")).toMatchObject({ attribution: { traceId: "4bf92f3577b34da6a3ce929d0e0e4736" } });
    expect(readAttribution({}, h({ "x-tollgate-trace-id": "t-1", traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" }), "user")).toMatchObject({ attribution: { traceId: "t-1" } });
    expect(readAttribution({}, h({ traceparent: "garbage" }), "user")).toMatchObject({ attribution: { traceId: null } });
  });

  it("strips only Tollgate's metadata keys before forwarding", () => {
    const body: Record<string, unknown> = { metadata: { tags: { a: "b" }, customer_id: "c", user_id: "u" } };
    stripTollgateMetadata(body);
    expect(body.metadata).toEqual({ user_id: "u" });
    const only: Record<string, unknown> = { metadata: { tags: { a: "b" } } };
    stripTollgateMetadata(only);
    expect("metadata" in only).toBe(false);
  });
});

describe("x-ratelimit-* headers", () => {
  const names = (h: Headers) => [...h.keys()].sort();
  it("prints both groups when both windows apply", () => {
    const h = new Headers();
    setRateLimitHeaders(h, { limitRequests: 60, remainingRequests: 59, resetRequestsMs: 1500, limitTokens: 1000, remainingTokens: 900, resetTokensMs: 20 });
    expect(h.get("x-ratelimit-limit-requests")).toBe("60");
    expect(h.get("x-ratelimit-remaining-requests")).toBe("59");
    expect(h.get("x-ratelimit-reset-requests")).toBe("2s");
    expect(h.get("x-ratelimit-limit-tokens")).toBe("1000");
    expect(h.get("x-ratelimit-remaining-tokens")).toBe("900");
    expect(h.get("x-ratelimit-reset-tokens")).toBe("20ms");
  });

  it("leaves out a group whose limit is 0 (no such window) instead of announcing 0", () => {
    const rpmOnly = new Headers();
    setRateLimitHeaders(rpmOnly, { limitRequests: 60, remainingRequests: 10, resetRequestsMs: 100, limitTokens: 0, remainingTokens: 0, resetTokensMs: 0 });
    expect(names(rpmOnly)).toEqual(["x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests"]);
    const tpmOnly = new Headers();
    setRateLimitHeaders(tpmOnly, { limitRequests: 0, remainingRequests: 0, resetRequestsMs: 0, limitTokens: 500, remainingTokens: 400, resetTokensMs: 100 });
    expect(names(tpmOnly)).toEqual(["x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"]);
    const none = new Headers();
    setRateLimitHeaders(none, null);
    expect(names(none)).toEqual([]);
  });
});
