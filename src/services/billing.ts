/**
 * Billing on Stripe (docs/billing.md): Checkout for new subscriptions, in-place plan changes, cancel at
 * period end, and the webhook dispatcher that turns Stripe events into the org's plan, status and billing
 * anchor. Every applied change is pushed to the org's gate before answering, so the plan cap and the org
 * RPM/TPM change on the very next proxied request and monthly budgets follow the new billing period.
 */
import type Stripe from "stripe";
import type { Config, Env } from "../env";
import type { Db } from "../db/client";
import { applySubscriptionStatements, claimStripeCustomer, findOrgIdForStripe, insertStripeEvent, LIVE_STATUSES, stripeEventSeen, type SubscriptionState } from "../db/billing";
import { runBatch, type OrgRow } from "../db/orgs";
import { refreshGate } from "../durable-objects/org-gate-client";
import { planOf, planOfPrice, stripePriceOf, type Plan } from "../plans";
import { creditRefTaken } from "../db/credits";
import { creditGrantStatements, MAX_GRANT_MICROS } from "./credits";

const DAY_MS = 86_400_000;
const pad = (n: number) => String(Math.max(0, Math.floor(n))).padStart(15, "0");

/** Terminal statuses sort after live ones at the same instant: a cancellation is never undone by a tie. */
const STATUS_RANK: Record<string, number> = { incomplete: 0, trialing: 1, active: 1, past_due: 2, unpaid: 3, paused: 3, incomplete_expired: 4, canceled: 4 };

/** True when the org's subscription currently pays for a plan. */
export function hasLiveSubscription(org: Pick<OrgRow, "stripeSubscriptionId" | "subscriptionStatus">): boolean {
  return !!org.stripeSubscriptionId && (LIVE_STATUSES as readonly string[]).includes(org.subscriptionStatus ?? "");
}

/** Start of the grace window: a payment that failed before this moves the org to the free plan's limits. */
export const graceCutoff = (cfg: Pick<Config, "BILLING_GRACE_DAYS">, now = Date.now()) => now - cfg.BILLING_GRACE_DAYS * DAY_MS;

/**
 * Tollgate's view of a Stripe subscription. `observedAtMs` is when Stripe described it (the event's
 * `created`, or now for an API answer). The ordering key is (current period start, observedAtMs, status rank),
 * compared as text: a renewal or a re-subscription moves the period start, changes within a period are
 * ordered by when Stripe reported them, and at the same second a terminal status wins.
 */
export function subscriptionState(sub: Stripe.Subscription, cfg: Config, observedAtMs: number): SubscriptionState {
  const item = sub.items?.data?.[0];
  const priceId = item?.price?.id ?? "";
  const periodStart = item?.current_period_start ?? sub.billing_cycle_anchor ?? sub.created;
  const periodEnd = item?.current_period_end ?? null;
  const failing = sub.status === "past_due" || sub.status === "unpaid";
  return {
    subscriptionId: sub.id,
    customerId: typeof sub.customer === "string" ? sub.customer : sub.customer.id,
    status: sub.status,
    planId: planOfPrice(priceId, cfg)?.id ?? "free",
    periodStartMs: periodStart * 1000,
    periodEndMs: periodEnd === null ? null : periodEnd * 1000,
    cancelAtPeriodEnd: !!sub.cancel_at_period_end,
    version: `${pad(periodStart)}|${pad(observedAtMs)}|${STATUS_RANK[sub.status] ?? 1}`,
    failedAtMs: failing ? observedAtMs : null,
  };
}

/** Applies a subscription state to an org now (after an API call of ours), then pushes the plan to the gate. */
export async function applySubscriptionNow(env: Env, db: Db, cfg: Config, orgId: string, sub: Stripe.Subscription): Promise<void> {
  const state = subscriptionState(sub, cfg, Date.now());
  await runBatch(db, [...applySubscriptionStatements(db, orgId, state, graceCutoff(cfg), `api:${sub.id}`)]);
  await refreshGate(env, orgId, ["org"]);
}

