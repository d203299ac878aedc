/**
 * Credit top-ups through Stripe Checkout (docs/billing.md "Top-ups"), run by the `workers-credits` project
 * with CREDITS_ENABLED=true: the owner starts a payment-mode Checkout, the signed
 * `checkout.session.completed` grants the credit once however often it is delivered, and a top-up restores
 * service on the very next proxied request.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { PLANS } from "../src/plans";
import { createMember, createOrg, createUser } from "./factories";
import { billingCall, deliverEvent, stripeEvent, stripeUrl } from "./factories/billing";
import { createPriceOverride } from "./factories/gate";
import { createGatewayOrg, v1, waitForSettled } from "./factories/gateway";
import { auditRows } from "./factories/org-resources";

const body = { model: "credit-model", messages: [{ role: "user", content: "#mock:fill" }], max_tokens: 1_000 };

type StandInEvent = { id: string; type: string; data: { object: any } };
const checkout = (as: Parameters<typeof billingCall>[0], orgId: string, input: unknown, over: Record<string, string> = {}) =>
  billingCall(as, "POST", `/api/orgs/${orgId}/billing/checkout`, input, over);
const grantsOf = async (orgId: string) => (await env.DB.prepare("SELECT * FROM credit_grants WHERE org_id = ?").bind(orgId).all<Record<string, any>>()).results;
const sessionIdOf = (url: string) => new URL(url).pathname.split("/").pop()!;

/** The stand-in "pays" the session (as its pay page does) and returns the events Stripe would send. */
async function pay(sessionId: string): Promise<StandInEvent[]> {
  const res = await fetch(`${stripeUrl()}/_test/checkout/${sessionId}/complete`, { method: "POST" });
  return ((await res.json()) as { events: StandInEvent[] }).events;
}

describe("POST …/billing/checkout {credits_usd}", () => {
  it("starts a payment-mode Checkout for the credit plus the plan's platform fee, with the org and amount in metadata", async () => {
    const owner = await createUser();
    const org = await createOrg(owner, { plan: "pro" });
    const res = await checkout(owner, org.id, { credits_usd: 25 });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ action: "checkout", billing: null });
    const [completed] = await pay(sessionIdOf(res.body.url));
    const session = completed!.data.object;
    const fee = Math.floor((2_500 * PLANS.pro.topupFeeBps + 5_000) / 10_000);
    expect(fee).toBeGreaterThan(0);
    expect(session).toMatchObject({
      mode: "payment", payment_status: "paid", client_reference_id: org.id, currency: "usd", amount_total: 2_500 + fee,
      metadata: { kind: "credits_topup", org_id: org.id, amount_micros: "25000000" },
    });
    expect(completed!.type).toBe("checkout.session.completed");
    // The customer is created once per org and reused by the next top-up.
    const customer = session.customer as string;
    expect(customer).toMatch(/^cus_/);
    const again = await checkout(owner, org.id, { credits_usd: 5 });
    const [second] = await pay(sessionIdOf(again.body.url));
    expect(second!.data.object.customer).toBe(customer);
  });

  it("refuses admins (403) and bad amounts (400), and answers 409 when credits are off; nothing is started", async () => {
    const owner = await createUser();
    const org = await createOrg(owner, { plan: "free" });
    const admin = await createMember(org, "admin");
    expect((await checkout(admin, org.id, { credits_usd: 10 })).status).toBe(403);
    for (const bad of [{ credits_usd: 4.99 }, { credits_usd: 10_000.01 }, { credits_usd: 10.005 }, { credits_usd: 0 }, { credits_usd: -5 }, { credits_usd: "10" }, { credits_usd: 10, plan: "pro" }, {}]) {
      const res = await checkout(owner, org.id, bad);
      expect(res.status, JSON.stringify(bad)).toBe(400);
      expect(res.body.error.code).toBe("invalid_request");
    }
    const off = await checkout(owner, org.id, { credits_usd: 10 }, { CREDITS_ENABLED: "false" });
    expect(off.status).toBe(409);
    expect(off.body.error).toMatchObject({ code: "conflict", param: "credits_usd" });
    expect((await auditRows(org.id)).filter((r: any) => r.action === "billing.topup_checkout")).toEqual([]);
    // The bounds are inclusive.
    expect((await checkout(owner, org.id, { credits_usd: 5 })).status).toBe(200);
    expect((await checkout(owner, org.id, { credits_usd: 10_000 })).status).toBe(200);
  });
});

