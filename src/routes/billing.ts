/**
 * Billing routes (owner only; docs/billing.md): the plan and usage against its limits, Stripe Checkout for
 * a new subscription, in-place upgrades with proration, cancel (or move to Free) at period end, and the
 * Billing Portal, and prepaid-credit top-ups (Checkout in payment mode). The plan and the credit change only
 * from Stripe's answer or webhook, never from the request.
 */
import { OpenAPIHono, z } from "@hono/zod-openapi";
import type Stripe from "stripe";
import type { AppEnv } from "../app-env";
import { auditActorOf, auditInsert } from "../db/audit";
import { getDb } from "../db/client";
import { countActiveKeys, countBudgets } from "../db/keys";
import { countSeatsUsed } from "../db/members";
import { findOrg, runBatch, type OrgRow } from "../db/orgs";
import { countWebhooks } from "../db/webhooks";
import { ApiError, validationHook } from "../errors";
import { orgRoute } from "../lib/route";
import { countGuardrails } from "../db/guardrails";
import { countPrompts } from "../db/prompts";
import { PLANS, planOf, stripePriceOf, type Plan, type PlanId, type PlanLimitName } from "../plans";
import { applySubscriptionNow, ensureCustomer, hasLiveSubscription, planChange } from "../services/billing";
import { stripeClient } from "../services/stripe-client";
import type { Config } from "../env";
import { creditBalance } from "../services/credits";
import { TOPUP_KIND } from "../services/billing";
import { topupFeeCents } from "../plans";

const OrgIdParam = z.object({ orgId: z.string().openapi({ param: { name: "orgId", in: "path" } }) });
const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { "application/json": { schema } } });
const iso = (ms: number | null | undefined) => (ms == null ? null : new Date(ms).toISOString());
const PLAN_IDS = Object.keys(PLANS) as [PlanId, ...PlanId[]];

const LimitUse = z.object({ used: z.number().int(), limit: z.number().int().nullable(), over: z.boolean() });
const PlanView = z.object({
  id: z.enum(PLAN_IDS), name: z.string(), price_usd_monthly: z.number().nullable(), seats: z.number().nullable(), keys: z.number().nullable(),
  budgets: z.number().nullable(), webhooks: z.number().nullable(), monthly_spend_cap_usd: z.number().nullable(), org_rpm: z.number().nullable(),
  org_tpm: z.number().nullable(), retention_days: z.number().nullable(), bulk_invite: z.boolean(),
  checkout_available: z.boolean().openapi({ description: "A Stripe price is configured for this plan on this deployment" }),
  credits_topup: z
    .object({ platform_fee_percent: z.number(), min_usd: z.number(), max_usd: z.number() })
    .openapi({ description: "Prepaid credit top-ups on this plan: the platform fee charged on top of the credit bought, and the amounts one top-up may buy" }),
});
const BillingView = z
  .object({
    plan: PlanView.openapi({ description: "The plan in effect (its limits apply now)" }),
    subscription: z
      .object({
        id: z.string(), status: z.string(), plan: z.enum(PLAN_IDS), cancel_at_period_end: z.boolean(), current_period_end: z.string().nullable(),
        payment_failed_at: z.string().nullable(), grace_ends_at: z.string().nullable(),
      })
      .nullable(),
    billing_anchor: z.string().nullable().openapi({ description: "Start of the billing period monthly budgets follow; null = calendar months (UTC)" }),
    usage: z.object({ seats: LimitUse, keys: LimitUse, budgets: LimitUse, webhooks: LimitUse, guardrails: LimitUse, prompts: LimitUse }),
    over_limits: z.array(z.enum(["seats", "keys", "budgets", "webhooks", "guardrails", "prompts"])).openapi({ description: "Limits the org is above (after a downgrade): creating more is refused with plan_limit" }),
    next_invoice: z.object({ date: z.string(), amount_usd: z.number().nullable(), plan: z.enum(PLAN_IDS) }).nullable().openapi({ description: "Estimated from the plan price; null without a renewing subscription" }),
    plans: z.array(PlanView),
    stripe_configured: z.boolean(),
    credits_enabled: z.boolean().openapi({ description: "Prepaid credits are on for this deployment" }),
    credit_balance_micros: z.number().int().nullable().openapi({ description: "Prepaid balance (Σ grants − spend, never below 0); null when credits are off or the balance could not be read" }),
  })
  .openapi("Billing");

