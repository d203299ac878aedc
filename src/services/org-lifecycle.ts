import type { Env } from "../env";
import type { OrgRow } from "../db/orgs";

/** Outcome of cancelling an org's paid subscription before the org is deleted. */
export type BillingCancellation = { ok: true; cancelled: boolean } | { ok: false; reason: string };

/**
 * HOOK for the billing issue: cancel the org's Stripe subscription before the org is deleted.
 * Runs before the D1 deletion; a refusal (`ok: false`) aborts the deletion with nothing changed,
 * so an org is never deleted while its subscription keeps billing. Until billing lands there is
 * nothing to cancel unless a subscription id was recorded, which cannot happen yet.
 */
export async function cancelStripeSubscriptionBeforeOrgDeletion(_env: Env, org: Pick<OrgRow, "id" | "stripeSubscriptionId">): Promise<BillingCancellation> {
  if (!org.stripeSubscriptionId) return { ok: true, cancelled: false };
  return { ok: false, reason: "Stripe cancellation is not wired yet; cancel the subscription in the billing portal first" };
}