describe("checkout.session.completed for a top-up", () => {
  it("grants the credit exactly once when the same event is delivered 10 times concurrently", async () => {
    const owner = await createUser();
    const org = await createOrg(owner, { plan: "pro" });
    const started = await checkout(owner, org.id, { credits_usd: 12.34 });
    const [completed] = await pay(sessionIdOf(started.body.url));
    const results = await Promise.all(Array.from({ length: 10 }, () => deliverEvent(completed!)));
    expect(results.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(results.filter((r) => r.body.status === "applied")).toHaveLength(1);
    expect(results.filter((r) => r.body.status === "duplicate")).toHaveLength(9);
    const grants = await grantsOf(org.id);
    expect(grants).toEqual([expect.objectContaining({ kind: "topup", amount_micros: 12_340_000, ref: completed!.data.object.id })]);
    expect((await auditRows(org.id)).filter((r: any) => r.action === "credits.grant")).toHaveLength(1);
    const billing = await billingCall(owner, "GET", `/api/orgs/${org.id}/billing`);
    expect(billing.body).toMatchObject({ credits_enabled: true, credit_balance_micros: 12_340_000 });
  });

  it("grants nothing for an unpaid session or one whose metadata names another org", async () => {
    const owner = await createUser();
    const org = await createOrg(owner);
    const other = await createOrg(await createUser());
    const base = { id: `cs_test_${org.id}`, object: "checkout.session", mode: "payment", client_reference_id: org.id, customer: null, amount_total: 1_000, currency: "usd" };
    const unpaid = await deliverEvent(stripeEvent("checkout.session.completed", { ...base, payment_status: "unpaid", metadata: { kind: "credits_topup", org_id: org.id, amount_micros: "10000000" } }));
    const foreign = await deliverEvent(stripeEvent("checkout.session.completed", { ...base, id: `${base.id}_2`, payment_status: "paid", metadata: { kind: "credits_topup", org_id: other.id, amount_micros: "10000000" } }));
    const overpaid = await deliverEvent(stripeEvent("checkout.session.completed", { ...base, id: `${base.id}_3`, payment_status: "paid", metadata: { kind: "credits_topup", org_id: org.id, amount_micros: "10000001" } }));
    for (const r of [unpaid, foreign, overpaid]) expect(r.body).toMatchObject({ status: "ignored" });
    expect(await grantsOf(org.id)).toEqual([]);
    expect(await grantsOf(other.id)).toEqual([]);
  });

  it("restores service on the very next request after an empty balance's 402", async () => {
    const { owner, org, key } = await createGatewayOrg();
    await createPriceOverride(org, "credit-model", { input: 0, output: 1_000_000, maxOutput: 4_096 });
    const refused = await v1(key, "/chat/completions", body);
    expect(refused.status).toBe(402);
    expect(((await refused.json()) as any).error).toMatchObject({ code: "budget_exceeded", scope: "credits" });
    const before = await billingCall(owner, "GET", `/api/orgs/${org.id}/billing`);
    expect(before.body.credit_balance_micros).toBe(0);

    const started = await checkout(owner, org.id, { credits_usd: 5 });
    expect(started.status).toBe(200);
    const [completed] = await pay(sessionIdOf(started.body.url));
    expect((await deliverEvent(completed!)).body).toMatchObject({ status: "applied" });

    expect((await v1(key, "/chat/completions", body)).status).toBe(200);
    await waitForSettled(org.id);
    const after = await billingCall(owner, "GET", `/api/orgs/${org.id}/billing`);
    expect(after.body.credit_balance_micros).toBe(5_000_000 - 1_000);
  });
});

describe("GET …/billing with credits", () => {
  it("shows each plan's top-up range and platform fee from the plan data", async () => {
    const owner = await createUser();
    const org = await createOrg(owner, { plan: "free" });
    const res = await billingCall(owner, "GET", `/api/orgs/${org.id}/billing`);
    expect(res.status).toBe(200);
    const free = res.body.plans.find((p: any) => p.id === "free");
    expect(free.credits_topup).toEqual({ platform_fee_percent: PLANS.free.topupFeeBps / 100, min_usd: PLANS.free.topupMinCents / 100, max_usd: PLANS.free.topupMaxCents / 100 });
    expect(res.body.credit_balance_micros).toBe(0);
    const off = await billingCall(owner, "GET", `/api/orgs/${org.id}/billing`, undefined, { CREDITS_ENABLED: "false" });
    expect(off.body).toMatchObject({ credits_enabled: false, credit_balance_micros: null });
  });
});
