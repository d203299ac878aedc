/**
 * Billing on Stripe against the local stand-in (real stripe SDK, real wire format): Checkout, the webhook's
 * signature, idempotency and ordering, upgrades, cancellation, the portal, and org deletion.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { orgGate } from "../src/durable-objects/org-gate-client";
import { readOrg } from "../src/durable-objects/gate-hot-copy";
import { planCapBudget } from "../src/durable-objects/gate-budgets";
import { PLANS } from "../src/plans";
import { createOrg, createOrgWithCast, createUser } from "./factories";
import { billingCall, deliverEvent, orgBilling, stripeEvent, stripeUrl, subscribeThroughCheckout, subscriptionObject } from "./factories/billing";
import { createGatewayOrg, v1 } from "./factories/gateway";
import { auditRows } from "./factories/orgs";

const chat = { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] };

async function gateOrg(orgId: string) {
  return runInDurableObject(orgGate(env, orgId), async (gate) => {
    const org = readOrg((gate as unknown as { sql: SqlStorage }).sql);
    return { ...org, cap: planCapBudget(org)?.limitMicros ?? null };
  });
}

/** A team org on free with a Stripe customer and subscription recorded as if Checkout had completed. */
async function orgWithSubscription() {
  const owner = await createUser();
  const org = await createOrg(owner, { plan: "free" });
  const sub = `sub_test_${org.id.slice(4)}`;
  const customer = `cus_test_${org.id.slice(4)}`;
  return { owner, org, sub, customer };
}

describe("checkout and the plan change it brings", () => {
  it("owner upgrades free → pro through Checkout: customer created once, the next proxied request sees the pro RPM cap, spend cap and billing anchor", async () => {
    const { owner, org, key } = await createGatewayOrg({ plan: "free" });
    const before = await v1(key, "/chat/completions", chat);
    expect(before.status).toBe(200);
    expect(before.headers.get("x-ratelimit-limit-requests")).toBe(String(PLANS.free.orgRpm));

    const first = await billingCall(owner, "POST", `/api/orgs/${org.id}/billing/checkout`, { plan: "pro" });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ action: "checkout" });
    const session = await (await fetch(`${stripeUrl()}/v1/checkout/sessions/${new URL(first.body.url).pathname.split("/").pop()}`, { headers: { authorization: "Bearer sk_test_x" } })).json() as any;
    expect(session).toMatchObject({ mode: "subscription", client_reference_id: org.id });
    expect(session.success_url).toContain(`/orgs/${org.id}/billing`);
    const customer = (await orgBilling(org.id)).stripeCustomerId;
    expect(customer).toMatch(/^cus_/);

    const { subscription, results } = await subscribeThroughCheckout(owner, org, "pro");
    expect(results.map((r) => r.status)).toEqual([200, 200, 200]);
    const row = await orgBilling(org.id);
    expect(row.stripeCustomerId).toBe(customer); // created once per org
    expect(row).toMatchObject({ plan: "pro", subscriptionStatus: "active", subscriptionPlan: "pro", stripeSubscriptionId: subscription.id });
    const anchor = subscription.items.data[0].current_period_start * 1000;
    expect(row.billingAnchor).toBe(anchor);

    const gate = await gateOrg(org.id);
    expect(gate).toMatchObject({ plan: "pro", billingAnchor: anchor, cap: PLANS.pro.monthlySpendCapMicros });
    const after = await v1(key, "/chat/completions", chat);
    expect(after.status).toBe(200);
    expect(after.headers.get("x-ratelimit-limit-requests")).toBe(String(PLANS.pro.orgRpm));

    const view = await billingCall(owner, "GET", `/api/orgs/${org.id}/billing`);
    expect(view.status).toBe(200);
    expect(view.body).toMatchObject({ plan: { id: "pro" }, subscription: { status: "active", plan: "pro" }, billing_anchor: new Date(anchor).toISOString(), next_invoice: { amount_usd: 49 } });
  });

  it("upgrading an active subscription applies at once; free schedules the cancellation at period end and keeps the plan", async () => {
    const owner = await createUser();
    const org = await createOrg(owner, { plan: "free" });
    await subscribeThroughCheckout(owner, org, "pro");
    const up = await billingCall(owner, "POST", `/api/orgs/${org.id}/billing/checkout`, { plan: "enterprise" });
    expect(up.status).toBe(200);
    expect(up.body).toMatchObject({ action: "upgraded", billing: { plan: { id: "enterprise" } } });
    expect((await gateOrg(org.id)).plan).toBe("enterprise");

    const down = await billingCall(owner, "POST", `/api/orgs/${org.id}/billing/checkout`, { plan: "pro" });
    expect(down.status).toBe(409);
    expect((await orgBilling(org.id)).plan).toBe("enterprise");

    const cancel = await billingCall(owner, "POST", `/api/orgs/${org.id}/billing/cancel`);
    expect(cancel.status).toBe(200);
    expect(cancel.body).toMatchObject({ plan: { id: "enterprise" }, subscription: { cancel_at_period_end: true }, next_invoice: null });
    expect((await orgBilling(org.id)).cancelAtPeriodEnd).toBe(true);
  });

  it("the portal answers a Stripe Billing Portal URL for an org with a customer, 409 without one", async () => {
    const owner = await createUser();
    const org = await createOrg(owner, { plan: "free" });
    const none = await billingCall(owner, "POST", `/api/orgs/${org.id}/billing/portal`);
    expect(none.status).toBe(409);
    await subscribeThroughCheckout(owner, org, "pro");
    const portal = await billingCall(owner, "POST", `/api/orgs/${org.id}/billing/portal`);
    expect(portal.status).toBe(200);
    expect(portal.body.url).toContain(`${stripeUrl()}/portal/bps_`);
  });

  it("bad input is a 400 in the error shape and changes nothing; Stripe unreachable is a 502", async () => {
    const owner = await createUser();
    const org = await createOrg(owner, { plan: "free" });
    const operatorSet = await createOrg(owner, { plan: "enterprise" });
    const same = await billingCall(owner, "POST", `/api/orgs/${operatorSet.id}/billing/checkout`, { plan: "pro" });
    expect(same.status).toBe(409);
    expect((await orgBilling(operatorSet.id)).stripeCustomerId).toBeNull();
    const bad = await billingCall(owner, "POST", `/api/orgs/${org.id}/billing/checkout`, { plan: "platinum" });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: "invalid_request", param: "plan" });
    const down = await billingCall(owner, "POST", `/api/orgs/${org.id}/billing/checkout`, { plan: "pro" }, { STRIPE_API_URL: "http://127.0.0.1:9" });
    expect(down.status).toBe(502);
    expect(down.body.error.code).toBe("upstream_error");
    expect(await orgBilling(org.id)).toMatchObject({ plan: "free", stripeCustomerId: null });
  });
});