function planView(p: Plan, cfg: Config): z.infer<typeof PlanView> {
  return {
    id: p.id, name: p.name, price_usd_monthly: p.priceUsdMonthly, seats: p.seats, keys: p.keys, budgets: p.budgets, webhooks: p.webhooks,
    monthly_spend_cap_usd: p.monthlySpendCapMicros === null ? null : p.monthlySpendCapMicros / 1_000_000, org_rpm: p.orgRpm, org_tpm: p.orgTpm,
    retention_days: p.retentionDays, bulk_invite: p.bulkInvite, checkout_available: !!cfg.STRIPE_SECRET_KEY && stripePriceOf(p, cfg) !== null,
    credits_topup: { platform_fee_percent: p.topupFeeBps / 100, min_usd: p.topupMinCents / 100, max_usd: p.topupMaxCents / 100 },
  };
}

/** The live prepaid balance, or null when credits are off (or the gate could not answer: the Credits page then reads D1). */
async function creditBalanceOf(env: AppEnv["Bindings"], orgId: string, cfg: Config): Promise<number | null> {
  if (!cfg.CREDITS_ENABLED) return null;
  try {
    const live = await creditBalance(env, orgId);
    return live ? Math.max(0, live.grantedMicros - live.spentMicros) : null;
  } catch (err) {
    console.error("credit balance from the gate failed", err instanceof Error ? err.message : String(err));
    return null;
  }
}

async function billingView(env: AppEnv["Bindings"], db: ReturnType<typeof getDb>, org: OrgRow, cfg: Config): Promise<z.infer<typeof BillingView>> {
  const plan = planOf(org.plan);
  const [seats, keys, budgets, webhooks, guardrails, prompts, balance] = await Promise.all([countSeatsUsed(db, org.id), countActiveKeys(db, org.id), countBudgets(db, org.id), countWebhooks(db, org.id), countGuardrails(db, org.id), countPrompts(db, org.id), creditBalanceOf(env, org.id, cfg)]);
  const use = (name: PlanLimitName, used: number) => ({ used, limit: plan[name], over: plan[name] !== null && used > plan[name] });
  const usage = { seats: use("seats", seats), keys: use("keys", keys), budgets: use("budgets", budgets), webhooks: use("webhooks", webhooks), guardrails: use("guardrails", guardrails), prompts: use("prompts", prompts) };
  const live = hasLiveSubscription(org);
  const subPlan = planOf(org.subscriptionPlan ?? "free");
  return {
    plan: planView(plan, cfg),
    subscription: org.stripeSubscriptionId
      ? {
          id: org.stripeSubscriptionId, status: org.subscriptionStatus ?? "unknown", plan: subPlan.id, cancel_at_period_end: org.cancelAtPeriodEnd,
          current_period_end: iso(org.currentPeriodEnd), payment_failed_at: iso(org.paymentFailedAt),
          grace_ends_at: org.paymentFailedAt === null ? null : iso(org.paymentFailedAt + cfg.BILLING_GRACE_DAYS * 86_400_000),
        }
      : null,
    billing_anchor: iso(org.billingAnchor),
    usage,
    over_limits: (Object.keys(usage) as PlanLimitName[]).filter((k) => usage[k].over),
    next_invoice: live && !org.cancelAtPeriodEnd && org.currentPeriodEnd !== null ? { date: iso(org.currentPeriodEnd)!, amount_usd: subPlan.priceUsdMonthly, plan: subPlan.id } : null,
    plans: Object.values(PLANS).map((p) => planView(p, cfg)),
    stripe_configured: !!cfg.STRIPE_SECRET_KEY,
    credits_enabled: cfg.CREDITS_ENABLED,
    credit_balance_micros: balance,
  };
}

function requireStripe(cfg: Config): Stripe {
  const stripe = stripeClient(cfg);
  if (!stripe) throw new ApiError("billing_unavailable", "Billing is not configured on this deployment (STRIPE_SECRET_KEY is not set)");
  return stripe;
}

/** Runs a Stripe call; a Stripe failure becomes 502 `upstream_error` saying nothing changed. */
async function viaStripe<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    console.error(`stripe ${what} failed`, err instanceof Error ? err.message : String(err));
    throw new ApiError("upstream_error", `Stripe could not ${what}; nothing was changed, try again`);
  }
}

async function loadOrg(db: ReturnType<typeof getDb>, orgId: string): Promise<OrgRow> {
  const org = await findOrg(db, orgId);
  if (!org) throw new ApiError("not_found", "Organization not found");
  return org;
}

const billingUrl = (cfg: Config, orgId: string, query: string) => `${cfg.APP_URL.replace(/\/+$/, "")}/orgs/${orgId}/billing${query}`;

const usd = (cents: number) => (cents / 100).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });

