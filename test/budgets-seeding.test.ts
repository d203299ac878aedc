/**
 * A budget created (or re-periodised) mid-period starts from the period's spend so far: flushed
 * cost events from D1 plus events still in the gate's outbox, each counted once.
 */
import { env, runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { orgGate } from "../src/durable-objects/org-gate-client";
import type { AdmitOk, AdmitResult, Attribution } from "../src/durable-objects/gate-protocol";
import { call, createOrgWithCast } from "./factories";
import { admitRequest, createBudgetRow, createProvider, createTeamRow, settleRequest, usageAtEstimate } from "./factories/gate";
import { createKey, type TestKey } from "./factories/keys";

const ESTIMATE = 750;

describe("budget seeding", () => {
  it("new team, tag and default-customer budgets start from this period's spend (D1 + outbox, once)", async () => {
    const { org, owner, admin } = await createOrgWithCast();
    await createProvider(org);
    const team = await createTeamRow(org);
    const key = await createKey(org, owner, { teamId: team.id });
    const other = await createKey(org, owner);
    const gate = orgGate(env, org.id);
    const spend = async (k: TestKey, attribution: Attribution) => {
      const req = await admitRequest(k, { attribution });
      const ok = (await gate.admit(req)) as AdmitOk;
      await gate.settle(settleRequest(req, ok, usageAtEstimate(req)));
    };
    await spend(key, { customerId: "c1", tags: { env: "prod" }, traceId: null });
    await spend(key, { customerId: "c2", tags: { env: "dev" }, traceId: null });
    await spend(other, { customerId: "c1", tags: { env: "prod" }, traceId: null });
    await runDurableObjectAlarm(gate); // three events now in D1
    await spend(key, { customerId: "c1", tags: { env: "prod" }, traceId: null }); // one still in the outbox
    expect((await gate.counters()).outbox.cost).toBe(1);

    const teamBudget = await createBudgetRow(org, owner, { scope: "team", scopeId: team.id, limitMicros: 10_000 });
    const tagBudget = await createBudgetRow(org, owner, { scope: "tag", scopeId: "env=prod", limitMicros: 10_000 });
    const custBudget = await createBudgetRow(org, owner, { scope: "customer", scopeId: null, limitMicros: 2 * ESTIMATE + 100 });
    const status = async (id: string) => (await call(admin, "GET", `/api/orgs/${org.id}/budgets/${id}/status`)).body;
    expect(await status(teamBudget)).toMatchObject({ spent_micros: 3 * ESTIMATE, reserved_micros: 0 });
    expect(await status(tagBudget)).toMatchObject({ spent_micros: 3 * ESTIMATE });
    expect(await status(custBudget)).toMatchObject({ spent_micros: 4 * ESTIMATE, instances: 2 });

    // c1 already spent 3 × 750 > its default budget; c2 spent 750 and has room for one more.
    const c1 = (await gate.admit(await admitRequest(key, { attribution: { customerId: "c1", tags: {}, traceId: null } }))) as Extract<AdmitResult, { ok: false }>;
    expect(c1.denial).toMatchObject({ kind: "budget_exceeded", budgetId: custBudget, scopeId: "c1", spentMicros: 3 * ESTIMATE });
    expect((await gate.admit(await admitRequest(key, { attribution: { customerId: "c2", tags: {}, traceId: null } }))).ok).toBe(true);
  });

  it("changing a budget's period re-seeds it from the new period's spend", async () => {
    const { org, owner, admin } = await createOrgWithCast();
    await createProvider(org);
    const key = await createKey(org, owner);
    const gate = orgGate(env, org.id);
    const created = await call(admin, "POST", `/api/orgs/${org.id}/budgets`, { scope: "key", scope_id: key.id, limit_usd: "1", period: "total" });
    for (let i = 0; i < 2; i++) {
      const req = await admitRequest(key);
      const ok = (await gate.admit(req)) as AdmitOk;
      await gate.settle(settleRequest(req, ok, usageAtEstimate(req)));
    }
    await runDurableObjectAlarm(gate);
    const patched = await call(admin, "PATCH", `/api/orgs/${org.id}/budgets/${created.body.id}`, { period: "daily" });
    expect(patched.status).toBe(200);
    const status = await call(admin, "GET", `/api/orgs/${org.id}/budgets/${created.body.id}/status`);
    expect(status.body).toMatchObject({ spent_micros: 2 * ESTIMATE });
    expect(Date.parse(status.body.resets_at) - Date.parse(status.body.period_start)).toBe(86_400_000);
  });

  it("a moved billing anchor re-seeds monthly budgets for the new period", async () => {
    const { org, owner, admin } = await createOrgWithCast();
    await createProvider(org);
    const key = await createKey(org, owner);
    const gate = orgGate(env, org.id);
    const budgetId = await createBudgetRow(org, owner, { limitMicros: 1_000_000, period: "monthly" });
    const req = await admitRequest(key);
    const ok = (await gate.admit(req)) as AdmitOk;
    await gate.settle(settleRequest(req, ok, usageAtEstimate(req)));
    await runDurableObjectAlarm(gate);
    // A subscription starting an hour ago: the new monthly period began then, and the spend above falls inside it.
    const anchor = Date.now() - 3_600_000;
    await env.DB.prepare("UPDATE orgs SET billing_anchor = ? WHERE id = ?").bind(anchor, org.id).run();
    await gate.refresh(org.id, ["org"]);
    const status = (await call(admin, "GET", `/api/orgs/${org.id}/budgets/${budgetId}/status`)).body;
    expect(Date.parse(status.period_start)).toBe(anchor);
    expect(status.spent_micros).toBe(ESTIMATE);
  });
});
