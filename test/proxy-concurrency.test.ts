/**
 * ≥ 1,000 simultaneous requests through the Worker (not just the gate) against a hard budget and an
 * RPM window that admit a few dozen: what the money / window allows is exactly what gets through,
 * spend never exceeds the limit, no reservation survives, and the gate's counters equal Σ D1 cost events.
 */
import { describe, expect, it } from "vitest";
import { createBudgetRow, createPriceOverride } from "./factories/gate";
import { costEvents, createGatewayOrg, flushGate, gateCounters, v1, waitForSettled } from "./factories/gateway";

const N = 1_000;
// Input is free and output costs $1/Mtok, so a request with max_tokens 1,000 reserves exactly 1,000 µ$,
// and the mock (`#mock:fill`) reports exactly 1,000 output tokens: reservation = cost.
const PER_REQUEST = 1_000;
const body = { model: "budget-model", messages: [{ role: "user", content: "#mock:fill" }], max_tokens: 1_000 };

async function fire(key: Parameters<typeof v1>[0]) {
  const responses = await Promise.all(Array.from({ length: N }, () => v1(key, "/chat/completions", body).then(async (r) => ({ status: r.status, retryAfter: r.headers.get("retry-after"), body: (await r.json()) as any }))));
  const count = (s: number) => responses.filter((r) => r.status === s).length;
  return { responses, ok: count(200), count };
}

describe("simultaneous requests through the Worker", () => {
  it(`${N} requests at a hard budget: spent ≤ limit, admitted = what the money allows, counters = D1`, async () => {
    const { org, owner, key } = await createGatewayOrg();
    await createPriceOverride(org, "budget-model", { input: 0, output: 1_000_000, maxOutput: 4_096 });
    const LIMIT = 36_500;
    const budgetId = await createBudgetRow(org, owner, { scope: "org", limitMicros: LIMIT, period: "monthly", mode: "hard" });
    const { ok, count, responses } = await fire(key);
    expect(ok).toBe(Math.floor(LIMIT / PER_REQUEST)); // 36
    expect(count(402)).toBe(N - ok);
    expect(responses.find((r) => r.status === 402)!.body.error).toMatchObject({ code: "budget_exceeded", scope: "org", limit_micros: LIMIT });

    await waitForSettled(org.id, 15_000);
    await flushGate(org.id);
    const c = await gateCounters(org.id);
    const counter = c.counters.find((x) => x.budgetId === budgetId)!;
    expect(c.reservations).toBe(0);
    expect(counter.reserved).toBe(0);
    expect(counter.spent).toBeLessThanOrEqual(LIMIT);
    expect(LIMIT - counter.spent).toBeLessThan(PER_REQUEST); // nothing more could have been admitted
    const events = (await costEvents(org.id)).filter((e) => e.status === 200);
    expect(events).toHaveLength(ok);
    expect(events.reduce((s, e) => s + e.cost_micros, 0)).toBe(counter.spent);
  }, 120_000);

  it(`${N} requests at an RPM window of 25: exactly 25 through, the rest 429 with Retry-After`, async () => {
    // Fixed one-minute windows: stay clear of a minute boundary so the burst lands in one window.
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 45_000) await new Promise((r) => setTimeout(r, 60_000 - intoMinute + 200));
    const { org, owner, key } = await createGatewayOrg();
    await createPriceOverride(org, "budget-model", { input: 0, output: 1_000_000, maxOutput: 4_096 });
    await createBudgetRow(org, owner, { scope: "key", scopeId: key.id, limitMicros: null, rpm: 25 });
    const { ok, count, responses } = await fire(key);
    expect(ok).toBe(25);
    expect(count(429)).toBe(N - 25);
    expect(responses.filter((r) => r.status === 429).every((r) => Number(r.retryAfter) >= 1 && Number(r.retryAfter) <= 60)).toBe(true);
    expect(responses.find((r) => r.status === 429)!.body.error).toMatchObject({ code: "rate_limit_exceeded", window: "rpm", limit: 25, scope: "key" });
    await waitForSettled(org.id, 15_000);
    await flushGate(org.id);
    expect((await gateCounters(org.id)).reservations).toBe(0);
    expect((await costEvents(org.id)).filter((e) => e.status === 200)).toHaveLength(25);
  }, 120_000);
});