const CheckoutBody = z
  .object({
    plan: z.enum(PLAN_IDS).optional().openapi({ description: "Subscribe, upgrade, or `free` to cancel at period end" }),
    credits_usd: z.number().positive().max(1_000_000).optional().openapi({ description: "Buy this much prepaid credit (US dollars, whole cents)", example: 25 }),
  })
  .strict()
  .refine((b) => (b.plan === undefined) !== (b.credits_usd === undefined), { message: "Send either plan (a subscription) or credits_usd (a credit top-up)" })
  .openapi("BillingCheckout");

const ChangeResult = z
  .object({
    action: z.enum(["checkout", "upgraded", "cancel_at_period_end"]),
    url: z.string().nullable().openapi({ description: "Checkout: where to send the browser" }),
    billing: BillingView.nullable().openapi({ description: "The new state when it changed at once (upgrade, cancel)" }),
  })
  .openapi("BillingChange");

export const billingRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(
    orgRoute("owner", {
      method: "get",
      path: "/orgs/{orgId}/billing",
      tags: ["billing"],
      summary: "Plan, subscription, usage against the plan's limits, next invoice",
      request: { params: OrgIdParam },
      responses: { 200: json(BillingView, "Billing state") },
    }),
    async (c) => {
      const db = getDb(c.env.DB);
      return c.json(await billingView(c.env, db, await loadOrg(db, c.var.org.orgId), c.var.config), 200);
    },
  )
  .openapi(
    orgRoute("owner", {
      method: "post",
      path: "/orgs/{orgId}/billing/checkout",
      tags: ["billing"],
      summary: "Subscribe (Stripe Checkout), upgrade now with proration, move to Free at period end, or buy prepaid credit",
      description:
        "`{plan}` without a subscription: a Checkout Session in subscription mode (the answer's `url`). With one: a higher plan is applied at once " +
        "(prorated); `free` cancels at the end of the period. Moving down between paid plans is done in the billing portal. " +
        "`{credits_usd}`: a Checkout Session in payment mode buying that much prepaid credit (whole cents, within the plan's top-up range), " +
        "plus the plan's platform fee; the credit is granted when Stripe reports the payment.",
      request: { params: OrgIdParam, body: { required: true, content: { "application/json": { schema: CheckoutBody } } } },
      responses: { 200: json(ChangeResult, "What happened") },
    }),
    async (c) => {
      const cfg = c.var.config;
      const { orgId } = c.var.org;
      const db = getDb(c.env.DB);
      const org = await loadOrg(db, orgId);
      const input = c.req.valid("json");
      if (input.credits_usd !== undefined) {
        const plan = planOf(org.plan);
        if (!cfg.CREDITS_ENABLED) throw new ApiError("conflict", "Prepaid credits are not enabled on this deployment", { param: "credits_usd" });
        const cents = Math.round(input.credits_usd * 100);
        if (Math.abs(input.credits_usd * 100 - cents) > 1e-6) throw new ApiError("invalid_request", "credits_usd: use whole cents (at most two decimals)", { param: "credits_usd" });
        if (cents < plan.topupMinCents || cents > plan.topupMaxCents) {
          throw new ApiError("invalid_request", `credits_usd: a top-up is between $${usd(plan.topupMinCents)} and $${usd(plan.topupMaxCents)} on the ${plan.name} plan`, { param: "credits_usd" });
        }
        const stripe = requireStripe(cfg);
        const fee = topupFeeCents(plan, cents);
        const email = c.var.actor?.type === "user" ? c.var.actor.email : null;
        const customer = await viaStripe("create the customer", () => ensureCustomer(stripe, db, org, email));
        const amountMicros = cents * 10_000;
        const session = await viaStripe("start Checkout", () =>
          stripe.checkout.sessions.create({
            mode: "payment", customer, client_reference_id: orgId,
            line_items: [
              { price_data: { currency: "usd", unit_amount: cents, product_data: { name: "Tollgate prepaid credit" } }, quantity: 1 },
              ...(fee > 0 ? [{ price_data: { currency: "usd", unit_amount: fee, product_data: { name: `Platform fee (${plan.topupFeeBps / 100}%)` } }, quantity: 1 }] : []),
            ],
            metadata: { kind: TOPUP_KIND, org_id: orgId, amount_micros: String(amountMicros) },
            success_url: billingUrl(cfg, orgId, "?topup=success&session_id={CHECKOUT_SESSION_ID}"),
            cancel_url: billingUrl(cfg, orgId, "?topup=cancelled"),
          }),
        );
        await runBatch(db, [auditInsert(db, orgId, auditActorOf(c), { action: "billing.topup_checkout", targetType: "org", targetId: orgId, after: { amount_micros: amountMicros, fee_cents: fee, session: session.id } })]);
        return c.json({ action: "checkout" as const, url: session.url, billing: null }, 200);
      }
      const target = planOf(input.plan!);
      const change = planChange(org, target, cfg);
      if (change.kind === "refused") throw new ApiError(change.code, change.reason, { param: "plan" });
      const stripe = requireStripe(cfg);
      const actor = auditActorOf(c);
      if (change.kind === "checkout") {
        const email = c.var.actor?.type === "user" ? c.var.actor.email : null;
        const customer = await viaStripe("create the customer", () => ensureCustomer(stripe, db, org, email));
        const session = await viaStripe("start Checkout", () =>
          stripe.checkout.sessions.create({
            mode: "subscription", customer, client_reference_id: orgId,
            line_items: [{ price: change.priceId, quantity: 1 }],
            subscription_data: { metadata: { org_id: orgId } },
            metadata: { org_id: orgId, plan: change.plan.id },
            success_url: billingUrl(cfg, orgId, "?checkout=success&session_id={CHECKOUT_SESSION_ID}"),
            cancel_url: billingUrl(cfg, orgId, "?checkout=cancelled"),
          }),
        );
        await runBatch(db, [auditInsert(db, orgId, actor, { action: "billing.checkout", targetType: "org", targetId: orgId, after: { plan: change.plan.id, session: session.id } })]);
        return c.json({ action: "checkout" as const, url: session.url, billing: null }, 200);
      }
      const subId = org.stripeSubscriptionId!;
      const sub =
        change.kind === "upgrade"
          ? await viaStripe("change the plan", async () => {
              const current = await stripe.subscriptions.retrieve(subId);
              return stripe.subscriptions.update(subId, {
                items: [{ id: current.items.data[0]!.id, price: change.priceId }], proration_behavior: "always_invoice", cancel_at_period_end: false,
                metadata: { org_id: orgId },
              });
            })
          : await viaStripe("schedule the cancellation", () => stripe.subscriptions.update(subId, { cancel_at_period_end: true }));
      await runBatch(db, [auditInsert(db, orgId, actor, { action: `billing.${change.kind === "upgrade" ? "upgrade" : "cancel"}`, targetType: "subscription", targetId: subId, after: { plan: target.id } })]);
      await applySubscriptionNow(c.env, db, cfg, orgId, sub);
      const billing = await billingView(c.env, db, await loadOrg(db, orgId), cfg);
      return c.json({ action: change.kind === "upgrade" ? ("upgraded" as const) : ("cancel_at_period_end" as const), url: null, billing }, 200);
    },
  )
  .openapi(
    orgRoute("owner", {
      method: "post",
      path: "/orgs/{orgId}/billing/cancel",
      tags: ["billing"],
      summary: "Cancel the subscription at the end of the period (the plan's limits apply until then)",
      request: { params: OrgIdParam },
      responses: { 200: json(BillingView, "Billing state after scheduling the cancellation") },
    }),
    async (c) => {
      const cfg = c.var.config;
      const { orgId } = c.var.org;
      const db = getDb(c.env.DB);
      const org = await loadOrg(db, orgId);
      if (!hasLiveSubscription(org)) throw new ApiError("conflict", "The organization has no active subscription to cancel");
      if (org.cancelAtPeriodEnd) return c.json(await billingView(c.env, db, org, cfg), 200);
      const stripe = requireStripe(cfg);
      const sub = await viaStripe("schedule the cancellation", () => stripe.subscriptions.update(org.stripeSubscriptionId!, { cancel_at_period_end: true }));
      await runBatch(db, [auditInsert(db, orgId, auditActorOf(c), { action: "billing.cancel", targetType: "subscription", targetId: sub.id, after: { cancel_at_period_end: true } })]);
      await applySubscriptionNow(c.env, db, cfg, orgId, sub);
      return c.json(await billingView(c.env, db, await loadOrg(db, orgId), cfg), 200);
    },
  )
  .openapi(
    orgRoute("owner", {
      method: "post",
      path: "/orgs/{orgId}/billing/portal",
      tags: ["billing"],
      summary: "A Stripe Billing Portal session (invoices, payment method, plan changes)",
      request: { params: OrgIdParam },
      responses: { 200: json(z.object({ url: z.string() }).openapi("BillingPortal"), "Where to send the browser") },
    }),
    async (c) => {
      const cfg = c.var.config;
      const { orgId } = c.var.org;
      const db = getDb(c.env.DB);
      const org = await loadOrg(db, orgId);
      if (!org.stripeCustomerId) throw new ApiError("conflict", "The organization has no billing account yet; subscribe to a plan first");
      const stripe = requireStripe(cfg);
      const session = await viaStripe("open the billing portal", () => stripe.billingPortal.sessions.create({ customer: org.stripeCustomerId!, return_url: billingUrl(cfg, orgId, "") }));
      return c.json({ url: session.url }, 200);
    },
  );
