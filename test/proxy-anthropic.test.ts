import { SELF } from "cloudflare:test";
import { describe, expect, inject, it } from "vitest";
import { costEventOf, createGatewayOrg, createSealedProvider, upstreamRecord, waitForSettled } from "./factories/gateway";

const messages = (extra: Record<string, unknown> = {}) => ({ model: "anthropic/claude-sonnet-4-5", max_tokens: 32, messages: [{ role: "user", content: "Hello" }], ...extra });

function post(headers: Record<string, string>, body: unknown) {
  return SELF.fetch("http://localhost/v1/messages", { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
}

describe("/v1/messages (Anthropic-native)", () => {
  it("accepts x-api-key, passes anthropic-version/-beta through, attributes metadata.user_id and strips Tollgate's keys", async () => {
    const { org, key } = await createGatewayOrg();
    const res = await post(
      { "x-api-key": key.key, "anthropic-version": "2023-06-01", "anthropic-beta": "prompt-caching-2024-07-31" },
      messages({ metadata: { user_id: "u-9", tags: { feature: "chat" } } }),
    );
    expect(res.status).toBe(200);
    expect(res.headers.get("x-upstream-request-id")).toBe("req_anthropic_mock");
    const requestId = res.headers.get("x-request-id")!;
    const up = (await upstreamRecord("anthropic", requestId))!;
    expect(up.headers["anthropic-version"]).toBe("2023-06-01");
    expect(up.headers["anthropic-beta"]).toBe("prompt-caching-2024-07-31");
    expect(up.headers.authorization).toBeUndefined();
    expect(up.body.metadata).toEqual({ user_id: "u-9" });
    const ev = (await costEventOf(org.id, requestId))!;
    expect(ev.customer_id).toBe("u-9");
    expect(JSON.parse(ev.tags)).toEqual({ feature: "chat" });
  });

  // OpenAI-format providers are reached through a translation now (test/translate-messages-openai.test.ts); Gemini is not.
  it("refuses a model served by a Gemini provider with a clear 400 in Anthropic's envelope", async () => {
    const { org, key } = await createGatewayOrg();
    await createSealedProvider(org, { name: "gemini", type: "gemini", baseUrl: inject("mockUrls").gemini!, apiKey: "gm-test" });
    const res = await post({ "x-api-key": key.key, "anthropic-version": "2023-06-01" }, messages({ model: "gemini/gemini-2.5-flash" }));
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ type: "error", error: { type: "invalid_request_error", code: "invalid_request", param: "model" } });
    await waitForSettled(org.id);
  });

  it("provider errors keep Anthropic's envelope (429 with Retry-After)", async () => {
    const { org, key } = await createGatewayOrg();
    const res = await post({ "x-api-key": key.key, "anthropic-version": "2023-06-01" }, messages({ messages: [{ role: "user", content: "#mock:fail-429" }] }));
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("7");
    expect(await res.json()).toMatchObject({ type: "error", error: { type: "rate_limit_error", code: "rate_limit_exceeded", scope: "provider" } });
    await waitForSettled(org.id);
  });
});
