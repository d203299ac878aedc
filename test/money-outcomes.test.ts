/**
 * What each outcome of a proxied request costs (docs/money.md): deadlines after hand-off are charged,
 * redirects are never followed, estimated settles never under-charge reasoning output, an override
 * without an output cap still reserves output, and /v1/responses features without an upper bound
 * are refused under a hard budget (or reserved at a documented bound).
 */
import { createExecutionContext, env, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../src/index";
import { DEFAULT_OUTPUT_CAP_TOKENS } from "../src/durable-objects/gate-hot-copy";
import type { OrgGate } from "../src/durable-objects/org-gate";
import { orgGate } from "../src/durable-objects/org-gate-client";
import type { AdmitOk } from "../src/durable-objects/gate-protocol";
import { ApiError } from "../src/errors";
import { catalogPrice } from "../src/pricing/catalog";
import { costOfEstimate } from "../src/pricing/cost";
import { CONTEXT_BOUND_TOKENS, estimateRequest, MAX_JSON_DEPTH } from "../src/proxy/estimate";
import { deadlines, UPSTREAM_FIRST_BYTE_TIMEOUT_MS, UPSTREAM_TOTAL_TIMEOUT_MS } from "../src/proxy/upstream";
import { createOrg, createUser } from "./factories";
import { admitRequest, createBudgetRow, createPriceOverride, createProvider } from "./factories/gate";
import { costEventOf, createGatewayOrg, gateCounters, upstreamRecord, v1, waitForSettled } from "./factories/gateway";
import { createKey } from "./factories/keys";
import { inject } from "vitest";

const chat = (content: string, extra: Record<string, unknown> = {}) => ({ model: "gpt-4o-mini", messages: [{ role: "user", content }], max_tokens: 50, ...extra });

async function setup(plan = "pro") {
  const f = await createGatewayOrg({ plan });
  const budgetId = await createBudgetRow(f.org, f.owner, { scope: "org", limitMicros: 50_000_000 });
  return { ...f, budgetId };
}

async function spentOf(orgId: string, budgetId: string) {
  const c = await gateCounters(orgId);
  const row = c.counters.find((x) => x.budgetId === budgetId);
  return { spent: row?.spent ?? 0, reserved: row?.reserved ?? 0, reservations: c.reservations };
}

/** Calls the Worker with extra vars (e.g. a short first-byte deadline) and waits for its waitUntil work. */
async function v1WithEnv(vars: Record<string, string>, keyValue: string, path: string, body: unknown, headers: Record<string, string> = {}) {
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request(`http://localhost/v1${path}`, { method: "POST", headers: { authorization: `Bearer ${keyValue}`, "content-type": "application/json", ...headers }, body: JSON.stringify(body) }),
    { ...env, ...vars },
    ctx,
  );
  const text = await res.text();
  await waitOnExecutionContext(ctx);
  return { res, text };
}

async function drain(res: Response): Promise<string> {
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let text = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += dec.decode(value, { stream: true });
    }
  } catch {
    /* cut mid-stream */
  }
  return text;
}

