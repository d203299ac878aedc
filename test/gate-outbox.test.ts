/**
 * The gate's hot copy and outbox: cold load from D1 in one go, refresh of each part, org deletion,
 * idempotent re-flush after a crash, and alert emails sent once per threshold.
 */
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { getDb } from "../src/db/client";
import { apiKeys, budgets, orgs, providers } from "../src/db/schema";
import type { OrgGate } from "../src/durable-objects/org-gate";
import { orgGate } from "../src/durable-objects/org-gate-client";
import type { AdmitOk, AdmitResult } from "../src/durable-objects/gate-protocol";
import { sha256Hex } from "../src/lib/crypto";
import { newId } from "../src/lib/ids";
import { mintVirtualKey } from "../src/lib/virtual-key";
import { eq } from "drizzle-orm";
import { createOrg, createOrgWithCast, createUser } from "./factories";
import { admitRequest, createBudgetRow, createPriceOverride, createProvider, settleRequest, usageAtEstimate } from "./factories/gate";
import { createKey } from "./factories/keys";

describe("gate hot copy", () => {
  it("loads keys, providers, budgets and plan from D1 on first use (cold start)", async () => {
    const owner = await createUser();
    const org = await createOrg(owner, { plan: "pro" });
    const db = getDb(env.DB);
    const keyId = newId("key");
    const key = mintVirtualKey(org.id, keyId);
    const budgetId = newId("bud");
    await db.batch([
      db.insert(apiKeys).values({ id: keyId, orgId: org.id, createdBy: owner.id, name: "cold", hint: "x", keyHash: await sha256Hex(key), rpm: 7 }),
      db.insert(providers).values({ id: newId("prv"), orgId: org.id, name: "main", type: "openai", baseUrl: "https://api.openai.com/v1", apiKeySealed: "s", apiKeyHint: "h", isDefault: true }),
      db.insert(budgets).values({ id: budgetId, orgId: org.id, scope: "key", scopeId: keyId, limitMicros: 100, period: "daily", mode: "hard", createdBy: owner.id }),
    ]);
    const gate = orgGate(env, org.id);
    const res = (await gate.admit(await admitRequest({ id: keyId, key, orgId: org.id }))) as Extract<AdmitResult, { ok: false }>;
    expect(res.denial).toMatchObject({ kind: "budget_exceeded", budgetId, scope: "key", label: "key 'cold'", period: "daily" });
    const ok = (await gate.admit(await admitRequest({ id: keyId, key, orgId: org.id }, { estimate: { inputTokens: 100, outputTokens: 10 } }))) as AdmitOk;
    expect(ok.route.providerName).toBe("main");
    expect(ok.rateLimit).toMatchObject({ limitRequests: 7, remainingRequests: 6 });
  });

  it("refresh('org') applies a plan change to the next request; deleteOrg refuses everything", async () => {
    const owner = await createUser();
    const org = await createOrg(owner, { plan: "free" });
    await createProvider(org);
    const key = await createKey(org, owner);
    const gate = orgGate(env, org.id);
    await createPriceOverride(org, "pricey", { input: 2_000_000_000, output: 0 });
    const t0 = Date.UTC(2030, 0, 16, 10, 0, 0);
    const one = () => admitRequest(key, { model: "pricey", estimate: { inputTokens: 900_000, outputTokens: 0 } });
    for (let i = 0; i < 2; i++) expect((await gate.admit(await one(), t0 + i * 60_000)).ok).toBe(true);
    expect((await gate.admit(await one(), t0 + 120_000)).ok).toBe(false);
    await getDb(env.DB).update(orgs).set({ plan: "enterprise" }).where(eq(orgs.id, org.id));
    await gate.refresh(org.id, ["org"]);
    expect((await gate.admit(await one(), t0 + 180_000)).ok).toBe(true);

    await gate.deleteOrg(org.id);
    expect(await gate.admit(await admitRequest(key))).toEqual({ ok: false, denial: { kind: "invalid_key", reason: "org_deleted" } });
    expect((await gate.counters()).outbox).toEqual({ cost: 0, budget: 0 });
  });
});

