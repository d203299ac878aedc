/** Denials and upstream failures map to the documented statuses, codes, fields and headers. */
import { describe, expect, it } from "vitest";
import type { Denial } from "../src/durable-objects/gate-protocol";
import { denialToError, formatUsd } from "../src/proxy/denial";
import { proxyErrorResponse } from "../src/proxy/error-response";
import { formatResetDuration } from "../src/proxy/headers";
import { upstreamErrorToApiError } from "../src/proxy/upstream";

const denials: Array<[Denial, number, string]> = [
  [{ kind: "invalid_key", reason: "revoked" }, 401, "invalid_api_key"],
  [{ kind: "model_not_allowed", model: "gpt-4o" }, 403, "model_not_allowed"],
  [{ kind: "model_not_priced", model: "x" }, 403, "model_not_priced"],
  [{ kind: "no_provider", model: "x" }, 400, "invalid_request"],
  [{ kind: "budget_exceeded", source: "budget", scope: "team", scopeId: "team_1", budgetId: "bud_1", limitMicros: 500_000_000, spentMicros: 499_990_000, reservedMicros: 10_000, resetsAt: "2026-12-01T00:00:00.000Z", label: "team 'search'", period: "monthly" }, 402, "budget_exceeded"],
  [{ kind: "rate_limited", scope: "key", scopeId: "key_1", window: "rpm", limit: 60, retryAfterMs: 1500, label: "key 'ci'" }, 429, "rate_limit_exceeded"],
  [{ kind: "velocity_tripped", scope: "org", scopeId: null, budgetId: "bud_2", retryAfterMs: 300_000, label: "org" }, 429, "rate_limit_exceeded"],
];

describe("denial → error", () => {
  it.each(denials)("%o → %i %s", (d, status, code) => {
    const e = denialToError(d);
    expect(e.status).toBe(status);
    expect(e.code).toBe(code);
    if (status === 429) expect(Number(e.headers["Retry-After"])).toBeGreaterThanOrEqual(1);
  });

  it("budget message and fields follow the design's example", () => {
    const e = denialToError(denials[4]![0]);
    expect(e.message).toBe("Monthly budget of team 'search' exhausted ($500.00 of $500.00); resets 2026-12-01T00:00:00.000Z");
    expect(e.extra).toMatchObject({ scope: "team", scope_id: "team_1", limit_micros: 500_000_000, spent_micros: 499_990_000, resets_at: "2026-12-01T00:00:00.000Z" });
  });

  it("renders OpenAI's shape, or Anthropic's envelope with the same fields on /v1/messages", async () => {
    const e = denialToError(denials[5]![0]);
    const o = proxyErrorResponse(e, "openai", "req_1");
    expect(o.status).toBe(429);
    expect(o.headers.get("retry-after")).toBe("2");
    expect(await o.json()).toMatchObject({ error: { type: "rate_limit_exceeded", code: "rate_limit_exceeded", param: null, scope: "key", request_id: "req_1" } });
    const a = proxyErrorResponse(e, "anthropic", "req_1");
    expect(await a.json()).toMatchObject({ type: "error", error: { type: "rate_limit_error", code: "rate_limit_exceeded", scope: "key", request_id: "req_1" } });
  });

  it("formats money and reset durations", () => {
    expect(formatUsd(1_234_567_890)).toBe("$1,234.56");
    expect(formatResetDuration(20)).toBe("20ms");
    expect(formatResetDuration(1000)).toBe("1s");
    expect(formatResetDuration(360_000)).toBe("6m0s");
  });

  it("never echoes a provider's auth error (it may quote part of the provider key)", () => {
    const e = upstreamErrorToApiError(401, JSON.stringify({ error: { message: "Incorrect API key provided: sk-proj-****abcd" } }), "openai", new Headers());
    expect(e.status).toBe(502);
    expect(e.message).not.toContain("sk-proj");
  });
});
