import Anthropic from "@anthropic-ai/sdk";
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createBudgetRow } from "./factories/gate";
import { ANTHROPIC_UPSTREAM_KEY, costEventOf, createGatewayOrg, upstreamRecord } from "./factories/gateway";

/** The real, unmodified Anthropic SDK pointed at the Worker (it sends `x-api-key` and `anthropic-version`). */
function client(apiKey: string) {
  return new Anthropic({ apiKey, baseURL: "http://localhost", fetch: (url, init) => SELF.fetch(url as string, init as RequestInit), maxRetries: 0 });
}

const MODEL = "anthropic/claude-sonnet-4-5";

describe("the Anthropic SDK against /v1/messages", () => {
  it("non-streamed: native passthrough, x-api-key auth, cache tokens priced", async () => {
    const { org, key } = await createGatewayOrg();
    const { data: msg, response } = await client(key.key)
      .messages.create({ model: MODEL, max_tokens: 100, messages: [{ role: "user", content: "Hello #mock:cache" }] })
      .withResponse();
    expect(msg.content[0]).toMatchObject({ type: "text", text: "Héllo wörld – 你好" });
    expect(msg.usage).toMatchObject({ cache_creation_input_tokens: 2048, cache_read_input_tokens: 4096, output_tokens: 5 });
    const requestId = response.headers.get("x-request-id")!;
    const up = (await upstreamRecord("anthropic", requestId))!;
    expect(up.path).toBe("/v1/messages");
    expect(up.headers["x-api-key"]).toBe(ANTHROPIC_UPSTREAM_KEY);
    expect(up.headers["anthropic-version"]).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(up.body.model).toBe("claude-sonnet-4-5");
    // claude-sonnet-4-5: $3 in, $15 out, 5m cache write 1.25×, cache read 0.1× (per Mtok)
    const input = Math.ceil((4 + "Hello #mock:cache".length) / 4);
    const expected = Math.ceil((input * 3_000_000 + 2048 * 3_750_000 + 4096 * 300_000 + 5 * 15_000_000) / 1_000_000);
    expect(Number(response.headers.get("x-tollgate-cost-micros"))).toBe(expected);
    // cost_events.input_tokens is all input (uncached + cache writes + cache reads)
    const ev = (await costEventOf(org.id, requestId))!;
    expect(ev).toMatchObject({ cost_micros: expected, cache_write_tokens: 2048, cached_input_tokens: 4096, input_tokens: input + 2048 + 4096, output_tokens: 5, estimated: 0, endpoint: "messages" });
  });

  it("streamed: events pass through; cumulative output_tokens is not double counted", async () => {
    const { org, key } = await createGatewayOrg();
    const { data: stream, response } = await client(key.key)
      .messages.create({ model: MODEL, max_tokens: 100, stream: true, messages: [{ role: "user", content: "Hello" }] })
      .withResponse();
    let text = "";
    const types: string[] = [];
    for await (const ev of stream) {
      types.push(ev.type);
      if (ev.type === "content_block_delta" && ev.delta.type === "text_delta") text += ev.delta.text;
    }
    expect(text).toBe("Héllo wörld – 你好");
    expect(types[0]).toBe("message_start");
    expect(types.at(-1)).toBe("message_stop");
    const ev = (await costEventOf(org.id, response.headers.get("x-request-id")!))!;
    expect(ev).toMatchObject({ output_tokens: 5, estimated: 0 });
  });

  it("the stream helper's finalMessage works through the gateway", async () => {
    const { key } = await createGatewayOrg();
    const final = await client(key.key).messages.stream({ model: MODEL, max_tokens: 50, messages: [{ role: "user", content: "Hi" }] }).finalMessage();
    expect(final.usage.output_tokens).toBe(5);
  });

  it("denials use Anthropic's envelope with Tollgate's fields; Bearer auth works too", async () => {
    const { org, owner, key } = await createGatewayOrg();
    await createBudgetRow(org, owner, { scope: "org", limitMicros: 1 });
    const err = await client(key.key).messages.create({ model: MODEL, max_tokens: 100, messages: [{ role: "user", content: "Hi" }] }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.APIError);
    const e = err as InstanceType<typeof Anthropic.APIError>;
    expect(e.status).toBe(402);
    expect(e.error).toMatchObject({ type: "error", error: { type: "billing_error", code: "budget_exceeded", scope: "org", limit_micros: 1 } });

    const res = await SELF.fetch("http://localhost/v1/messages", {
      method: "POST",
      headers: { authorization: `Bearer ${key.key}`, "content-type": "application/json", "anthropic-version": "2023-06-01" },
      body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "Hi" }] }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ type: "error", error: { type: "invalid_request_error", code: "invalid_request", param: "max_tokens" } });

    const bad = await client("sk-tg-nope").messages.create({ model: MODEL, max_tokens: 10, messages: [{ role: "user", content: "Hi" }] }).then(() => null, (e: unknown) => e);
    expect((bad as InstanceType<typeof Anthropic.APIError>).status).toBe(401);
  });
});
