/**
 * 1,000 simultaneous requests through the Worker against a $0.01 prepaid balance (credits on, the
 * `workers-credits` project): the balance never goes below zero, exactly what it pays for gets through,
 * no reservation is left, and Σ D1 cost events = credits used.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { grantCredits } from "../src/services/credits";
import { call } from "./factories";
import { createPriceOverride } from "./factories/gate";
import { costEvents, createGatewayOrg, flushGate, gateCounters, v1, waitForSettled } from "./factories/gateway";

const N = 1_000;
const BALANCE = 10_000; // $0.01
// Input free, output $1/Mtok: max_tokens 1,000 reserves 1,000 µ$; `#mock:fill` bills exactly 1,000 tokens.
const PER_REQUEST = 1_000;
const body = { model: "credit-model", messages: [{ role: "user", content: "#mock:fill" }], max_tokens: 1_000 };

describe("prepaid balance under concurrency", () => {
  it(`${N} simultaneous requests against $0.01: never below 0, Σ cost events = credits used, no reservation left`, async () => {
    const { org, owner, key } = await createGatewayOrg();
    await createPriceOverride(org, "credit-model", { input: 0, output: 1_000_000, maxOutput: 4_096 });
    expect(await grantCredits(env, org.id, { kind: "adjustment", amountMicros: BALANCE, ref: `conc:${org.id}` })).toMatchObject({ ok: true });

    const responses = await Promise.all(Array.from({ length: N }, () => v1(key, "/chat/completions", body).then(async (r) => ({ status: r.status, body: (await r.json()) as any }))));
    const ok = responses.filter((r) => r.status === 200).length;
    const refused = responses.filter((r) => r.status === 402);
    expect(ok).toBe(BALANCE / PER_REQUEST);
    expect(refused).toHaveLength(N - ok);
    expect(refused.every((r) => r.body.error.scope === "credits" && r.body.error.code === "budget_exceeded")).toBe(true);
    // At every admission spent + reserved + estimate ≤ balance, so no refusal ever saw more than the grant in use.
    expect(refused.every((r) => r.body.error.spent_micros + r.body.error.reserved_micros <= BALANCE)).toBe(true);

    await waitForSettled(org.id, 15_000);
    await flushGate(org.id);
    const c = await gateCounters(org.id);
    const counter = c.counters.find((x) => x.budgetId === "$credits")!;
    expect(c.reservations).toBe(0);
    expect(counter.reserved).toBe(0);
    expect(counter.spent).toBe(BALANCE);
    const events = await costEvents(org.id);
    expect(events.filter((e) => e.status === 200)).toHaveLength(ok);
    expect(events.reduce((s, e) => s + e.cost_micros, 0)).toBe(counter.spent);

    const ledger = await call(owner, "GET", `/api/orgs/${org.id}/billing/credits`);
    expect(ledger.body).toMatchObject({ balance_micros: 0, used_micros: BALANCE, reserved_micros: 0 });
  }, 120_000);
});
