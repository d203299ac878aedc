import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createBudgetRow } from "./factories/gate";
import { costEventOf, createGatewayOrg, gateCounters, OPENAI_UPSTREAM_KEY, sseData, upstreamRecord, v1, waitForSettled } from "./factories/gateway";

const chat = (content: string, extra: Record<string, unknown> = {}) => ({ model: "gpt-4o-mini", messages: [{ role: "user", content }], max_tokens: 50, ...extra });

describe("OpenAI-format proxying", () => {
  it("n choices without max_tokens reserve n × the model's output cap (a budget that fits one choice refuses four)", async () => {
    const { org, owner, key } = await createGatewayOrg();
    // gpt-4o-mini: 16,384 output tokens × $0.60/Mtok ≈ 9,830 µ$ per choice.
    await createBudgetRow(org, owner, { scope: "org", limitMicros: 20_000, period: "monthly", mode: "hard" });
    const body = { model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] };
    const four = await v1(key, "/chat/completions", { ...body, n: 4 });
    expect(four.status).toBe(402);
    expect(((await four.json()) as any).error.code).toBe("budget_exceeded");
    expect((await v1(key, "/chat/completions", { ...body, n: 129 })).status).toBe(400);
    const one = await v1(key, "/chat/completions", body);
    expect(one.status).toBe(200);
    await waitForSettled(org.id);
  });

  it("forwards a chat completion with the provider key, prices it exactly and settles", async () => {
    const { org, key } = await createGatewayOrg();
    const res = await v1(key, "/chat/completions", chat("Hello there", { custom_field: { kept: true } }), { "X-Tollgate-Customer": "cust_42", "X-Tollgate-Tags": "team=search,env=prod" });
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    expect(body.choices[0].message.content).toBe("Héllo wörld – 你好");
    const requestId = res.headers.get("x-request-id")!;
    expect(requestId).toMatch(/^req_/);
    // mock usage: prompt ⌈("user" + "Hello there") 15 B / 4⌉ = 4, completion 5; gpt-4o-mini 0.15/0.60 $/Mtok → ⌈(4×150000 + 5×600000)/1e6⌉ = 4 µ$
    expect(res.headers.get("x-tollgate-cost-micros")).toBe("4");
    expect(res.headers.get("x-ratelimit-limit-requests")).toBe("6000");
    expect(res.headers.get("x-ratelimit-remaining-requests")).toBe("5999");
    expect(res.headers.get("x-ratelimit-reset-requests")).toMatch(/^\d+(ms|s|m\d+s)$/);
    expect(res.headers.get("server-timing")).toMatch(/gw-admit;dur=\d+.*upstream;dur=\d+/);
    expect(res.headers.get("x-tollgate-trace-id")).toBe(requestId);

    const up = (await upstreamRecord("openai", requestId))!;
    expect(up.path).toBe("/v1/chat/completions");
    expect(up.headers.authorization).toBe(`Bearer ${OPENAI_UPSTREAM_KEY}`);
    expect(up.body.custom_field).toEqual({ kept: true });
    expect(up.body.model).toBe("gpt-4o-mini");

    const ev = (await costEventOf(org.id, requestId))!;
    expect(ev).toMatchObject({ cost_micros: 4, input_tokens: 4, output_tokens: 5, customer_id: "cust_42", estimated: 0, status: 200, endpoint: "chat.completions", provider: "openai" });
    expect(JSON.parse(ev.tags)).toEqual({ team: "search", env: "prod" });
  });

  it("takes attribution from the body, strips Tollgate's metadata keys upstream, and forwards traceparent", async () => {
    const { org, key } = await createGatewayOrg();
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const res = await v1(key, "/chat/completions", chat("hi", { user: "end-user-7", metadata: { tags: { feature: "summarize" }, purpose: "x" } }), { traceparent });
    expect(res.status).toBe(200);
    const requestId = res.headers.get("x-request-id")!;
    expect(res.headers.get("x-tollgate-trace-id")).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    const up = (await upstreamRecord("openai", requestId))!;
    expect(up.headers.traceparent).toBe(traceparent);
    expect(up.headers["x-tollgate-trace-id"]).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    expect(up.body.metadata).toEqual({ purpose: "x" });
    expect(up.body.user).toBe("end-user-7");
    const ev = (await costEventOf(org.id, requestId))!;
    expect(ev.customer_id).toBe("end-user-7");
    expect(ev.trace_id).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    expect(JSON.parse(ev.tags)).toEqual({ feature: "summarize" });
  });

  it("streams chat chunk by chunk, forces include_usage upstream and hides the usage chunk when not asked", async () => {
    const { org, key } = await createGatewayOrg();
    const res = await v1(key, "/chat/completions", chat("stream me", { stream: true }));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    expect(res.headers.get("x-tollgate-cost-micros")).toBeNull();
    const requestId = res.headers.get("x-request-id")!;
    const data = await sseData(res);
    expect(data.at(-1)).toBe("[DONE]");
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
    expect(chunks.every((c) => c.choices.length === 1)).toBe(true);
    expect(chunks.map((c) => c.choices[0].delta.content ?? "").join("")).toBe("Héllo wörld – 你好");
    const up = (await upstreamRecord("openai", requestId))!;
    expect(up.body.stream_options).toEqual({ include_usage: true });
    const ev = (await costEventOf(org.id, requestId))!;
    expect(ev).toMatchObject({ input_tokens: 4, output_tokens: 5, estimated: 0 });
  });

  it("passes the usage chunk through when the client asked for it", async () => {
    const { org, key } = await createGatewayOrg();
    const res = await v1(key, "/chat/completions", chat("stream me", { stream: true, stream_options: { include_usage: true } }));
    const data = await sseData(res);
    const usageChunk = JSON.parse(data.at(-2)!);
    expect(usageChunk.choices).toEqual([]);
    expect(usageChunk.usage).toMatchObject({ prompt_tokens: 4, completion_tokens: 5 });
    await waitForSettled(org.id);
  });

  it("proxies legacy completions, embeddings and responses (stream and not) with exact usage", async () => {
    const { org, key } = await createGatewayOrg();
    const comp = await v1(key, "/completions", { model: "gpt-4o-mini", prompt: "Say hi", max_tokens: 20 });
    expect(comp.status).toBe(200);
    expect(((await comp.json()) as any).object).toBe("text_completion");

    const emb = await v1(key, "/embeddings", { model: "text-embedding-3-small", input: ["a", "b"] });
    expect(emb.status).toBe(200);
    expect(((await emb.json()) as any).data).toHaveLength(2);
    const embId = emb.headers.get("x-request-id")!;

    const resp = await v1(key, "/responses", { model: "gpt-4o-mini", input: "Tell me", max_output_tokens: 40 });
    expect(resp.status).toBe(200);
    expect(((await resp.json()) as any).usage.output_tokens).toBe(5);

    const rs = await v1(key, "/responses", { model: "gpt-4o-mini", input: "Tell me", stream: true });
    const rsId = rs.headers.get("x-request-id")!;
    const text = await rs.text();
    expect(text).toContain("event: response.completed");

    const embEv = (await costEventOf(org.id, embId))!;
    expect(embEv).toMatchObject({ endpoint: "embeddings", input_tokens: 1, output_tokens: 0, estimated: 0 });
    const rsEv = (await costEventOf(org.id, rsId))!;
    expect(rsEv).toMatchObject({ endpoint: "responses", input_tokens: 2, output_tokens: 5, estimated: 0 });
  });

  it("documents the data-plane routes in the OpenAPI spec", async () => {
    const res = await SELF.fetch("http://localhost/api/openapi.json");
    expect(res.status).toBe(200);
    const spec = (await res.json()) as any;
    for (const p of ["/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/responses", "/v1/messages"]) expect(spec.paths[p]?.post).toBeTruthy();
    expect(spec.paths["/v1/models"]?.get).toBeTruthy();
    expect(spec.components.securitySchemes.bearerAuth).toMatchObject({ type: "http", scheme: "bearer" });
    expect(spec.paths["/v1/chat/completions"].post.requestBody.content["application/json"].schema.properties.messages).toBeTruthy();
  });

  it("refuses an OpenAI-format call that has no translator (Responses API to an Anthropic provider) with a clear 400 and releases", async () => {
    const { org, key } = await createGatewayOrg();
    const res = await v1(key, "/responses", { model: "anthropic/claude-sonnet-4-5", input: "x", max_output_tokens: 10 });
    expect(res.status).toBe(400);
    const body = (await res.json()) as any;
    expect(body.error.code).toBe("invalid_request");
    expect(body.error.param).toBe("model");
    expect(body.error.message).toContain("/v1/messages");
    await waitForSettled(org.id);
    expect((await gateCounters(org.id)).reservations).toBe(0);
  });
});
