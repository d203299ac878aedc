/**
 * Reservations over time and across failures: expiry never before the upstream timeout + margin,
 * late settles still recorded, revocation and eviction, velocity breakers, soft budgets, plan caps.
 */
import { env, evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { COUNTER_RETENTION_MS } from "../src/durable-objects/gate-ledger";
import { gateAdmit, isGateUnavailable, orgGate } from "../src/durable-objects/org-gate-client";
import type { OrgGate } from "../src/durable-objects/org-gate";
import { RESERVATION_TTL_MS, UPSTREAM_TOTAL_TIMEOUT_MS, type AdmitOk, type AdmitResult } from "../src/durable-objects/gate-protocol";
import { createOrg, createUser } from "./factories";
import { admitRequest, createBudgetRow, createPriceOverride, createProvider, releaseRequest, settleRequest, usage, usageAtEstimate } from "./factories/gate";
import { createKey } from "./factories/keys";

const ESTIMATE = 750;

async function setup(plan = "pro") {
  const owner = await createUser();
  const org = await createOrg(owner, { plan });
  await createProvider(org);
  const key = await createKey(org, owner);
  return { owner, org, key, gate: orgGate(env, org.id) };
}

describe("reservation lifecycle", () => {
  // Tests that pass `now` use a future instant: the alarm for a past expiry would fire at once.
  it("a reservation lives at least the upstream timeout plus the margin, then expires charged at its estimate", async () => {
    const { key, gate, org, owner } = await setup();
    const budgetId = await createBudgetRow(org, owner, { limitMicros: 1_000_000 });
    const now = Date.now();
    const ok = (await gate.admit(await admitRequest(key), now)) as AdmitOk;
    expect(ok.reservationExpiresAt).toBe(now + RESERVATION_TTL_MS);
    expect(RESERVATION_TTL_MS).toBeGreaterThan(UPSTREAM_TOTAL_TIMEOUT_MS);
    const expired = await runInDurableObject(gate, (instance: OrgGate) => [
      instance["ledger"].expire(now + UPSTREAM_TOTAL_TIMEOUT_MS),
      instance["ledger"].expire(now + RESERVATION_TTL_MS - 1),
      instance["ledger"].expire(now + RESERVATION_TTL_MS),
    ]);
    expect(expired).toEqual([0, 0, 1]);
    const c = await gate.counters();
    expect(c.reservations).toBe(0);
    // The request was handed to the provider and never settled: it may have been billed, so it is charged.
    expect(c.counters.find((x) => x.budgetId === budgetId)).toMatchObject({ spent: ESTIMATE, reserved: 0 });
    expect(c.outbox.cost).toBe(1);
  });

  it("pruning drops counters of long-gone periods but keeps total budgets and open reservations", async () => {
    const { gate } = await setup();
    const now = Date.now();
    const old = now - COUNTER_RETENTION_MS - 86_400_000;
    const left = await runInDurableObject(gate, (instance: OrgGate, state) => {
      const sql = state.storage.sql;
      sql.exec("INSERT INTO counters (budget_id, subject, period_start, spent, reserved) VALUES ('bud_a', '', ?, 5, 0), ('bud_b', '', ?, 5, 7), ('bud_c', '', 0, 5, 0), ('bud_d', '', ?, 5, 0)", old, old, now - 86_400_000);
      instance["ledger"].prune(now);
      return sql.exec<{ budget_id: string }>("SELECT budget_id FROM counters WHERE budget_id IN ('bud_a','bud_b','bud_c','bud_d') ORDER BY budget_id").toArray().map((r) => r.budget_id);
    });
    expect(left).toEqual(["bud_b", "bud_c", "bud_d"]);
  });

  it("the alarm settles an expired reservation at its estimate with an estimated cost event; a later settle counts nothing twice", async () => {
    const { key, gate, org, owner } = await setup();
    const budgetId = await createBudgetRow(org, owner, { limitMicros: 1_000_000 });
    const longAgo = Date.now() - RESERVATION_TTL_MS - 10_000;
    const req = await admitRequest(key, { attribution: { customerId: "cust_7", tags: { team: "search" }, traceId: "trace-x" } });
    const ok = (await gate.admit(req, longAgo)) as AdmitOk;
    // The alarm is due (expiry in the past): it settles the reservation at its estimate.
    await runDurableObjectAlarm(gate);
    const c = await gate.counters();
    expect(c.reservations).toBe(0);
    expect(c.counters.find((x) => x.budgetId === budgetId)).toMatchObject({ spent: ESTIMATE, reserved: 0 });
    const row = await env.DB.prepare("SELECT * FROM cost_events WHERE request_id = ?").bind(req.requestId).first<Record<string, unknown>>();
    expect(row).toMatchObject({
      cost_micros: ESTIMATE, estimated: 1, status: 504, key_id: key.id, customer_id: "cust_7", trace_id: "trace-x", provider: "openai",
      model: "gpt-4o-mini", endpoint: "chat.completions", input_tokens: 1000, output_tokens: 1000, created_at: longAgo,
    });
    expect(JSON.parse(row!.tags as string)).toEqual({ team: "search" });
    // The Worker's settle arrives after all: the estimate (an upper bound) stands, nothing is counted twice.
    const s = settleRequest(req, ok, usage({ uncachedInputTokens: 10, outputTokens: 10 }));
    expect(await gate.settle(s)).toEqual({ ok: true, costMicros: ESTIMATE, duplicate: true, late: true });
    expect((await gate.counters()).counters.find((x) => x.budgetId === budgetId)).toMatchObject({ spent: ESTIMATE, reserved: 0 });
    await runDurableObjectAlarm(gate);
    const d1 = await env.DB.prepare("SELECT COUNT(*) AS n, SUM(cost_micros) AS s FROM cost_events WHERE org_id = ?").bind(org.id).first<{ n: number; s: number }>();
    expect(d1).toEqual({ n: 1, s: ESTIMATE });
  });

  it("a settle whose reservation is gone without a trace (org state dropped) is still recorded as late spend, once", async () => {
    const { key, gate, org, owner } = await setup();
    const budgetId = await createBudgetRow(org, owner, { limitMicros: 1_000_000 });
    const req = await admitRequest(key);
    const ok = (await gate.admit(req)) as AdmitOk;
    await runInDurableObject(gate, (_: OrgGate, state) => state.storage.sql.exec("DELETE FROM reservations WHERE id = ?", ok.reservationId));
    const s = settleRequest(req, ok, usageAtEstimate(req));
    expect(await gate.settle(s)).toEqual({ ok: true, costMicros: ESTIMATE, duplicate: false, late: true });
    expect(await gate.settle(s)).toEqual({ ok: true, costMicros: ESTIMATE, duplicate: true, late: true });
    expect((await gate.counters()).counters.find((x) => x.budgetId === budgetId)?.spent).toBeGreaterThanOrEqual(ESTIMATE);
  });

  it("revoking a key refuses its very next admission", async () => {
    const { key, gate, org } = await setup();
    expect((await gate.admit(await admitRequest(key))).ok).toBe(true);
    await gate.revokeKeys(org.id, [key.id]);
    expect(await gate.admit(await admitRequest(key))).toEqual({ ok: false, denial: { kind: "invalid_key", reason: "revoked" } });
  });

  it("revocation is one-way: a stale syncKey or refresh without revokedAt does not revive the key", async () => {
    const { key, gate, org, owner } = await setup();
    const row = await env.DB.prepare("SELECT key_hash, name FROM api_keys WHERE id = ?").bind(key.id).first<{ key_hash: string; name: string }>();
    await gate.revokeKeys(org.id, [key.id]);
    // The create-time copy of the key, delivered late (D1 was read before the revoke landed).
    await gate.syncKey(org.id, { id: key.id, keyHash: row!.key_hash, teamId: null, createdBy: owner.id, allowedModels: null, rpm: null, tpm: null, expiresAt: null, revokedAt: null, name: row!.name });
    expect(await gate.admit(await admitRequest(key))).toEqual({ ok: false, denial: { kind: "invalid_key", reason: "revoked" } });
    // D1 still says "not revoked" here (only the gate was told): a keys refresh must not revive it either.
    await gate.refresh(org.id, ["keys"]);
    expect(await gate.admit(await admitRequest(key))).toEqual({ ok: false, denial: { kind: "invalid_key", reason: "revoked" } });
    await evictDurableObject(gate);
    expect(await orgGate(env, org.id).admit(await admitRequest(key))).toEqual({ ok: false, denial: { kind: "invalid_key", reason: "revoked" } });
  });

  it("admission reads live counters after settles, releases, a failed transaction and eviction (never more, never less than SQLite)", async () => {
    const { key, gate, org, owner } = await setup();
    const budgetId = await createBudgetRow(org, owner, { limitMicros: 4 * ESTIMATE, tpm: 1_000_000 });
    const reqs = await Promise.all(Array.from({ length: 3 }, () => admitRequest(key)));
    const oks = (await Promise.all(reqs.map((r) => gate.admit(r)))) as AdmitOk[];
    expect(oks.every((o) => o.ok)).toBe(true);
    await gate.settle(settleRequest(reqs[0]!, oks[0]!, usage({ outputTokens: 100 })));
    await gate.release(releaseRequest(reqs[1]!, oks[1]!));
    // A transaction that fails part-way (duplicate request id) must not leave the in-memory view ahead.
    expect(isGateUnavailable(await gateAdmit(env, reqs[2]!))).toBe(true);
    const fits = async () => {
      let n = 0;
      while ((await gate.admit(await admitRequest(key))).ok) n++;
      return n;
    };
    const before = (await gate.counters()).counters.find((x) => x.budgetId === budgetId)!;
    const expected = Math.floor((4 * ESTIMATE - before.spent - before.reserved) / ESTIMATE);
    expect(expected).toBe(2);
    expect(await fits()).toBe(expected);
    const after = (await gate.counters()).counters.find((x) => x.budgetId === budgetId)!;
    expect(after.spent + after.reserved).toBeLessThanOrEqual(4 * ESTIMATE);
    await evictDurableObject(gate);
    expect((await orgGate(env, org.id).admit(await admitRequest(key))).ok).toBe(false);
  });

  it("counters and open reservations survive eviction; nothing is double-counted", async () => {
    const { key, gate, org, owner } = await setup();
    const budgetId = await createBudgetRow(org, owner, { limitMicros: 5 * ESTIMATE });
    const reqs = await Promise.all(Array.from({ length: 5 }, () => admitRequest(key)));
    const oks = (await Promise.all(reqs.map((r) => gate.admit(r)))) as AdmitOk[];
    await gate.settle(settleRequest(reqs[0]!, oks[0]!, usageAtEstimate(reqs[0]!)));
    const before = await gate.counters();
    await evictDurableObject(gate);
    const again = orgGate(env, org.id);
    const after = await again.counters();
    expect(after.counters).toEqual(before.counters);
    expect(after.reservations).toBe(4);
    // Still full: the four open reservations hold their money.
    expect((await again.admit(await admitRequest(key))).ok).toBe(false);
    expect((await again.settle(settleRequest(reqs[0]!, oks[0]!, usageAtEstimate(reqs[0]!)))).duplicate).toBe(true);
    for (let i = 1; i < 5; i++) await again.settle(settleRequest(reqs[i]!, oks[i]!, usageAtEstimate(reqs[i]!)));
    const done = await again.counters();
    expect(done.counters.find((x) => x.budgetId === budgetId)).toMatchObject({ spent: 5 * ESTIMATE, reserved: 0 });
    await runDurableObjectAlarm(again);
    const d1 = await env.DB.prepare("SELECT COUNT(*) AS n, SUM(cost_micros) AS s FROM cost_events WHERE org_id = ?").bind(org.id).first<{ n: number; s: number }>();
    expect(d1).toEqual({ n: 5, s: 5 * ESTIMATE });
  });
});

describe("velocity, soft budgets and plan caps", () => {
  it("a velocity breaker trips when spend in the window would pass the limit, refuses for the cool-down, then lets traffic through", async () => {
    const { key, gate, org, owner } = await setup();
    const budgetId = await createBudgetRow(org, owner, { limitMicros: null, velocity: { limitMicros: 2 * ESTIMATE + 100, windowSeconds: 300, cooldownSeconds: 400 } });
    const t0 = Date.UTC(2030, 0, 16, 10, 0, 0);
    expect((await gate.admit(await admitRequest(key), t0)).ok).toBe(true);
    expect((await gate.admit(await admitRequest(key), t0 + 1000)).ok).toBe(true);
    const tripped = (await gate.admit(await admitRequest(key), t0 + 2000)) as Extract<AdmitResult, { ok: false }>;
    expect(tripped.denial).toMatchObject({ kind: "velocity_tripped", budgetId, retryAfterMs: 400_000 });
    const during = (await gate.admit(await admitRequest(key), t0 + 100_000)) as Extract<AdmitResult, { ok: false }>;
    expect(during.denial).toMatchObject({ kind: "velocity_tripped", retryAfterMs: 302_000 });
    const status = await gate.budgetStatus(org.id, budgetId, t0 + 100_000);
    expect(status).toMatchObject({ ok: true, breaker: { tripped: true } });
    expect((await gate.admit(await admitRequest(key), t0 + 403_000)).ok).toBe(true);
  });

  it("a soft budget admits past its limit and records the crossing once", async () => {
    const { key, gate, org, owner } = await setup();
    const budgetId = await createBudgetRow(org, owner, { limitMicros: 1000, mode: "soft", alertThresholds: [100] });
    const reqs = await Promise.all(Array.from({ length: 3 }, () => admitRequest(key)));
    const results = await Promise.all(reqs.map((r) => gate.admit(r)));
    expect(results.every((r) => r.ok)).toBe(true);
    await Promise.all(results.map((r, i) => gate.settle(settleRequest(reqs[i]!, r as AdmitOk, usageAtEstimate(reqs[i]!)))));
    await runDurableObjectAlarm(gate);
    const { results: events } = await env.DB.prepare("SELECT kind, threshold FROM budget_events WHERE budget_id = ? ORDER BY kind").bind(budgetId).all();
    expect(events).toEqual([{ kind: "exceeded", threshold: 100 }, { kind: "threshold", threshold: 100 }]);
    const status = await gate.budgetStatus(org.id, budgetId);
    expect(status).toMatchObject({ ok: true, spentMicros: 3 * ESTIMATE, limitMicros: 1000 });
  });

  it("the free plan's monthly spend cap refuses with 402 semantics (plan_cap)", async () => {
    const { key, gate, org } = await setup("free");
    // $2,000 per 1M input tokens, 900k tokens per request: $1,800 each; the cap is $5,000.
    await createPriceOverride(org, "pricey", { input: 2_000_000_000, output: 0 });
    const t0 = Date.UTC(2030, 0, 16, 10, 0, 0);
    const one = () => admitRequest(key, { model: "pricey", estimate: { inputTokens: 900_000, outputTokens: 0 } });
    const a = await gate.admit(await one(), t0);
    const b = await gate.admit(await one(), t0 + 60_000);
    const c = (await gate.admit(await one(), t0 + 120_000)) as Extract<AdmitResult, { ok: false }>;
    expect([a.ok, b.ok]).toEqual([true, true]);
    expect(c.denial).toMatchObject({
      kind: "budget_exceeded", source: "plan_cap", scope: "org", budgetId: null, limitMicros: 5_000_000_000,
      reservedMicros: 3_600_000_000, resetsAt: "2030-02-01T00:00:00.000Z", period: "monthly",
    });
  });

  it("settle corrects the TPM window to the real token count", async () => {
    const { org, owner, gate } = await setup();
    const key = await createKey(org, owner, { tpm: 5000 });
    const t0 = Date.UTC(2030, 0, 16, 10, 0, 5);
    const req = await admitRequest(key, { estimate: { inputTokens: 1000, outputTokens: 3000 } });
    const ok = (await gate.admit(req, t0)) as AdmitOk;
    expect(ok.rateLimit).toMatchObject({ limitTokens: 5000, remainingTokens: 1000 });
    expect((await gate.admit(await admitRequest(key, { estimate: { inputTokens: 1000, outputTokens: 3000 } }), t0)).ok).toBe(false);
    await gate.settle(settleRequest(req, ok, usage({ uncachedInputTokens: 900, outputTokens: 100 })));
    const next = (await gate.admit(await admitRequest(key, { estimate: { inputTokens: 1000, outputTokens: 3000 } }), t0 + 1000)) as AdmitOk;
    expect(next.ok).toBe(true);
    expect(next.rateLimit!.remainingTokens).toBe(0);
  });
});