/** The Stripe customer of the org, created once (idempotency key = org id, and a conditional write). */
export async function ensureCustomer(stripe: Stripe, db: Db, org: OrgRow, email: string | null): Promise<string> {
  if (org.stripeCustomerId) return org.stripeCustomerId;
  const customer = await stripe.customers.create(
    { name: org.name, ...(email ? { email } : {}), metadata: { org_id: org.id } },
    { idempotencyKey: `tollgate-customer-${org.id}` },
  );
  return claimStripeCustomer(db, org.id, customer.id);
}

/** What a plan request does, decided from the org's state; returned, not thrown. */
export type PlanChange =
  | { kind: "checkout"; plan: Plan; priceId: string }
  | { kind: "upgrade"; plan: Plan; priceId: string }
  | { kind: "cancel_at_period_end" }
  | { kind: "refused"; reason: string; code: "conflict" | "invalid_request" };

/** Decides how to move the org to `target` (docs/billing.md "Flows"). */
export function planChange(org: OrgRow, target: Plan, cfg: Config): PlanChange {
  const live = hasLiveSubscription(org);
  const paying = live ? planOf(org.subscriptionPlan ?? org.plan) : planOf("free");
  if (target.id === "free") {
    if (!live) return { kind: "refused", code: "conflict", reason: "The organization has no subscription; it is already on the Free plan" };
    if (org.cancelAtPeriodEnd) return { kind: "refused", code: "conflict", reason: "The subscription already ends at the end of the period" };
    return { kind: "cancel_at_period_end" };
  }
  const priceId = stripePriceOf(target, cfg);
  if (!priceId) return { kind: "refused", code: "invalid_request", reason: `The ${target.name} plan is not sold through Checkout on this deployment; contact the operator` };
  if (!live) {
    // An operator-set plan (no subscription) is not replaced by a purchase of the same or a lower one.
    const current = planOf(org.plan);
    if (target.rank <= current.rank) return { kind: "refused", code: "conflict", reason: `The organization is already on ${current.name}` };
    return { kind: "checkout", plan: target, priceId };
  }
  if (target.rank > paying.rank) return { kind: "upgrade", plan: target, priceId };
  if (target.id === paying.id) return { kind: "refused", code: "conflict", reason: `The organization already subscribes to ${target.name}` };
  return { kind: "refused", code: "conflict", reason: `Moving down from ${paying.name} to ${target.name} happens in the billing portal (it takes effect at the end of the period)` };
}

/** Outcome of one webhook delivery. */
export type WebhookOutcome = { status: "applied" | "duplicate" | "ignored"; orgId: string | null };

function subscriptionIdOfInvoice(inv: Stripe.Invoice): string | null {
  const fromParent = inv.parent?.subscription_details?.subscription;
  const legacy = (inv as unknown as { subscription?: string | { id: string } | null }).subscription;
  const ref = fromParent ?? legacy ?? null;
  return ref === null ? null : typeof ref === "string" ? ref : ref.id;
}

const idOf = (ref: string | { id: string } | null | undefined) => (ref == null ? null : typeof ref === "string" ? ref : ref.id);

/** `metadata.kind` of a Checkout Session that buys prepaid credit. */
export const TOPUP_KIND = "credits_topup";

/**
 * A payment-mode Checkout that bought prepaid credit (`POST …/billing/checkout {credits_usd}`) completed:
 * the statements that grant it (kind `topup`, ref = the session id), committed in the same batch as the
 * event id. The amount is the one our server put in the session's metadata when it created it (the event is
 * signed by Stripe), checked against what was paid; a session that is not paid, not ours, or already
 * granted (by ref) grants nothing.
 */
