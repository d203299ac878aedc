import { SELF } from "cloudflare:test";
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { createBudgetRow } from "./factories/gate";
import { costEventOf, createGatewayOrg, waitForSettled } from "./factories/gateway";

/** The real, unmodified OpenAI SDK; only baseURL, apiKey and the fetch used to reach the Worker. */
function client(apiKey: string) {
  return new OpenAI({ apiKey, baseURL: "http://localhost/v1", fetch: (url, init) => SELF.fetch(url as string, init as RequestInit), maxRetries: 0 });
}

describe("the OpenAI SDK against Tollgate", () => {
  it("non-streamed chat", async () => {
    const { org, key } = await createGatewayOrg();
    const openai = client(key.key);
    const { data, response } = await openai.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }], max_tokens: 30 }).withResponse();
    expect(data.choices[0]!.message.content).toBe("Héllo wörld – 你好");
    expect(data.usage?.completion_tokens).toBe(5);
    expect(Number(response.headers.get("x-tollgate-cost-micros"))).toBeGreaterThan(0);
    expect((await costEventOf(org.id, response.headers.get("x-request-id")!))?.estimated).toBe(0);
  });

  it("streamed chat without include_usage: no usage chunk reaches the SDK, spend is still exact", async () => {
    const { org, key } = await createGatewayOrg();
    const { data: stream, response } = await client(key.key).chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }], stream: true }).withResponse();
    let text = "";
    let sawUsage = false;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? "";
      if (chunk.usage) sawUsage = true;
    }
    expect(text).toBe("Héllo wörld – 你好");
    expect(sawUsage).toBe(false);
    const ev = (await costEventOf(org.id, response.headers.get("x-request-id")!))!;
    expect(ev).toMatchObject({ output_tokens: 5, estimated: 0 });
  });

  it("streamed chat with include_usage: the SDK sees the usage chunk", async () => {
    const { org, key } = await createGatewayOrg();
    const stream = await client(key.key).chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }], stream: true, stream_options: { include_usage: true } });
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) if (chunk.usage) usage = chunk.usage;
    expect(usage).toMatchObject({ completion_tokens: 5 });
    await waitForSettled(org.id);
  });

  it("embeddings", async () => {
    const { key } = await createGatewayOrg();
    const res = await client(key.key).embeddings.create({ model: "text-embedding-3-small", input: "hello" });
    expect(res.data[0]!.embedding.length).toBeGreaterThan(0);
    expect(res.usage.prompt_tokens).toBeGreaterThan(0);
  });

  it("responses, non-streamed and streamed", async () => {
    const { org, key } = await createGatewayOrg();
    const openai = client(key.key);
    const r = await openai.responses.create({ model: "gpt-4o-mini", input: "Hello", max_output_tokens: 64 });
    expect(r.output_text).toBe("Héllo wörld – 你好");
    const stream = await openai.responses.create({ model: "gpt-4o-mini", input: "Hello", stream: true });
    let deltas = "";
    let completed = false;
    for await (const ev of stream) {
      if (ev.type === "response.output_text.delta") deltas += ev.delta;
      if (ev.type === "response.completed") completed = true;
    }
    expect(deltas).toBe("Héllo wörld – 你好");
    expect(completed).toBe(true);
    await waitForSettled(org.id);
  });

  it("models.list pages through the key's models", async () => {
    const { key } = await createGatewayOrg({ keyOpts: { allowedModels: ["gpt-4o-mini"] } });
    const ids: string[] = [];
    for await (const m of client(key.key).models.list()) ids.push(m.id);
    expect(ids).toContain("gpt-4o-mini");
    expect(ids).not.toContain("gpt-4o");
  });

  it("a hard budget refusal surfaces as APIError 402 with Tollgate's fields", async () => {
    const { org, owner, key } = await createGatewayOrg();
    await createBudgetRow(org, owner, { scope: "org", limitMicros: 1, period: "monthly", mode: "hard" });
    const err = await client(key.key)
      .chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }], max_tokens: 100 })
      .then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    const e = err as InstanceType<typeof OpenAI.APIError>;
    expect(e.status).toBe(402);
    expect(e.code).toBe("budget_exceeded");
    expect(e.type).toBe("budget_exceeded");
    expect(e.error).toMatchObject({ scope: "org", limit_micros: 1, spent_micros: 0 });
    expect((e.error as any).request_id).toMatch(/^req_/);
  });

  it("a rate-limit refusal is a 429 RateLimitError carrying Retry-After", async () => {
    const { org, owner, key } = await createGatewayOrg();
    await createBudgetRow(org, owner, { scope: "org", limitMicros: null, rpm: 1 });
    const openai = client(key.key);
    await openai.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }], max_tokens: 5 });
    const err = await openai.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }], max_tokens: 5 }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    const e = err as InstanceType<typeof OpenAI.RateLimitError>;
    expect(e.status).toBe(429);
    expect(Number(e.headers?.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(e.error).toMatchObject({ code: "rate_limit_exceeded", window: "rpm", limit: 1, scope: "org" });
    await waitForSettled(org.id);
  });
});