describe("owner only", () => {
  it("admin, member and viewer get 403 on every billing route and nothing changes", async () => {
    const { org, admin, member, viewer } = await createOrgWithCast();
    const routes: Array<[string, string, unknown?]> = [
      ["GET", `/api/orgs/${org.id}/billing`], ["POST", `/api/orgs/${org.id}/billing/checkout`, { plan: "pro" }],
      ["POST", `/api/orgs/${org.id}/billing/portal`], ["POST", `/api/orgs/${org.id}/billing/cancel`],
    ];
    for (const who of [admin, member, viewer]) {
      for (const [method, path, body] of routes) {
        const res = await billingCall(who, method, path, body);
        expect(res.status, `${method} ${path}`).toBe(403);
        expect(res.body.error.code).toBe("permission_denied");
      }
    }
    expect(await orgBilling(org.id)).toMatchObject({ stripeCustomerId: null, stripeSubscriptionId: null });
  });
});

describe("POST /webhooks/stripe", () => {
  it("a bad or stale signature answers 400 and changes nothing", async () => {
    const { org, sub, customer } = await orgWithSubscription();
    const ev = stripeEvent("customer.subscription.created", subscriptionObject({ id: sub, customer, orgId: org.id, periodStart: Math.floor(Date.now() / 1000) }));
    const wrongSecret = await deliverEvent(ev, { secret: "whsec_not_the_right_one" });
    expect(wrongSecret.status).toBe(400);
    expect(wrongSecret.body.error.code).toBe("invalid_request");
    const stale = await deliverEvent(ev, { timestamp: Math.floor(Date.now() / 1000) - 3600 });
    expect(stale.status).toBe(400);
    const missing = await deliverEvent(ev, { signature: "" });
    expect(missing.status).toBe(400);
    expect(await orgBilling(org.id)).toMatchObject({ plan: "free", stripeSubscriptionId: null });
    const seen = await env.DB.prepare("SELECT COUNT(*) AS n FROM stripe_events WHERE id = ?").bind(ev.id).first<{ n: number }>();
    expect(seen!.n).toBe(0);
  });

  it("the same event delivered 10× concurrently changes state once", async () => {
    const { org, sub, customer } = await orgWithSubscription();
    const ev = stripeEvent("customer.subscription.created", subscriptionObject({ id: sub, customer, orgId: org.id, periodStart: Math.floor(Date.now() / 1000) }));
    const results = await Promise.all(Array.from({ length: 10 }, () => deliverEvent(ev)));
    expect(results.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(results.filter((r) => r.body.status === "applied")).toHaveLength(1);
    expect((await orgBilling(org.id)).plan).toBe("pro");
    expect(await auditRows(org.id, "billing.subscription")).toHaveLength(1);
    const seen = await env.DB.prepare("SELECT COUNT(*) AS n FROM stripe_events WHERE id = ?").bind(ev.id).first<{ n: number }>();
    expect(seen!.n).toBe(1);
  });

  it("events delivered in reverse order end in the newest state", async () => {
    const { org, sub, customer } = await orgWithSubscription();
    const t = Math.floor(Date.now() / 1000) - 100;
    const renewedAt = t + 50;
    const events = [
      stripeEvent("customer.subscription.created", subscriptionObject({ id: sub, customer, orgId: org.id, periodStart: t, status: "incomplete" }), t),
      stripeEvent("customer.subscription.updated", subscriptionObject({ id: sub, customer, orgId: org.id, periodStart: t, status: "active" }), t + 1),
      stripeEvent("customer.subscription.updated", subscriptionObject({ id: sub, customer, orgId: org.id, periodStart: t, price: env.STRIPE_PRICE_ENTERPRISE }), t + 2),
      stripeEvent("customer.subscription.updated", subscriptionObject({ id: sub, customer, orgId: org.id, periodStart: renewedAt, price: env.STRIPE_PRICE_ENTERPRISE, cancelAtPeriodEnd: true }), renewedAt),
    ];
    for (const ev of [...events].reverse()) expect((await deliverEvent(ev)).status).toBe(200);
    expect(await orgBilling(org.id)).toMatchObject({ plan: "enterprise", subscriptionStatus: "active", cancelAtPeriodEnd: true, billingAnchor: renewedAt * 1000 });

    const deleted = stripeEvent("customer.subscription.deleted", subscriptionObject({ id: sub, customer, orgId: org.id, periodStart: renewedAt, status: "canceled", price: env.STRIPE_PRICE_ENTERPRISE }), renewedAt + 5);
    const lateOld = stripeEvent("customer.subscription.updated", subscriptionObject({ id: sub, customer, orgId: org.id, periodStart: renewedAt, price: env.STRIPE_PRICE_ENTERPRISE }), renewedAt + 1);
    await deliverEvent(deleted);
    await deliverEvent(lateOld);
    expect(await orgBilling(org.id)).toMatchObject({ plan: "free", subscriptionStatus: "canceled", billingAnchor: null });
    expect((await gateOrg(org.id)).plan).toBe("free");
  });

  it("invoice.payment_failed keeps the plan through the grace period, then the free plan applies; invoice.paid restores it", async () => {
    const owner = await createUser();
    const org = await createOrg(owner, { plan: "free" });
    const { subscription } = await subscribeThroughCheckout(owner, org, "pro");
    const failed = (await (await fetch(`${stripeUrl()}/_test/subscriptions/${subscription.id}/fail_payment`, { method: "POST" })).json()) as { events: Array<{ type: string; data: { object: any } }> };
    const paymentFailed = failed.events.find((e) => e.type === "invoice.payment_failed")!;
    expect((await deliverEvent(paymentFailed)).status).toBe(200);
    expect(await orgBilling(org.id)).toMatchObject({ plan: "pro", subscriptionStatus: "past_due" });
    expect((await orgBilling(org.id)).paymentFailedAt).not.toBeNull();

    // Eight days later (grace 7): the grace period has ended.
    await env.DB.prepare("UPDATE orgs SET payment_failed_at = ? WHERE id = ?").bind(Date.now() - 8 * 86_400_000, org.id).run();
    const { scheduled } = await import("../src/scheduled");
    await scheduled({ cron: "17 * * * *", scheduledTime: Date.now(), noRetry() {} } as ScheduledController, env, { waitUntil() {}, passThroughOnException() {}, props: {} } as unknown as ExecutionContext);
    expect(await orgBilling(org.id)).toMatchObject({ plan: "free", subscriptionPlan: "pro" });
    expect((await gateOrg(org.id)).plan).toBe("free");

    // The retry succeeds: Stripe marks the subscription active again and sends invoice.paid.
    const retried = (await (await fetch(`${stripeUrl()}/_test/subscriptions/${subscription.id}/pay`, { method: "POST" })).json()) as { events: Array<{ type: string }> };
    const paid = retried.events.find((e) => e.type === "invoice.paid")!;
    expect((await deliverEvent(paid)).status).toBe(200);
    expect(await orgBilling(org.id)).toMatchObject({ plan: "pro", paymentFailedAt: null, subscriptionStatus: "active" });
    expect((await gateOrg(org.id)).plan).toBe("pro");
  });
});

describe("org deletion", () => {
  it("cancels the Stripe subscription immediately, then deletes the org", async () => {
    const owner = await createUser();
    const org = await createOrg(owner, { plan: "free" });
    const { subscription } = await subscribeThroughCheckout(owner, org, "pro");
    const res = await billingCall(owner, "DELETE", `/api/orgs/${org.id}`, { confirm: org.slug });
    expect(res.status).toBe(200);
    const sub = await (await fetch(`${stripeUrl()}/v1/subscriptions/${subscription.id}`, { headers: { authorization: "Bearer sk_test_x" } })).json() as any;
    expect(sub.status).toBe("canceled");
  });

  it("Stripe unreachable: the org stays intact and the answer says so", async () => {
    const owner = await createUser();
    const org = await createOrg(owner, { plan: "free" });
    await subscribeThroughCheckout(owner, org, "pro");
    const res = await billingCall(owner, "DELETE", `/api/orgs/${org.id}`, { confirm: org.slug }, { STRIPE_API_URL: "http://127.0.0.1:9" });
    expect(res.status).toBe(502);
    expect(res.body.error.message).toContain("intact");
    expect(await orgBilling(org.id)).toMatchObject({ plan: "pro", subscriptionStatus: "active" });
  });
});