describe("deadlines after hand-off", () => {
  it("a non-streamed call's first-byte deadline equals its total deadline; a streamed call keeps the shorter one", () => {
    const now = 1_000_000;
    const farExpiry = now + 10 * UPSTREAM_TOTAL_TIMEOUT_MS;
    expect(deadlines(null, farExpiry, now, { streamed: false })).toEqual({ firstByteMs: UPSTREAM_TOTAL_TIMEOUT_MS, totalMs: UPSTREAM_TOTAL_TIMEOUT_MS });
    expect(deadlines(null, farExpiry, now, { streamed: true })).toEqual({ firstByteMs: UPSTREAM_FIRST_BYTE_TIMEOUT_MS, totalMs: UPSTREAM_TOTAL_TIMEOUT_MS });
    expect(deadlines(null, farExpiry, now, { streamed: true, firstByteMs: 200 })).toEqual({ firstByteMs: 200, totalMs: UPSTREAM_TOTAL_TIMEOUT_MS });
    // the client may lower both
    expect(deadlines(500, farExpiry, now, { streamed: false })).toEqual({ firstByteMs: 500, totalMs: 500 });
  });

  it("a slow non-streamed response that sends its headers after the streamed first-byte deadline succeeds and is charged exactly", async () => {
    const f = await setup();
    const { res, text } = await v1WithEnv({ UPSTREAM_FIRST_BYTE_TIMEOUT_MS: "200" }, f.key.key, "/chat/completions", chat("#mock:slow-first-byte=700"));
    expect(res.status, text).toBe(200);
    const ev = (await costEventOf(f.org.id, res.headers.get("x-request-id")!))!;
    expect(ev).toMatchObject({ status: 200, estimated: 0, output_tokens: 5 });
  });

  it("a streamed call without headers by its first-byte deadline → 504, charged the reservation's estimate, flagged estimated", async () => {
    const f = await setup();
    const { res, text } = await v1WithEnv({ UPSTREAM_FIRST_BYTE_TIMEOUT_MS: "200" }, f.key.key, "/chat/completions", chat("#mock:slow-first-byte=700", { stream: true }));
    expect(res.status, text).toBe(504);
    expect(JSON.parse(text).error.code).toBe("upstream_timeout");
    const ev = (await costEventOf(f.org.id, res.headers.get("x-request-id")!))!;
    expect(ev).toMatchObject({ status: 504, estimated: 1, output_tokens: 50 });
    expect(ev.cost_micros).toBe(Math.ceil(((ev.input_tokens as number) * 150_000 + 50 * 600_000) / 1e6));
    expect(await spentOf(f.org.id, f.budgetId)).toEqual({ spent: ev.cost_micros, reserved: 0, reservations: 0 });
  });
});

describe("redirects", () => {
  it("a provider answering 302 → 502 upstream_error, the redirect target is never called, nothing charged", async () => {
    const f = await setup();
    const res = await v1(f.key, "/chat/completions", chat("#mock:redirect"));
    expect(res.status).toBe(502);
    const body = (await res.json()) as any;
    expect(body.error).toMatchObject({ code: "upstream_error", upstream_status: 302 });
    const requestId = res.headers.get("x-request-id")!;
    const hits = (await (await fetch(`${inject("mockUrls").openai}/__mock/redirect-hits/${encodeURIComponent(requestId)}`)).json()) as { hits: number };
    expect(hits.hits).toBe(0);
    const ev = (await costEventOf(f.org.id, requestId))!;
    expect(ev).toMatchObject({ cost_micros: 0, status: 302 });
    expect(await spentOf(f.org.id, f.budgetId)).toEqual({ spent: 0, reserved: 0, reservations: 0 });
  });
});

