import type { Config } from "../env";
import type { OrgRow } from "../db/orgs";
import { stripeClient } from "./stripe-client";

/** Outcome of cancelling an org's paid subscription before the org is deleted. */
export type BillingCancellation = { ok: true; cancelled: boolean } | { ok: false; reason: string };

const ENDED = new Set(["canceled", "incomplete_expired"]);

/**
 * Cancels the org's Stripe subscription immediately, before the org is deleted (docs/billing.md "Org
 * deletion"). Runs before the D1 deletion; `ok: false` (Stripe unreachable or not configured) aborts the
 * deletion with nothing changed, so an org is never deleted while its subscription keeps billing. A
 * subscription Stripe no longer knows (404) counts as cancelled.
 */
export async function cancelStripeSubscriptionBeforeOrgDeletion(
  cfg: Pick<Config, "STRIPE_SECRET_KEY" | "STRIPE_API_URL">,
  org: Pick<OrgRow, "id" | "stripeSubscriptionId" | "subscriptionStatus">,
): Promise<BillingCancellation> {
  if (!org.stripeSubscriptionId || ENDED.has(org.subscriptionStatus ?? "")) return { ok: true, cancelled: false };
  const stripe = stripeClient(cfg);
  if (!stripe) return { ok: false, reason: "the organization has a Stripe subscription but billing is not configured (STRIPE_SECRET_KEY), so it cannot be cancelled" };
  try {
    await stripe.subscriptions.cancel(org.stripeSubscriptionId);
    return { ok: true, cancelled: true };
  } catch (err) {
    const e = err as { statusCode?: number; code?: string; message?: string };
    if (e.statusCode === 404 || e.code === "resource_missing") return { ok: true, cancelled: false };
    return { ok: false, reason: `Stripe could not cancel the subscription (${e.message ?? "unreachable"}); the organization is intact, try again` };
  }
}
