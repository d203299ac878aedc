import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { gateAdmit, gateSettle, isGateUnavailable, orgGate } from "../src/durable-objects/org-gate-client";
import type { AdmitOk } from "../src/durable-objects/gate-protocol";
import { RESERVATION_TTL_MS, reservedOutputTokens } from "../src/durable-objects/gate-protocol";
import { costOfEstimate } from "../src/pricing/cost";
import { createOrg, createUser } from "./factories";
import { admitRequest, createBudgetRow, createPriceOverride, createProvider, createTeamRow, releaseRequest, settleRequest, usage } from "./factories/gate";
import { createKey } from "./factories/keys";

async function setup(opts: { plan?: string } = {}) {
  const owner = await createUser();
  const org = await createOrg(owner, { plan: opts.plan ?? "pro" });
  await createProvider(org, { name: "openai", isDefault: true });
  const key = await createKey(org, owner, { name: "ci" });
  return { owner, org, key, gate: orgGate(env, org.id) };
}

describe("gate admission", () => {
  it("admits a priced model, routes it to the default provider and reserves the upper-bound estimate", async () => {
    const { key, gate } = await setup();
    const req = await admitRequest(key, { model: "gpt-4o-mini", estimate: { inputTokens: 1000, outputTokens: 500 } });
    const res = await gate.admit(req);
    expect(res.ok).toBe(true);
    const ok = res as AdmitOk;
    // 1000 × 150,000 + 500 × 600,000 = 450,000,000 → / 1e6 = 450 µ$
    expect(ok.reservedMicros).toBe(450);
    expect(ok.route.providerName).toBe("openai");
    expect(ok.route.upstreamModel).toBe("gpt-4o-mini");
    expect(ok.route.apiKeySealed).toBe("sealed.placeholder");
    expect(ok.price.inputPerMtok).toBe(150_000);
    expect(ok.reservationExpiresAt - Date.now()).toBeGreaterThan(RESERVATION_TTL_MS - 5_000);
    expect(ok.rateLimit).toMatchObject({ limitRequests: 6000, remainingRequests: 5999, limitTokens: 10_000_000, remainingTokens: 10_000_000 - 1500 });
    const c = await gate.counters();
    expect(c.reservations).toBe(1);
    expect(c.reservedMicros).toBe(450);
  });

  it("reserves the output of every choice: the model's cap × n without max_tokens, the client's total clamped to cap × n with it", async () => {
    const { key, gate } = await setup();
    const cap = 16_384; // gpt-4o-mini's output cap in the catalog
    const price = (await gate.admit(await admitRequest(key)) as AdmitOk).price;
    expect(price.maxOutputTokens).toBe(cap);
    const fromModel = (await gate.admit(await admitRequest(key, { estimate: { inputTokens: 1000, outputTokens: 0 }, outputCapFromModel: true, choices: 4 }))) as AdmitOk;
    expect(fromModel.reservedMicros).toBe(costOfEstimate(1000, 4 * cap, price));
    // max_tokens = the cap and n = 4: the Worker sends 4 × cap, which must not be clamped to one cap.
    const explicit = (await gate.admit(await admitRequest(key, { estimate: { inputTokens: 1000, outputTokens: 4 * cap }, choices: 4 }))) as AdmitOk;
    expect(explicit.reservedMicros).toBe(costOfEstimate(1000, 4 * cap, price));
    const single = (await gate.admit(await admitRequest(key, { estimate: { inputTokens: 1000, outputTokens: 0 }, outputCapFromModel: true }))) as AdmitOk;
    expect(single.reservedMicros).toBe(costOfEstimate(1000, cap, price));
    expect(reservedOutputTokens(price, 0, true, 0)).toBe(cap);
  });

  it("settles at the exact usage cost and releases the rest of the reservation", async () => {
    const { key, gate, org, owner } = await setup();
    const budgetId = await createBudgetRow(org, owner, { limitMicros: 10_000_000 });
    const req = await admitRequest(key);
    const ok = (await gate.admit(req)) as AdmitOk;
    const s = await gate.settle(settleRequest(req, ok, usage({ uncachedInputTokens: 100, outputTokens: 10 })));
    // 100 × 150,000 + 10 × 600,000 = 21,000,000 → 21 µ$
    expect(s).toEqual({ ok: true, costMicros: 21, duplicate: false, late: false });
    const c = await gate.counters();
    expect(c.reservations).toBe(0);
    expect(c.counters.find((x) => x.budgetId === budgetId)).toMatchObject({ spent: 21, reserved: 0 });
  });

  it("release drops the reservation without charge and queues a $0 event with the status", async () => {
    const { key, gate, org, owner } = await setup();
    const budgetId = await createBudgetRow(org, owner, { limitMicros: 10_000_000 });
    const req = await admitRequest(key);
    const ok = (await gate.admit(req)) as AdmitOk;
    expect(await gate.release(releaseRequest(req, ok, 502))).toEqual({ ok: true, duplicate: false });
    expect(await gate.release(releaseRequest(req, ok, 502))).toEqual({ ok: true, duplicate: true });
    const c = await gate.counters();
    expect(c.counters.find((x) => x.budgetId === budgetId)).toMatchObject({ spent: 0, reserved: 0 });
    expect(c.outbox.cost).toBe(1);
  });

  it("refuses unknown keys, wrong hashes, unpriced and disallowed models, and missing providers", async () => {
    const { key, gate, org, owner } = await setup();
    const bad = await admitRequest(key, { keyHash: "0".repeat(64) });
    expect(await gate.admit(bad)).toEqual({ ok: false, denial: { kind: "invalid_key", reason: "unknown" } });
    expect(await gate.admit(await admitRequest(key, { model: "my-finetune" }))).toEqual({ ok: false, denial: { kind: "model_not_priced", model: "my-finetune" } });
    await createPriceOverride(org, "my-finetune", { input: 1_000_000, output: 2_000_000 });
    expect((await gate.admit(await admitRequest(key, { model: "my-finetune" }))).ok).toBe(true);

    const limited = await createKey(org, owner, { allowedModels: ["gpt-4o-mini"] });
    expect((await gate.admit(await admitRequest(limited, { model: "gpt-4o" }))).ok).toBe(false);
    expect((await gate.admit(await admitRequest(limited, { model: "openai/gpt-4o-mini" }))).ok).toBe(true);

    const lonely = await createOrg(owner);
    const lonelyKey = await createKey(lonely, owner);
    expect(await orgGate(env, lonely.id).admit(await admitRequest(lonelyKey))).toEqual({ ok: false, denial: { kind: "no_provider", model: "gpt-4o-mini" } });
  });

  it("team and tag budgets refuse with their scope, label, spend and reset time", async () => {
    const { org, owner, gate } = await setup();
    const team = await createTeamRow(org, "search");
    const key = await createKey(org, owner, { teamId: team.id });
    const teamBudget = await createBudgetRow(org, owner, { scope: "team", scopeId: team.id, limitMicros: 1000, period: "daily" });
    const ok = await gate.admit(await admitRequest(key));
    expect(ok.ok).toBe(true);
    const denied = await gate.admit(await admitRequest(key));
    expect(denied).toEqual({
      ok: false,
      denial: {
        kind: "budget_exceeded", source: "budget", scope: "team", scopeId: team.id, budgetId: teamBudget, limitMicros: 1000, spentMicros: 0,
        reservedMicros: 750, resetsAt: new Date(Math.floor(Date.now() / 86_400_000 + 1) * 86_400_000).toISOString(), label: "team 'search'", period: "daily",
      },
    });
    const other = await createKey(org, owner);
    await createBudgetRow(org, owner, { scope: "tag", scopeId: "env=prod", limitMicros: 500, period: "total" });
    const tagged = await gate.admit(await admitRequest(other, { attribution: { customerId: null, tags: { env: "prod" }, traceId: null } }));
    expect(tagged).toMatchObject({ ok: false, denial: { kind: "budget_exceeded", scope: "tag", scopeId: "env=prod", label: "tag 'env=prod'", resetsAt: null, period: "total" } });
    expect((await gate.admit(await admitRequest(other, { attribution: { customerId: null, tags: { env: "dev" }, traceId: null } }))).ok).toBe(true);
  });

  it("the client wrapper turns a gate failure into {reason: 'unavailable'} and the failed transaction changes nothing", async () => {
    const { key, gate, org, owner } = await setup();
    const budgetId = await createBudgetRow(org, owner, { limitMicros: 10_000 });
    const req = await admitRequest(key);
    const first = await gateAdmit(env, req);
    expect(first.ok).toBe(true);
    // The same request id again violates the reservation's unique request id: the gate throws mid-transaction.
    const again = await gateAdmit(env, req);
    expect(isGateUnavailable(again)).toBe(true);
    expect(again).toMatchObject({ ok: false, reason: "unavailable", overloaded: false });
    const c = await gate.counters();
    expect(c.reservations).toBe(1);
    expect(c.counters.find((x) => x.budgetId === budgetId)).toMatchObject({ reserved: 750 });
    const s = await gateSettle(env, settleRequest(req, first as AdmitOk, usage({ outputTokens: 1 })));
    expect(s).toMatchObject({ ok: true, costMicros: 1, duplicate: false });
  });
});
