/**
 * Prepaid credits (docs/billing.md#prepaid-credits), run by the `workers-credits` project with
 * CREDITS_ENABLED=true: the signup credit (once per person, personal orgs only), the balance drawn down
 * in the gate (402 scope `credits` when empty), grants restoring service, and the owner-only ledger.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { orgGate } from "../src/durable-objects/org-gate-client";
import { getDb } from "../src/db/client";
import { creditBalance, grantCredits } from "../src/services/credits";
import { slackMessage } from "../src/services/slack-alerts";
import { call, createMember, createOrg, createUser } from "./factories";
import { createPriceOverride } from "./factories/gate";
import { costEvents, createGatewayOrg, flushGate, gateCounters, v1, waitForSettled } from "./factories/gateway";
import { callWithEnv, outboxFor, signUp, uniqueEmail } from "./factories/identity";
import { createWebhook } from "./factories/webhooks";
import { auditRows } from "./factories/org-resources";

// Output $1/Mtok, input free: max_tokens 1,000 reserves 1,000 µ$ and the mock's `#mock:fill` reports 1,000 tokens.
const body = { model: "credit-model", messages: [{ role: "user", content: "#mock:fill" }], max_tokens: 1_000 };
const PER_REQUEST = 1_000;

async function pricedOrg() {
  const fx = await createGatewayOrg();
  await createPriceOverride(fx.org, "credit-model", { input: 0, output: 1_000_000, maxOutput: 4_096 });
  return fx;
}

const gateCreditBalance = (orgId: string) => creditBalance(env, orgId);
const credits = (as: Parameters<typeof call>[0], orgId: string) => call(as, "GET", `/api/orgs/${orgId}/billing/credits`);
const grantsOf = async (orgId: string) => (await env.DB.prepare("SELECT * FROM credit_grants WHERE org_id = ?").bind(orgId).all<Record<string, any>>()).results;

describe("signup credit", () => {
  it("gives a new user's personal org $5.00, shown in the owner's credit ledger", async () => {
    const res = await signUp();
    expect(res.status).toBe(201);
    const orgId = res.body.memberships[0].org.id as string;
    const ledger = await credits(res.user, orgId);
    expect(ledger.status).toBe(200);
    expect(ledger.body).toMatchObject({ enabled: true, balance_micros: 5_000_000, granted_micros: 5_000_000, used_micros: 0, reserved_micros: 0, source: "gate" });
    expect(ledger.body.grants).toEqual([expect.objectContaining({ kind: "signup", amount_micros: 5_000_000, ref: `signup:${res.user!.id}` })]);
  });

  it("is not granted to team orgs: a new team org starts at $0 and is refused with 402 scope credits", async () => {
    const signed = await signUp();
    const created = await call(signed.user, "POST", "/api/orgs", { name: "Team without credit" });
    expect(created.status).toBe(201);
    const teamId = created.body.id as string;
    expect(await grantsOf(teamId)).toEqual([]);
    expect((await credits(signed.user, teamId)).body).toMatchObject({ balance_micros: 0, granted_micros: 0, grants: [] });

    const { key } = await pricedOrg(); // a team org too, never granted anything
    const refused = await v1(key, "/chat/completions", body);
    expect(refused.status).toBe(402);
    expect(((await refused.json()) as any).error).toMatchObject({ code: "budget_exceeded", type: "budget_exceeded", scope: "credits", source: "prepaid", limit_micros: 0 });
  });

  it("is granted once per email: deleting the account and signing up again grants nothing", async () => {
    const email = uniqueEmail("credit-once");
    const first = await signUp({ email });
    const firstOrg = first.body.memberships[0].org.id as string;
    expect(await grantsOf(firstOrg)).toHaveLength(1);
    // The account goes (no route deletes accounts yet, so the test removes the rows the way a deletion would).
    await env.DB.batch([env.DB.prepare("DELETE FROM orgs WHERE id = ?").bind(firstOrg), env.DB.prepare("DELETE FROM users WHERE id = ?").bind(first.user!.id)]);

    const again = await signUp({ email: email.toUpperCase() });
    expect(again.status).toBe(201);
    const orgId = again.body.memberships[0].org.id as string;
    expect(await grantsOf(orgId)).toEqual([]);
    expect((await credits(again.user, orgId)).body).toMatchObject({ balance_micros: 0, granted_micros: 0 });
  });

  it("is not granted when the deployment has credits off", async () => {
    const email = uniqueEmail("credits-off");
    const res = await callWithEnv({ CREDITS_ENABLED: "false" }, "POST", "/api/auth/signup", { email, password: "a long enough password", name: "Off" });
    expect(res.status).toBe(201);
    expect(await grantsOf(res.body.memberships[0].org.id)).toEqual([]);
  });
});

describe("the balance in the gate", () => {
  it("draws down by each request's actual cost; empty answers 402 scope credits; a grant restores service on the next request", async () => {
    const { org, key } = await pricedOrg();
    expect(await grantCredits(env, org.id, { kind: "adjustment", amountMicros: 1_500, ref: `test:${org.id}:1` })).toMatchObject({ ok: true, duplicate: false, gateUpdated: true });

    expect((await v1(key, "/chat/completions", body)).status).toBe(200);
    await waitForSettled(org.id);
    // 500 µ$ left: the next estimate (1,000 µ$) does not fit, so it is refused before reaching the provider.
    const empty = await v1(key, "/chat/completions", body);
    expect(empty.status).toBe(402);
    const err = ((await empty.json()) as any).error;
    expect(err).toMatchObject({ code: "budget_exceeded", scope: "credits", scope_id: null, limit_micros: 1_500, spent_micros: PER_REQUEST, reserved_micros: 0 });
    expect(err.message).toContain("prepaid balance");

    const topUp = await grantCredits(env, org.id, { kind: "topup", amountMicros: 1_000, ref: `test:${org.id}:2` });
    expect(topUp).toMatchObject({ ok: true, duplicate: false, gateUpdated: true });
    expect((await v1(key, "/chat/completions", body)).status).toBe(200);
    await waitForSettled(org.id);
    await flushGate(org.id);

    const c = await gateCounters(org.id);
    const counter = c.counters.find((x) => x.budgetId === "$credits")!;
    expect(counter).toMatchObject({ spent: 2 * PER_REQUEST, reserved: 0 });
    const events = await costEvents(org.id);
    expect(events.reduce((s, e) => s + e.cost_micros, 0)).toBe(counter.spent);
  });

  it("grantCredits is idempotent by ref: a repeated ref adds nothing and writes one audit row", async () => {
    const owner = await createUser();
    const org = await createOrg(owner);
    const ref = `cs_test_${org.id}`;
    const a = await grantCredits(env, org.id, { kind: "topup", amountMicros: 2_000_000, ref });
    const b = await grantCredits(env, org.id, { kind: "topup", amountMicros: 2_000_000, ref });
    const [c, d] = await Promise.all([
      grantCredits(env, org.id, { kind: "topup", amountMicros: 2_000_000, ref }),
      grantCredits(env, org.id, { kind: "topup", amountMicros: 2_000_000, ref }),
    ]);
    expect(a).toMatchObject({ ok: true, duplicate: false });
    for (const r of [b, c, d]) expect(r).toMatchObject({ ok: true, duplicate: true });
    expect(await grantsOf(org.id)).toHaveLength(1);
    expect(await auditRows(org.id, "credits.grant")).toHaveLength(1);
    expect((await credits(owner, org.id)).body).toMatchObject({ balance_micros: 2_000_000, granted_micros: 2_000_000 });

    const other = await createOrg(owner);
    expect(await grantCredits(env, other.id, { kind: "topup", amountMicros: 1, ref })).toEqual({ ok: false, reason: "ref_in_other_org" });
    expect(await grantCredits(env, other.id, { kind: "topup", amountMicros: 0, ref: `${ref}-zero` })).toEqual({ ok: false, reason: "invalid_amount" });
    expect(await grantsOf(other.id)).toEqual([]);
  });

  it("counts the org's spend already in D1 when the gate first loads (seeded from cost events)", async () => {
    const owner = await createUser();
    const org = await createOrg(owner);
    // Spend the gate never saw (e.g. recorded before this object existed): only in D1.
    await env.DB.prepare(
      "INSERT INTO cost_events (request_id, org_id, key_id, provider, model, endpoint, status, cost_micros, created_at) VALUES (?, ?, 'key_x', 'openai', 'm', 'chat.completions', 200, 1234, ?)",
    ).bind(`req_seed_${org.id}`, org.id, Date.now() - 86_400_000 * 40).run();
    await grantCredits(env, org.id, { kind: "adjustment", amountMicros: 3_000, ref: `seed:${org.id}` });
    expect(await gateCreditBalance(org.id)).toEqual({ grantedMicros: 3_000, spentMicros: 1_234, reservedMicros: 0 });
    expect((await credits(owner, org.id)).body).toMatchObject({ balance_micros: 3_000 - 1_234 });
  });
});

describe("convergence", () => {
  it("a grant written to D1 whose gate push never arrived is applied by the gate's reconciliation", async () => {
    const { org, key } = await pricedOrg();
    expect((await v1(key, "/chat/completions", body)).status).toBe(402);
    await orgGate(env, org.id).reconcile(org.id); // records the current fingerprints
    // The Worker died between the D1 write and the push: only D1 has the grant.
    await env.DB.prepare("INSERT INTO credit_grants (id, org_id, kind, amount_micros, ref, created_at) VALUES (?, ?, 'topup', 5000, ?, ?)")
      .bind(`crg_${org.id}`, org.id, `lost-push:${org.id}`, Date.now()).run();
    expect((await v1(key, "/chat/completions", body)).status).toBe(402);
    expect((await orgGate(env, org.id).reconcile(org.id)).changed).toEqual(["org"]);
    expect((await v1(key, "/chat/completions", body)).status).toBe(200);
  });
});

describe("GET /billing/credits", () => {
  it("is the owner's: admins, members and viewers get 403, another org's owner 404", async () => {
    const owner = await createUser();
    const org = await createOrg(owner);
    await grantCredits(env, org.id, { kind: "topup", amountMicros: 7_000_000, ref: `owner-only:${org.id}` });
    const ok = await credits(owner, org.id);
    expect(ok.status).toBe(200);
    expect(ok.body.grants).toHaveLength(1);
    for (const role of ["admin", "member", "viewer"] as const) {
      const u = await createMember(org, role);
      const res = await credits(u, org.id);
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe("permission_denied");
    }
    const stranger = await createUser();
    await createOrg(stranger);
    expect((await credits(stranger, org.id)).status).toBe(404);
  });

  it("lists usage by day from D1 cost events", async () => {
    const { org, owner, key } = await pricedOrg();
    await grantCredits(env, org.id, { kind: "adjustment", amountMicros: 10_000, ref: `usage:${org.id}` });
    for (let i = 0; i < 3; i++) expect((await v1(key, "/chat/completions", body)).status).toBe(200);
    await waitForSettled(org.id);
    await flushGate(org.id);
    const res = await credits(owner, org.id);
    const today = new Date().toISOString().slice(0, 10);
    expect(res.body.usage_by_day).toEqual([{ day: today, cost_micros: 3 * PER_REQUEST, requests: 3 }]);
    expect(res.body).toMatchObject({ balance_micros: 10_000 - 3 * PER_REQUEST, used_micros: 3 * PER_REQUEST });
  });
});

describe("low-balance alert", () => {
  it("fires once per crossing of the threshold, also under concurrency: one credits.low webhook delivery, Slack and email each time", async () => {
    const { org, owner, key } = await pricedOrg();
    // $1 per request (output $1,000/Mtok × 1,000 tokens) to cross the default $1.00 threshold a second time.
    await createPriceOverride(org, "credit-model-big", { input: 0, output: 1_000_000_000, maxOutput: 4_096 });
    const hook = await createWebhook(org, owner, { events: ["credits.low"] });
    const slack = await createWebhook(org, owner, { kind: "slack", events: ["credits.low"] });
    await grantCredits(env, org.id, { kind: "adjustment", amountMicros: 1_000_000 + 20_500, ref: `low:${org.id}:1` });

    // 40 at once: the 21st request takes the balance from $1.0005 to $0.9995; only that settle sees the crossing.
    const first = await Promise.all(Array.from({ length: 40 }, () => v1(key, "/chat/completions", body)));
    expect(first.every((r) => r.status === 200)).toBe(true);
    await waitForSettled(org.id);
    await flushGate(org.id);
    const lowEvents = async () => (await env.DB.prepare("SELECT * FROM budget_events WHERE org_id = ? AND kind = 'credits_low'").bind(org.id).all<Record<string, any>>()).results;
    expect(await lowEvents()).toHaveLength(1);
    expect((await lowEvents())[0]).toMatchObject({ budget_id: "$credits", threshold: 1_000_000, limit_micros: 1_020_500 });

    // A top-up lifts it over the threshold again; the next crossing alerts again.
    await grantCredits(env, org.id, { kind: "topup", amountMicros: 1_000_000, ref: `low:${org.id}:2` });
    expect((await v1(key, "/chat/completions", { ...body, model: "credit-model-big" })).status).toBe(200);
    await waitForSettled(org.id);
    await flushGate(org.id);
    const events = await lowEvents();
    expect(events).toHaveLength(2);

    const deliveries = async (webhookId: string) =>
      (await env.DB.prepare("SELECT event_type, payload FROM webhook_deliveries WHERE webhook_id = ? ORDER BY created_at").bind(webhookId).all<Record<string, any>>()).results;
    for (const id of [hook.id, slack.id]) {
      const d = await deliveries(id);
      expect(d.map((x) => x.event_type)).toEqual(["credits.low", "credits.low"]);
      expect(JSON.parse(d[0]!.payload)).toMatchObject({ type: "credits.low", org_id: org.id, data: { threshold_micros: 1_000_000, balance_micros: 999_500 } });
    }
    const mails = await outboxFor(owner.email);
    expect(mails.filter((m) => m.subject.includes("prepaid balance low"))).toHaveLength(2);
  });
});

describe("credits.low on Slack", () => {
  it("renders the balance and threshold, not a budget message", async () => {
    const owner = await createUser();
    const org = await createOrg(owner, { name: "Slack Credit Org" });
    const payload = JSON.stringify({ id: "evt_1", type: "credits.low", org_id: org.id, data: { balance_micros: 999_500, threshold_micros: 1_000_000 } });
    const msg = JSON.parse(await slackMessage(getDb(env.DB), "https://app.example.com", payload));
    expect(msg.text).toBe("Prepaid balance low: Slack Credit Org. $0.99 left (alert below $1.00); requests are refused with 402 once it is empty.");
    expect(JSON.stringify(msg.blocks)).toContain(`https://app.example.com/orgs/${org.id}/credits`);
  });
});