describe("estimated settles never under-charge", () => {
  it("a stream cut after finish_reason but before the usage chunk is charged the reservation's whole output share (hidden reasoning)", async () => {
    const f = await setup();
    const res = await v1(f.key, "/chat/completions", chat("#mock:cut-after-finish", { stream: true }));
    expect(res.status).toBe(200);
    const text = await drain(res);
    expect(text).toContain('"finish_reason":"stop"');
    const ev = (await costEventOf(f.org.id, res.headers.get("x-request-id")!))!;
    // visible text is 24 bytes, the reservation's output share is max_tokens = 50
    expect(ev).toMatchObject({ estimated: 1, status: 502, output_tokens: 50 });
  });

  it("a reasoning model's stream the client abandons is charged the reservation's output share, not only the visible text", async () => {
    const f = await setup();
    const res = await v1(f.key, "/chat/completions", chat("#mock:slow-chunks=150 #mock:chunks=20", { model: "o3-mini", stream: true }));
    const reader = res.body!.getReader();
    expect((await reader.read()).done).toBe(false);
    await reader.cancel();
    const ev = (await costEventOf(f.org.id, res.headers.get("x-request-id")!))!;
    expect(ev).toMatchObject({ estimated: 1, status: 499, output_tokens: 50 });
    // never below the input estimate plus the output share
    expect(ev.cost_micros).toBe(Math.ceil(((ev.input_tokens as number) * 1_100_000 + 50 * 4_400_000) / 1e6));
  });

  it("an org price override without max_output_tokens reserves the catalog's output cap (or the documented default), never 0", async () => {
    const owner = await createUser();
    const org = await createOrg(owner, { plan: "pro" });
    await createProvider(org);
    const key = await createKey(org, owner);
    await createPriceOverride(org, "gpt-4o", { input: 3_000_000, output: 12_000_000 });
    await createPriceOverride(org, "house-model", { input: 1_000_000, output: 2_000_000 });
    const gate = orgGate(env, org.id);
    const known = (await gate.admit(await admitRequest(key, { model: "gpt-4o", estimate: { inputTokens: 1000, outputTokens: 0 }, outputCapFromModel: true }))) as AdmitOk;
    expect(known.price.maxOutputTokens).toBe(catalogPrice("gpt-4o")!.maxOutputTokens);
    expect(known.reservedMicros).toBe(costOfEstimate(1000, 16_384, known.price));
    const custom = (await gate.admit(await admitRequest(key, { model: "house-model", estimate: { inputTokens: 1000, outputTokens: 0 }, outputCapFromModel: true }))) as AdmitOk;
    expect(custom.price.maxOutputTokens).toBe(DEFAULT_OUTPUT_CAP_TOKENS);
    expect(custom.reservedMicros).toBe(costOfEstimate(1000, DEFAULT_OUTPUT_CAP_TOKENS, custom.price));
  });
});

describe("/v1/responses: the reservation is an upper bound", () => {
  const responses = (extra: Record<string, unknown>) => ({ model: "gpt-4o-mini", input: "hi", max_output_tokens: 20, ...extra });

  it("a hosted tool under a hard budget → 400 naming the tool, nothing forwarded, nothing reserved or recorded", async () => {
    const f = await setup();
    const before = await gateCounters(f.org.id);
    const res = await v1(f.key, "/responses", responses({ tools: [{ type: "function", name: "f", parameters: {} }, { type: "web_search" }] }));
    expect(res.status).toBe(400);
    const body = (await res.json()) as any;
    expect(body.error).toMatchObject({ code: "invalid_request", param: "tools.1.type" });
    expect(body.error.message).toMatch(/web_search/);
    expect(await upstreamRecord("openai", res.headers.get("x-request-id")!)).toBeNull();
    const after = await gateCounters(f.org.id);
    expect(after.counters).toEqual(before.counters);
    expect(after.outbox).toEqual(before.outbox);
    expect(after.reservations).toBe(0);
  });

  it("the plan's spend cap is a hard budget too; an org with no hard cap may use hosted tools", async () => {
    const capped = await createGatewayOrg({ plan: "free" });
    const refused = await v1(capped.key, "/responses", responses({ tools: [{ type: "file_search" }] }));
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as any).error.message).toMatch(/plan's monthly spend cap/);

    const open = await createGatewayOrg({ plan: "enterprise" });
    await createBudgetRow(open.org, open.owner, { scope: "org", limitMicros: 50_000_000, mode: "soft" });
    const res = await v1(open.key, "/responses", responses({ tools: [{ type: "web_search" }] }));
    expect(res.status).toBe(200);
    await waitForSettled(open.org.id);
  });

  it("background: true → 400 (its cost never reaches the gateway), not forwarded", async () => {
    const f = await setup("enterprise");
    const res = await v1(f.key, "/responses", responses({ background: true }));
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error.param).toBe("background");
    expect(await upstreamRecord("openai", res.headers.get("x-request-id")!)).toBeNull();
  });

  it("server-side content (previous_response_id, conversation, stored prompt, file_id / file_url) reserves a full context window of input", () => {
    const cases: Array<Record<string, unknown>> = [
      { input: "x", previous_response_id: "resp_1" },
      { input: "x", conversation: "conv_1" },
      { prompt: { id: "pmpt_1", version: "2" } },
      { input: [{ role: "user", content: [{ type: "input_file", file_id: "file-abc" }, { type: "input_text", text: "summarise" }] }] },
      { input: [{ role: "user", content: [{ type: "input_file", file_url: "https://example.com/a.pdf" }] }] },
    ];
    for (const body of cases) expect(estimateRequest("responses", body).estimate.inputTokens, JSON.stringify(body)).toBe(CONTEXT_BOUND_TOKENS);
    // chat completions file parts too
    expect(estimateRequest("chat.completions", { messages: [{ role: "user", content: [{ type: "file", file: { file_id: "file-1" } }] }] }).estimate.inputTokens).toBe(CONTEXT_BOUND_TOKENS);
    // an image by file_id stays a flat image allowance
    expect(estimateRequest("responses", { input: [{ role: "user", content: [{ type: "input_image", file_id: "file-img" }] }] }).estimate.inputTokens).toBeLessThan(10_000);
  });

  it("previous_response_id under a hard budget is admitted with the bounded reservation held until settle", async () => {
    const f = await setup();
    const res = await v1(f.key, "/responses", responses({ previous_response_id: "resp_prev", input: "#mock:slow-first-byte=300" }));
    expect(res.status).toBe(200);
    await waitForSettled(f.org.id);
    const ev = (await costEventOf(f.org.id, res.headers.get("x-request-id")!))!;
    expect(ev.estimated).toBe(0);
  });

  it("the bounded reservation is what the gate holds while the call is in flight", async () => {
    const f = await setup();
    const pending = v1(f.key, "/responses", responses({ previous_response_id: "resp_prev", input: "#mock:slow-first-byte=600" }));
    await new Promise((r) => setTimeout(r, 250));
    const held = await spentOf(f.org.id, f.budgetId);
    // gpt-4o-mini: CONTEXT_BOUND_TOKENS × $0.15/Mtok + 20 × $0.60/Mtok
    expect(held.reserved).toBe(costOfEstimate(CONTEXT_BOUND_TOKENS, 20, catalogPrice("gpt-4o-mini")!));
    expect((await pending).status).toBe(200);
    await waitForSettled(f.org.id);
  });
});

