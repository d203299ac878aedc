/**
 * Billing test helpers: calls with the Stripe stand-in as the API (its port is chosen at global setup),
 * Stripe events signed with the SDK's own generateTestHeaderStringAsync, and subscription objects in
 * Stripe's wire shape.
 */
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { inject } from "vitest";
import app from "../../src/index";
import { getDb } from "../../src/db/client";
import { orgs } from "../../src/db/schema";
import { stripeCrypto, stripeWebhooks } from "../../src/services/stripe-client";
import { eq } from "drizzle-orm";
import { ORIGIN, type TestOrg, type TestUser } from "../factories";

export const stripeUrl = () => inject("mockUrls").stripe!;
export const stripeEnv = () => ({ STRIPE_API_URL: stripeUrl() });

/** A request to the app with the stand-in as Stripe (and optional other overrides). */
export async function billingCall(as: TestUser | null, method: string, path: string, body?: unknown, over: Record<string, string> = {}) {
  const headers: Record<string, string> = { origin: ORIGIN, "cf-connecting-ip": "203.0.113.9", "user-agent": "tollgate-tests" };
  if (as) headers.cookie = as.cookie;
  if (body !== undefined) headers["content-type"] = "application/json";
  return rawCall(method, path, body === undefined ? undefined : JSON.stringify(body), headers, over);
}

async function rawCall(method: string, path: string, body: string | undefined, headers: Record<string, string>, over: Record<string, string> = {}) {
  const ctx = createExecutionContext();
  const res = await app.fetch(new Request(`${ORIGIN}${path}`, { method, headers, body }), { ...env, ...stripeEnv(), ...over }, ctx);
  await waitOnExecutionContext(ctx);
  const text = await res.text();
  let parsed: any = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    /* stays text */
  }
  return { status: res.status, body: parsed };
}

/** Delivers an event to /webhooks/stripe, signed with the configured secret unless `signature` is given. */
export async function deliverEvent(event: object, opts: { secret?: string; signature?: string; timestamp?: number } = {}) {
  const payload = JSON.stringify(event);
  const signature =
    opts.signature ??
    (await stripeWebhooks.generateTestHeaderStringAsync({ payload, secret: opts.secret ?? env.STRIPE_WEBHOOK_SECRET!, timestamp: opts.timestamp, cryptoProvider: stripeCrypto }));
  return rawCall("POST", "/webhooks/stripe", payload, { "content-type": "application/json", "stripe-signature": signature });
}

let seq = 0;
/** A Stripe event envelope. */
export function stripeEvent(type: string, object: object, created = Math.floor(Date.now() / 1000)) {
  return { id: `evt_test_${Date.now().toString(36)}${(seq++).toString(36)}`, object: "event", api_version: "2026-10-28.endive", created, type, livemode: false, pending_webhooks: 1, request: { id: null, idempotency_key: null }, data: { object } };
}

/** A subscription in Stripe's shape. */
export function subscriptionObject(s: { id: string; customer: string; orgId?: string; status?: string; price?: string; periodStart: number; cancelAtPeriodEnd?: boolean }) {
  return {
    id: s.id, object: "subscription", customer: s.customer, status: s.status ?? "active", created: s.periodStart, billing_cycle_anchor: s.periodStart,
    cancel_at_period_end: s.cancelAtPeriodEnd ?? false, canceled_at: null, ended_at: null, metadata: s.orgId ? { org_id: s.orgId } : {},
    items: { object: "list", data: [{ id: `si_${s.id}`, object: "subscription_item", price: { id: s.price ?? env.STRIPE_PRICE_PRO, object: "price" }, quantity: 1, current_period_start: s.periodStart, current_period_end: s.periodStart + 30 * 86_400 }] },
  };
}

/** The org's billing columns. */
export async function orgBilling(orgId: string) {
  return (await getDb(env.DB).select().from(orgs).where(eq(orgs.id, orgId)).get())!;
}

/** Owner starts Checkout for `plan`, the stand-in "pays", and its events are delivered (in order unless told). */
export async function subscribeThroughCheckout(owner: TestUser, org: TestOrg, plan = "pro") {
  const started = await billingCall(owner, "POST", `/api/orgs/${org.id}/billing/checkout`, { plan });
  if (started.status !== 200) throw new Error(`checkout: ${started.status} ${JSON.stringify(started.body)}`);
  const sessionId = new URL(started.body.url).pathname.split("/").pop()!;
  const paid = (await (await fetch(`${stripeUrl()}/_test/checkout/${sessionId}/complete`, { method: "POST" })).json()) as { events: Array<{ id: string; type: string; data: { object: any } }> };
  const results = [];
  for (const ev of paid.events) results.push(await deliverEvent(ev));
  return { started, events: paid.events, results, subscription: paid.events.find((e) => e.type === "customer.subscription.created")!.data.object };
}
