/**
 * Failures around the upstream call (docs/money.md): provider errors and a connection that never
 * opened release the reservation and charge nothing; a timeout after the request was handed off is
 * charged the reservation's estimate; streams cut short (provider, client) or without usage charge the tokens that were
 * delivered, flagged `estimated`, never $0; a gate evicted mid-request loses nothing and counts
 * nothing twice; a duplicate settle is counted once.
 */
import { env, evictDurableObject, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { OrgGate } from "../src/durable-objects/org-gate";
import { gateSettle, orgGate } from "../src/durable-objects/org-gate-client";
import { createBudgetRow } from "./factories/gate";
import { costEventOf, costEvents, createGatewayOrg, createSealedProvider, flushGate, gateCounters, upstreamRecord, v1, waitForSettled } from "./factories/gateway";

const chat = (content: string, extra: Record<string, unknown> = {}) => ({ model: "gpt-4o-mini", messages: [{ role: "user", content }], max_tokens: 50, ...extra });

async function setup() {
  const f = await createGatewayOrg();
  const budgetId = await createBudgetRow(f.org, f.owner, { scope: "org", limitMicros: 50_000_000 });
  return { ...f, budgetId };
}

async function spentOf(orgId: string, budgetId: string) {
  const c = await gateCounters(orgId);
  const row = c.counters.find((x) => x.budgetId === budgetId);
  return { spent: row?.spent ?? 0, reserved: row?.reserved ?? 0, reservations: c.reservations };
}

/** Reads a response body to the end, tolerating a stream that errors; returns the text received. */
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

describe("upstream errors before any output", () => {
  it.each([
    [500, 502, "upstream_error"],
    [502, 502, "upstream_error"],
    [429, 429, "rate_limit_exceeded"],
    [400, 400, "invalid_request"],
    [401, 502, "upstream_error"],
  ])("provider %i → %i %s, released, nothing charged", async (upstream, status, code) => {
    const f = await setup();
    const res = await v1(f.key, "/chat/completions", chat(`#mock:fail-${upstream}`));
    expect(res.status).toBe(status);
    const body = (await res.json()) as any;
    expect(body.error.code).toBe(code);
    expect(body.error.upstream_status).toBe(upstream);
    expect(body.error.request_id).toBe(res.headers.get("x-request-id"));
    if (upstream === 429) {
      expect(res.headers.get("retry-after")).toBe("7");
      expect(body.error.scope).toBe("provider");
      // the provider's 429 text can name the provider account: never passed on
      expect(body.error.message).not.toContain("Rate limit reached for requests");
    }
    if (upstream === 400) expect(body.error.param).toBe("temperature");
    if (upstream === 401) expect(body.error.message).not.toContain("sk-proj");
    await waitForSettled(f.org.id);
    expect(await spentOf(f.org.id, f.budgetId)).toEqual({ spent: 0, reserved: 0, reservations: 0 });
    const ev = (await costEventOf(f.org.id, res.headers.get("x-request-id")!))!;
    expect(ev).toMatchObject({ cost_micros: 0, status: upstream });
  });

  it("a provider that received the request and never answers → 504, charged the reservation's estimate, flagged estimated (a client deadline is no free call)", async () => {
    const f = await setup();
    const res = await v1(f.key, "/chat/completions", chat("#mock:hang"), { "X-Tollgate-Timeout-Ms": "300" });
    expect(res.status).toBe(504);
    expect(((await res.json()) as any).error.code).toBe("upstream_timeout");
    const requestId = res.headers.get("x-request-id")!;
    expect(await upstreamRecord("openai", requestId)).not.toBeNull();
    const ev = (await costEventOf(f.org.id, requestId))!;
    // gpt-4o-mini: the input estimate (UTF-8 bytes + framing) and the 50 reserved output tokens, at full price.
    const input = ev.input_tokens as number;
    expect(input).toBeGreaterThanOrEqual("#mock:hang".length + "user".length);
    expect(ev).toMatchObject({ estimated: 1, status: 504, output_tokens: 50, cost_micros: Math.ceil((input * 150_000 + 50 * 600_000) / 1e6) });
    expect(await spentOf(f.org.id, f.budgetId)).toEqual({ spent: ev.cost_micros, reserved: 0, reservations: 0 });
  });

  it("an unreachable provider (connection refused: never handed off) → 502, released, $0 event", async () => {
    const f = await setup();
    await createSealedProvider(f.org, { name: "dead", type: "openai_compatible", baseUrl: "http://127.0.0.1:9/v1", apiKey: "x" });
    const res = await v1(f.key, "/chat/completions", chat("hi", { model: "dead/gpt-4o-mini" }), { "X-Tollgate-Timeout-Ms": "5000" });
    expect(res.status).toBe(502);
    expect(((await res.json()) as any).error.code).toBe("upstream_error");
    const ev = (await costEventOf(f.org.id, res.headers.get("x-request-id")!))!;
    expect(ev).toMatchObject({ cost_micros: 0, estimated: 0 });
    expect(await spentOf(f.org.id, f.budgetId)).toMatchObject({ spent: 0, reserved: 0 });
  });
});

describe("streams that end without usage", () => {
  // Delivered before the cut: "Hé" + "llo" + " wörld" = 3 + 3 + 7 UTF-8 bytes → 13 tokens (bytes are the upper bound).
  it("a stream the provider truncates is charged for the delivered output, flagged estimated", async () => {
    const f = await setup();
    const res = await v1(f.key, "/chat/completions", chat("#mock:truncate", { stream: true }));
    expect(res.status).toBe(200);
    const text = await drain(res);
    expect(text).toContain("wörld");
    expect(text).not.toContain("[DONE]");
    // the break reaches the client as an SSE error event the SDKs raise, not as a silent end
    expect(text).toMatch(/data: \{"error":\{"message":"The stream from provider 'openai' broke off","type":"upstream_error"/);
    const ev = (await costEventOf(f.org.id, res.headers.get("x-request-id")!))!;
    expect(ev.estimated).toBe(1);
    expect(ev.output_tokens).toBe(13);
    expect(ev.cost_micros).toBeGreaterThan(0);
    expect(ev.status).toBe(502);
    const s = await spentOf(f.org.id, f.budgetId);
    expect(s).toEqual({ spent: ev.cost_micros, reserved: 0, reservations: 0 });
  });

  it("a stream that stalls past the total deadline is cut, ends with an error event, and is charged as delivered", async () => {
    const f = await setup();
    const res = await v1(f.key, "/chat/completions", chat("#mock:stall", { stream: true }), { "X-Tollgate-Timeout-Ms": "400" });
    expect(res.status).toBe(200);
    const text = await drain(res);
    expect(text).toContain("wörld");
    expect(text).toContain('"code":"upstream_error"');
    const ev = (await costEventOf(f.org.id, res.headers.get("x-request-id")!))!;
    expect(ev).toMatchObject({ estimated: 1, output_tokens: 13, status: 502 });
  });

  it("a stream that completes without any usage is charged for its delivered output", async () => {
    const f = await setup();
    const res = await v1(f.key, "/chat/completions", chat("#mock:no-usage", { stream: true }));
    await drain(res);
    const ev = (await costEventOf(f.org.id, res.headers.get("x-request-id")!))!;
    // all five pieces: 3 + 3 + 7 + 5 + 6 bytes
    expect(ev).toMatchObject({ estimated: 1, output_tokens: 24, status: 200 });
    expect(ev.cost_micros).toBeGreaterThan(0);
  });

  it("an Anthropic stream cut after message_start keeps the provider's exact input count", async () => {
    const f = await setup();
    const res = await v1(f.key, "/messages", { model: "anthropic/claude-sonnet-4-5", max_tokens: 64, stream: true, messages: [{ role: "user", content: "#mock:truncate" }] }, { "anthropic-version": "2023-06-01" });
    await drain(res);
    const ev = (await costEventOf(f.org.id, res.headers.get("x-request-id")!))!;
    expect(ev.estimated).toBe(1);
    expect(ev.input_tokens).toBe(Math.ceil((4 + "#mock:truncate".length) / 4));
    expect(ev.output_tokens).toBe(13);
  });

  it("a client that disconnects mid-stream is charged for what was delivered (or the estimate), never $0", async () => {
    const f = await setup();
    const res = await v1(f.key, "/chat/completions", chat("#mock:slow-chunks=150 #mock:chunks=20", { stream: true }));
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(first.done).toBe(false);
    await reader.cancel();
    const requestId = res.headers.get("x-request-id")!;
    const ev = (await costEventOf(f.org.id, requestId))!;
    expect(ev.estimated).toBe(1);
    expect(ev.status).toBe(499);
    expect(ev.cost_micros).toBeGreaterThan(0);
    expect(ev.output_tokens).toBeLessThan(50);
    expect(await spentOf(f.org.id, f.budgetId)).toEqual({ spent: ev.cost_micros, reserved: 0, reservations: 0 });
  });
});

describe("gate failures around a request", () => {
  it("a gate evicted mid-stream loses nothing and counts nothing twice", async () => {
    const f = await setup();
    const res = await v1(f.key, "/chat/completions", chat("#mock:slow-chunks=40 #mock:chunks=6", { stream: true }));
    const reader = res.body!.getReader();
    await reader.read();
    await evictDurableObject(orgGate(env, f.org.id));
    for (;;) if ((await reader.read()).done) break;
    const ev = (await costEventOf(f.org.id, res.headers.get("x-request-id")!))!;
    expect(ev).toMatchObject({ estimated: 0, output_tokens: 6 });
    expect(await spentOf(f.org.id, f.budgetId)).toEqual({ spent: ev.cost_micros, reserved: 0, reservations: 0 });
    expect((await costEvents(f.org.id)).length).toBe(1);
  });

  it("a duplicate settle of a proxied request is counted once", async () => {
    const f = await setup();
    const res = await v1(f.key, "/chat/completions", chat("hello"));
    const requestId = res.headers.get("x-request-id")!;
    const ev = (await costEventOf(f.org.id, requestId))!;
    const reservationId = await runInDurableObject(orgGate(env, f.org.id), (_i: OrgGate, state) =>
      state.storage.sql.exec<{ reservation_id: string }>("SELECT reservation_id FROM settled WHERE request_id = ?", requestId).one().reservation_id,
    );
    const before = await spentOf(f.org.id, f.budgetId);
    const again = await gateSettle(env, {
      orgId: f.org.id, reservationId, status: 200, estimated: false, latencyMs: 1, ttfbMs: 1,
      usage: { uncachedInputTokens: 999, cachedInputTokens: 0, cacheWriteTokens: 0, cacheWrite1hTokens: 0, outputTokens: 999, reasoningTokens: 0 },
      context: { requestId, keyId: f.key.id, teamId: null, endpoint: "chat.completions", providerName: "openai", model: "gpt-4o-mini", price: { inputPerMtok: 1, cachedInputPerMtok: 1, cacheWritePerMtok: 1, cacheWrite1hPerMtok: 1, outputPerMtok: 1, maxOutputTokens: 1 }, attribution: { customerId: null, tags: {}, traceId: null }, createdAt: Date.now() },
    });
    expect(again).toMatchObject({ ok: true, duplicate: true });
    expect(await spentOf(f.org.id, f.budgetId)).toEqual(before);
    await flushGate(f.org.id);
    const events = await costEvents(f.org.id);
    expect(events).toHaveLength(1);
    expect(events[0]!.cost_micros).toBe(ev.cost_micros);
  });
});

describe("the data plane fails closed", () => {
  it("a request that never reached the provider is not recorded upstream", async () => {
    const f = await setup();
    const res = await v1(f.key, "/chat/completions", { model: "gpt-4o-mini", messages: [] });
    expect(res.status).toBe(400);
    expect(await upstreamRecord("openai", res.headers.get("x-request-id")!)).toBeNull();
  });
});