describe("gate outbox", () => {
  it("a re-flush after a crash between the D1 commit and the outbox delete writes nothing twice", async () => {
    const owner = await createUser();
    const org = await createOrg(owner, { plan: "pro" });
    await createProvider(org);
    const key = await createKey(org, owner);
    const gate = orgGate(env, org.id);
    const budgetId = await createBudgetRow(org, owner, { limitMicros: 1000, alertThresholds: [50] });
    const req = await admitRequest(key);
    const ok = (await gate.admit(req)) as AdmitOk;
    await gate.settle(settleRequest(req, ok, usageAtEstimate(req)));
    // Simulate the crash: the rows reached D1, but the object died before deleting them from its outbox.
    await runInDurableObject(gate, async (_: OrgGate, state) => {
      const cost = state.storage.sql.exec<{ row: string }>("SELECT row FROM outbox_cost").toArray();
      const evts = state.storage.sql.exec<{ row: string }>("SELECT row FROM outbox_budget").toArray();
      expect([cost.length, evts.length]).toEqual([1, 1]);
      for (const { row } of cost) {
        const r = JSON.parse(row) as Record<string, unknown>;
        await env.DB.prepare(`INSERT INTO cost_events (${Object.keys(r).join(",")}) VALUES (${Object.keys(r).map(() => "?").join(",")})`).bind(...Object.values(r)).run();
      }
      for (const { row } of evts) {
        const r = JSON.parse(row) as Record<string, unknown>;
        await env.DB.prepare(`INSERT INTO budget_events (${Object.keys(r).join(",")}) VALUES (${Object.keys(r).map(() => "?").join(",")})`).bind(...Object.values(r)).run();
      }
    });
    expect(await runDurableObjectAlarm(gate)).toBe(true);
    expect((await gate.counters()).outbox).toEqual({ cost: 0, budget: 0 });
    const n = await env.DB.prepare("SELECT (SELECT COUNT(*) FROM cost_events WHERE org_id = ?1) AS c, (SELECT COUNT(*) FROM budget_events WHERE budget_id = ?2) AS b").bind(org.id, budgetId).first();
    expect(n).toEqual({ c: 1, b: 1 });
  });

  it("an org deleted from D1 before the gate heard of it: the failing flush drops its events and refuses its keys", async () => {
    const owner = await createUser();
    const org = await createOrg(owner, { plan: "pro" });
    await createProvider(org);
    const key = await createKey(org, owner);
    const gate = orgGate(env, org.id);
    const req = await admitRequest(key);
    const ok = (await gate.admit(req)) as AdmitOk;
    await gate.settle(settleRequest(req, ok, usageAtEstimate(req)));
    await env.DB.prepare("DELETE FROM orgs WHERE id = ?").bind(org.id).run();
    await runDurableObjectAlarm(gate);
    expect((await gate.counters()).outbox.cost).toBe(0);
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM cost_events WHERE org_id = ?").bind(org.id).first()).toEqual({ n: 0 });
    expect(await gate.admit(await admitRequest(key))).toEqual({ ok: false, denial: { kind: "invalid_key", reason: "org_deleted" } });
  });

  it("drains a deep outbox in multi-row statements across alarms", async () => {
    const owner = await createUser();
    const org = await createOrg(owner, { plan: "pro" });
    await createProvider(org);
    const gate = orgGate(env, org.id);
    const { queueCostEvent } = await import("../src/durable-objects/gate-outbox");
    await runInDurableObject(gate, (_: OrgGate, state) => {
      state.storage.transactionSync(() => {
        for (let i = 0; i < 12_345; i++) {
          queueCostEvent(state.storage.sql, {
            request_id: `req_bulk_${org.id}_${i}`, org_id: org.id, team_id: null, key_id: "key_x", customer_id: i % 2 ? "c" : null,
            tags: JSON.stringify({ n: String(i % 3) }), trace_id: null, provider: "openai", model: "gpt-4o-mini", endpoint: "chat.completions",
            status: 200, input_tokens: 1, cached_input_tokens: 0, cache_write_tokens: 0, output_tokens: 1, reasoning_tokens: 0,
            cost_micros: i % 7, latency_ms: 1, ttfb_ms: null, estimated: 0, created_at: Date.now(),
          }, Date.now());
        }
      });
      return state.storage.setAlarm(Date.now() + 60_000);
    });
    let rounds = 0;
    while ((await gate.counters()).outbox.cost > 0 && rounds < 10) {
      await runDurableObjectAlarm(gate);
      rounds++;
    }
    expect(rounds).toBe(2); // 10,000 rows per alarm
    const d1 = await env.DB.prepare("SELECT COUNT(*) AS n, SUM(cost_micros) AS s, COUNT(customer_id) AS c FROM cost_events WHERE org_id = ?").bind(org.id).first();
    let expected = 0;
    for (let i = 0; i < 12_345; i++) expected += i % 7;
    expect(d1).toEqual({ n: 12_345, s: expected, c: 6172 });
  });

  it("emails the org's owner and admins once per threshold crossing", async () => {
    const { org, owner, admin, member } = await createOrgWithCast();
    await createProvider(org);
    const key = await createKey(org, owner);
    const gate = orgGate(env, org.id);
    await createBudgetRow(org, owner, { limitMicros: 2000, alertThresholds: [50] });
    for (let i = 0; i < 2; i++) {
      const req = await admitRequest(key);
      const ok = (await gate.admit(req)) as AdmitOk;
      await gate.settle(settleRequest(req, ok, usageAtEstimate(req)));
      await runDurableObjectAlarm(gate);
    }
    const { results } = await env.DB.prepare("SELECT to_address, subject FROM email_outbox WHERE subject LIKE 'Tollgate: 50% of budget%' AND to_address IN (?, ?, ?) ORDER BY to_address")
      .bind(owner.email, admin.email, member.email).all<{ to_address: string }>();
    expect(results.map((r) => r.to_address).sort()).toEqual([owner.email, admin.email].sort());
  });
});
