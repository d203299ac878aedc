/**
 * Downgrade keeps everything: an org above the new plan's limits keeps using what it has; creating more
 * answers 403 plan_limit naming the limit and the plan that lifts it; GET …/billing reports what is over.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { PLANS } from "../src/plans";
import { call } from "./factories";
import { billingCall, deliverEvent, orgBilling, stripeEvent, subscribeThroughCheckout } from "./factories/billing";
import { createGatewayOrg, v1 } from "./factories/gateway";
import { createKey } from "./factories/keys";

describe("downgrade", () => {
  it("with 12 keys on a plan allowing 10: all 12 keep working, the 13th is refused with plan_limit, billing reports keys over", async () => {
    const { owner, org, key: first } = await createGatewayOrg({ plan: "free" });
    const { subscription } = await subscribeThroughCheckout(owner, org, "pro");
    const keys = [first];
    for (let i = 1; i < 12; i++) keys.push(await createKey(org, owner, { name: `k${i}` }));

    // The subscription ends (cancelled at period end): Stripe sends customer.subscription.deleted.
    const ended = stripeEvent("customer.subscription.deleted", { ...subscription, status: "canceled", canceled_at: Math.floor(Date.now() / 1000), ended_at: Math.floor(Date.now() / 1000) }, Math.floor(Date.now() / 1000) + 5);
    expect((await deliverEvent(ended)).status).toBe(200);
    expect((await orgBilling(org.id)).plan).toBe("free");

    const answers = await Promise.all(keys.map((k) => v1(k, "/chat/completions", { model: "gpt-4o-mini", messages: [{ role: "user", content: "still here" }] })));
    expect(answers.map((r) => r.status)).toEqual(Array(12).fill(200));
    for (const r of answers) expect(r.headers.get("x-ratelimit-limit-requests")).toBe(String(PLANS.free.orgRpm));

    const thirteenth = await call(owner, "POST", `/api/orgs/${org.id}/keys`, { name: "thirteenth" });
    expect(thirteenth.status).toBe(403);
    expect(thirteenth.body.error).toMatchObject({ code: "plan_limit", type: "plan_limit", limit_name: "keys", limit: 10, used: 12, plan: "free", upgrade_plan: "pro" });
    expect(thirteenth.body.error.message).toContain("Pro");
    const { results } = await env.DB.prepare("SELECT COUNT(*) AS n FROM api_keys WHERE org_id = ?").bind(org.id).all<{ n: number }>();
    expect(results[0]!.n).toBe(12);

    const billing = await billingCall(owner, "GET", `/api/orgs/${org.id}/billing`);
    expect(billing.body).toMatchObject({ plan: { id: "free" }, over_limits: ["keys"], usage: { keys: { used: 12, limit: 10, over: true } } });
  });
});