describe("hostile bodies", () => {
  it("JSON nested deeper than the limit is a 400 from the estimator, in any field, without recursion", () => {
    const deep = (n: number) => JSON.parse("[".repeat(n) + "]".repeat(n)) as unknown;
    const body = { messages: [{ role: "user", content: "hi" }], tools: [{ type: "function", function: { parameters: deep(200_000) } }] };
    let err: unknown;
    try {
      estimateRequest("chat.completions", body);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(400);
    expect((err as ApiError).extra.param).toBe("tools");
    expect(() => estimateRequest("chat.completions", { messages: [{ role: "user", content: "hi" }], extra_field: deep(MAX_JSON_DEPTH + 1) })).toThrow(/nested deeper/);
    expect(() => estimateRequest("chat.completions", { messages: [{ role: "user", content: "hi" }], extra_field: deep(MAX_JSON_DEPTH - 1) })).not.toThrow();
  });
});

describe("expired reservations", () => {
  it("a reservation whose settle never came is settled at its estimate by the alarm, with an estimated cost event", async () => {
    const f = await setup();
    const gate = orgGate(env, f.org.id);
    const longAgo = Date.now() - 10 * 60_000;
    const req = await admitRequest(f.key, { model: "gpt-4o-mini", estimate: { inputTokens: 2000, outputTokens: 300 } });
    const ok = (await gate.admit(req, longAgo)) as AdmitOk;
    const expected = costOfEstimate(2000, 300, catalogPrice("gpt-4o-mini")!);
    expect(ok.reservedMicros).toBe(expected);
    await runInDurableObject(gate, async (instance: OrgGate) => instance.alarm());
    expect(await spentOf(f.org.id, f.budgetId)).toEqual({ spent: expected, reserved: 0, reservations: 0 });
    const ev = (await costEventOf(f.org.id, req.requestId))!;
    expect(ev).toMatchObject({ cost_micros: expected, estimated: 1, input_tokens: 2000, output_tokens: 300, key_id: f.key.id, model: "gpt-4o-mini", provider: "openai" });
  });
});
