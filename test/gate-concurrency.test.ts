/**
 * The gate under simultaneous load: what the money (or the window) allows is exactly what gets in,
 * spend never exceeds a hard limit, and the DO counters match the D1 cost events after the flush.
 */
import { env, runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { orgGate } from "../src/durable-objects/org-gate-client";
import type { AdmitOk, AdmitResult } from "../src/durable-objects/gate-protocol";
import { createOrg, createUser } from "./factories";
import { admitRequest, admittedPairs, createBudgetRow, createProvider, settleRequest, usageAtEstimate } from "./factories/gate";
import { createKey } from "./factories/keys";

// gpt-4o-mini: 1000 × $0.15/M + 1000 × $0.60/M = 750 µ$ per request at the default estimate.
const ESTIMATE = 750;

async function setup() {
  const owner = await createUser();
  const org = await createOrg(owner, { plan: "pro" });
  await createProvider(org);
  const key = await createKey(org, owner);
  return { owner, org, key, gate: orgGate(env, org.id) };
}

async function d1CostSum(orgId: string) {
  return env.DB.prepare("SELECT COUNT(*) AS n, COALESCE(SUM(cost_micros), 0) AS s FROM cost_events WHERE org_id = ?").bind(orgId).first<{ n: number; s: number }>();
}

describe("gate concurrency", () => {
  it("1,000 simultaneous admits against a hard budget admit exactly what the money allows; settle, flush, reconcile", async () => {
    const { owner, org, key, gate } = await setup();
    const limit = 40 * ESTIMATE + 300; // room for 40, not 41
    const budgetId = await createBudgetRow(org, owner, { limitMicros: limit, period: "monthly" });
    const reqs = await Promise.all(Array.from({ length: 1000 }, () => admitRequest(key)));
    const results = await Promise.all(reqs.map((r) => gate.admit(r)));
    const admitted = admittedPairs(reqs, results);
    expect(admitted.length).toBe(Math.floor(limit / ESTIMATE));
    const denied = results.filter((r) => !r.ok) as Array<Extract<AdmitResult, { ok: false }>>;
    expect(denied.every((d) => d.denial.kind === "budget_exceeded" && d.denial.budgetId === budgetId && d.denial.limitMicros === limit)).toBe(true);

    let c = await gate.counters();
    const counter = () => c.counters.find((x) => x.budgetId === budgetId)!;
    expect(counter().spent + counter().reserved).toBeLessThanOrEqual(limit);
    expect(counter().reserved).toBe(40 * ESTIMATE);

    const settled = await Promise.all(admitted.map(([req, ok]) => gate.settle(settleRequest(req, ok, usageAtEstimate(req)))));
    expect(settled.every((s) => s.costMicros === ESTIMATE && !s.duplicate)).toBe(true);
    c = await gate.counters();
    expect(counter()).toMatchObject({ spent: 40 * ESTIMATE, reserved: 0 });
    expect(counter().spent).toBeLessThanOrEqual(limit);

    expect(await runDurableObjectAlarm(gate)).toBe(true);
    c = await gate.counters();
    expect(c.reservations).toBe(0);
    expect(c.outbox).toEqual({ cost: 0, budget: 0 });
    const d1 = await d1CostSum(org.id);
    expect(d1).toEqual({ n: 40, s: counter().spent });
  });

  it("an RPM window admits exactly its limit from a simultaneous burst", async () => {
    const { org, owner, gate } = await setup();
    const key = await createKey(org, owner, { rpm: 25 });
    const now = Date.UTC(2030, 0, 16, 12, 0, 30);
    const reqs = await Promise.all(Array.from({ length: 300 }, () => admitRequest(key)));
    const results = await Promise.all(reqs.map((r) => gate.admit(r, now)));
    expect(results.filter((r) => r.ok).length).toBe(25);
    const d = results.find((r) => !r.ok) as Extract<AdmitResult, { ok: false }>;
    expect(d.denial).toMatchObject({ kind: "rate_limited", window: "rpm", scope: "key", scopeId: key.id, limit: 25, retryAfterMs: 30_000 });
    const last = results.filter((r) => r.ok).map((r) => (r as AdmitOk).rateLimit!.remainingRequests);
    expect(Math.min(...last)).toBe(0);
    // The next minute is a fresh window.
    expect((await gate.admit(await admitRequest(key), now + 30_000)).ok).toBe(true);
  });

  it("a default customer budget is instantiated per new customer, atomically, under a simultaneous burst", async () => {
    const { org, owner, key, gate } = await setup();
    await createBudgetRow(org, owner, { scope: "customer", scopeId: null, limitMicros: 3 * ESTIMATE });
    const customers = Array.from({ length: 40 }, (_, i) => `cust-${i}`);
    const reqs = await Promise.all(customers.flatMap((c) => Array.from({ length: 8 }, () => admitRequest(key, { attribution: { customerId: c, tags: {}, traceId: null } }))));
    const results = await Promise.all(reqs.map((r) => gate.admit(r)));
    const perCustomer = new Map<string, number>();
    results.forEach((r, i) => {
      if (r.ok) perCustomer.set(reqs[i]!.attribution.customerId!, (perCustomer.get(reqs[i]!.attribution.customerId!) ?? 0) + 1);
    });
    expect([...perCustomer.values()]).toEqual(customers.map(() => 3));
    const c = await gate.counters();
    expect(c.customers).toBe(40);
    const denial = results.find((r) => !r.ok) as Extract<AdmitResult, { ok: false }>;
    expect(denial.denial).toMatchObject({ kind: "budget_exceeded", scope: "customer" });
    expect((denial.denial as { scopeId: string }).scopeId).toMatch(/^cust-/);
  });

  it("a concurrent duplicate settle is counted once", async () => {
    const { org, owner, key, gate } = await setup();
    const budgetId = await createBudgetRow(org, owner, { limitMicros: 1_000_000 });
    const req = await admitRequest(key);
    const ok = (await gate.admit(req)) as AdmitOk;
    const s = settleRequest(req, ok, usageAtEstimate(req));
    const [a, b, c2] = await Promise.all([gate.settle(s), gate.settle(s), gate.settle({ ...s, reservationId: "rsv_other" })]);
    expect([a, b, c2].filter((x) => x.duplicate).length).toBe(2);
    const c = await gate.counters();
    expect(c.counters.find((x) => x.budgetId === budgetId)!.spent).toBe(ESTIMATE);
    expect(c.outbox.cost).toBe(1);
  });

  it("thresholds fire exactly once per budget and period under concurrency", async () => {
    const { org, owner, key, gate } = await setup();
    const budgetId = await createBudgetRow(org, owner, { limitMicros: 10 * ESTIMATE, alertThresholds: [50, 80, 90, 100] });
    const reqs = await Promise.all(Array.from({ length: 200 }, () => admitRequest(key)));
    const results = await Promise.all(reqs.map((r) => gate.admit(r)));
    const admitted = admittedPairs(reqs, results);
    expect(admitted.length).toBe(10);
    await Promise.all(admitted.map(([req, ok]) => gate.settle(settleRequest(req, ok, usageAtEstimate(req)))));
    // A second wave, all refused, must not add alerts either.
    await Promise.all(Array.from({ length: 50 }, async () => gate.admit(await admitRequest(key))));
    await runDurableObjectAlarm(gate);
    const { results: events } = await env.DB.prepare("SELECT kind, threshold FROM budget_events WHERE org_id = ? AND budget_id = ? ORDER BY kind, threshold")
      .bind(org.id, budgetId).all<{ kind: string; threshold: number }>();
    expect(events).toEqual([
      { kind: "exceeded", threshold: 100 },
      { kind: "threshold", threshold: 50 },
      { kind: "threshold", threshold: 80 },
      { kind: "threshold", threshold: 90 },
      { kind: "threshold", threshold: 100 },
    ]);
  });
});