async function paymentCheckoutStatements(db: Db, orgId: string, session: Stripe.Checkout.Session) {
  const meta = session.metadata ?? {};
  if (meta.kind !== TOPUP_KIND || session.payment_status !== "paid") return [];
  const amountMicros = Number(meta.amount_micros);
  const paidCents = session.amount_total ?? 0;
  if (meta.org_id !== orgId || !Number.isSafeInteger(amountMicros) || amountMicros <= 0 || amountMicros > MAX_GRANT_MICROS || paidCents * 10_000 < amountMicros) {
    console.error(`stripe top-up ${session.id}: metadata does not match the payment; nothing granted`);
    return [];
  }
  if (await creditRefTaken(db, session.id)) return [];
  return [...creditGrantStatements(db, orgId, { kind: "topup", amountMicros, ref: session.id }).statements];
}

/**
 * Applies one verified Stripe event. Idempotent by event id (a duplicate's batch fails on the
 * `stripe_events` key and changes nothing) and order-independent (subscription states carry a version).
 * Throws when Stripe cannot be reached for a retrieve, so the delivery answers 5xx and Stripe retries.
 */
export async function handleStripeEvent(env: Env, db: Db, cfg: Config, stripe: Stripe | null, event: Stripe.Event): Promise<WebhookOutcome> {
  if (await stripeEventSeen(db, event.id)) return { status: "duplicate", orgId: null };
  let orgId: string | null = null;
  let state: SubscriptionState | null = null;
  let extra: Awaited<ReturnType<typeof paymentCheckoutStatements>> = [];
  // Events that only name the subscription are applied with its current state, read back from Stripe:
  // that state is as of now, so it is versioned with now (an older event arriving later cannot undo it).
  const retrieve = async (subId: string) => {
    if (!stripe) throw new Error("STRIPE_SECRET_KEY is not set: cannot read the subscription");
    return stripe.subscriptions.retrieve(subId);
  };
  switch (event.type) {
    case "checkout.session.completed": {
      const session = event.data.object;
      orgId = await findOrgIdForStripe(db, { orgId: session.client_reference_id, customerId: idOf(session.customer) });
      if (!orgId) break;
      if (session.mode === "subscription") {
        const subId = idOf(session.subscription);
        if (subId) state = subscriptionState(await retrieve(subId), cfg, Date.now());
      } else if (session.mode === "payment") {
        extra = await paymentCheckoutStatements(db, orgId, session);
      }
      break;
    }
    case "customer.subscription.created":
    case "customer.subscription.updated":
    case "customer.subscription.deleted": {
      const sub = event.data.object;
      orgId = await findOrgIdForStripe(db, { orgId: sub.metadata?.org_id, customerId: idOf(sub.customer) });
      if (orgId) state = subscriptionState(sub, cfg, event.created * 1000);
      break;
    }
    case "invoice.paid":
    case "invoice.payment_failed": {
      const inv = event.data.object;
      orgId = await findOrgIdForStripe(db, { orgId: inv.parent?.subscription_details?.metadata?.org_id, customerId: idOf(inv.customer) });
      const subId = subscriptionIdOfInvoice(inv);
      if (orgId && subId) {
        state = subscriptionState(await retrieve(subId), cfg, Date.now());
        if (state.failedAtMs !== null) state.failedAtMs = Math.min(state.failedAtMs, event.created * 1000);
      }
      break;
    }
    default:
      break;
  }
  const changes = orgId && state ? [...applySubscriptionStatements(db, orgId, state, graceCutoff(cfg), event.id)] : [];
  try {
    await runBatch(db, [insertStripeEvent(db, { id: event.id, type: event.type, orgId }), ...changes, ...extra]);
  } catch (err) {
    if (await stripeEventSeen(db, event.id)) return { status: "duplicate", orgId };
    throw err;
  }
  if (orgId && (state || extra.length)) await refreshGate(env, orgId, ["org"]);
  return { status: state || extra.length ? "applied" : "ignored", orgId };
}
