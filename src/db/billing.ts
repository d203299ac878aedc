/**
 * Billing state of an org (the Stripe columns of `orgs`) and the processed-event table `stripe_events`.
 * Webhook changes are statements for one `db.batch` together with the event-id insert (docs/billing.md).
 */
import { and, eq, isNull, lt, ne, sql } from "drizzle-orm";
import type { Db } from "./client";
import { auditLog, orgs, stripeEvents } from "./schema";
import { newId } from "../lib/ids";

/** Subscription statuses under which the subscribed plan applies (subject to the failed-payment grace). */
export const LIVE_STATUSES = ["active", "trialing", "past_due"] as const;

/** Records the org's Stripe customer unless one is already recorded; answers the one that is. */
export async function claimStripeCustomer(db: Db, orgId: string, customerId: string): Promise<string> {
  await db.update(orgs).set({ stripeCustomerId: customerId }).where(and(eq(orgs.id, orgId), isNull(orgs.stripeCustomerId)));
  const row = await db.select({ c: orgs.stripeCustomerId }).from(orgs).where(eq(orgs.id, orgId)).get();
  return row?.c ?? customerId;
}

/** The org a Stripe object belongs to: by org id from metadata/client_reference_id if it exists, else by customer. */
export async function findOrgIdForStripe(db: Db, ref: { orgId?: string | null; customerId?: string | null }): Promise<string | null> {
  if (ref.orgId) {
    const row = await db.select({ id: orgs.id }).from(orgs).where(eq(orgs.id, ref.orgId)).get();
    if (row) return row.id;
  }
  if (ref.customerId) {
    const row = await db.select({ id: orgs.id }).from(orgs).where(eq(orgs.stripeCustomerId, ref.customerId)).get();
    if (row) return row.id;
  }
  return null;
}

/** True when the event id was already applied. */
export async function stripeEventSeen(db: Db, eventId: string): Promise<boolean> {
  return (await db.select({ id: stripeEvents.id }).from(stripeEvents).where(eq(stripeEvents.id, eventId)).get()) !== undefined;
}

/** The insert that marks an event applied; fails (unique key) on a duplicate, which aborts its whole batch. */
export function insertStripeEvent(db: Db, event: { id: string; type: string; orgId: string | null }) {
  return db.insert(stripeEvents).values({ id: event.id, type: event.type, orgId: event.orgId });
}

/** A subscription's state as Tollgate keeps it. */
export type SubscriptionState = {
  subscriptionId: string;
  customerId: string;
  status: string;
  /** The plan its price pays for (free for an unknown price). */
  planId: string;
  periodStartMs: number | null;
  periodEndMs: number | null;
  cancelAtPeriodEnd: boolean;
  /** Ordering key (docs/billing.md "Ordering"); applied only when greater than the stored one. */
  version: string;
  /** When a failed payment started the grace period, if this state implies one (ms). */
  failedAtMs: number | null;
};

/**
 * The statements applying `s` to the org when it is newer than what is stored, plus an audit row that is
 * written only if it was applied (it reads the version back). `graceCutoffMs`: a payment failed before
 * this means the free plan's limits apply.
 */
export function applySubscriptionStatements(db: Db, orgId: string, s: SubscriptionState, graceCutoffMs: number, eventId: string) {
  const live = (LIVE_STATUSES as readonly string[]).includes(s.status);
  const newer = sql`(${orgs.subscriptionVersion} IS NULL OR ${orgs.subscriptionVersion} < ${s.version})`;
  // `active`/`trialing` end any grace period; `past_due`/`unpaid` start one unless one is running.
  const failedAt = s.status === "active" || s.status === "trialing" ? sql`NULL` : s.failedAtMs !== null ? sql`COALESCE(${orgs.paymentFailedAt}, ${s.failedAtMs})` : sql`${orgs.paymentFailedAt}`;
  const plan = live
    ? sql`CASE WHEN (${failedAt}) IS NULL OR (${failedAt}) >= ${graceCutoffMs} THEN ${s.planId} ELSE 'free' END`
    : sql`'free'`;
  return [
    db
      .update(orgs)
      .set({
        stripeCustomerId: s.customerId,
        stripeSubscriptionId: s.subscriptionId,
        subscriptionStatus: s.status,
        subscriptionPlan: s.planId,
        subscriptionVersion: s.version,
        currentPeriodEnd: s.periodEndMs,
        cancelAtPeriodEnd: s.cancelAtPeriodEnd,
        paymentFailedAt: failedAt,
        plan,
        billingAnchor: live ? s.periodStartMs : null,
        updatedAt: Date.now(),
      })
      .where(and(eq(orgs.id, orgId), newer)),
    db.insert(auditLog).select(
      db
        .select({
          id: sql`${newId("aud")}`.as("id"), orgId: orgs.id, actorType: sql`'system'`.as("actor_type"), actorId: sql`'stripe'`.as("actor_id"),
          actorIp: sql`NULL`.as("actor_ip"), userAgent: sql`NULL`.as("user_agent"), action: sql`'billing.subscription'`.as("action"),
          targetType: sql`'subscription'`.as("target_type"), targetId: sql`${s.subscriptionId}`.as("target_id"), before: sql`NULL`.as("before"),
          after: sql`json_object('event', ${eventId}, 'status', ${orgs.subscriptionStatus}, 'plan', ${orgs.plan}, 'subscription_plan', ${orgs.subscriptionPlan}, 'cancel_at_period_end', ${orgs.cancelAtPeriodEnd})`.as("after"),
          createdAt: sql`CAST(unixepoch('subsec') * 1000 AS INTEGER)`.as("created_at"),
        })
        .from(orgs)
        .where(and(eq(orgs.id, orgId), eq(orgs.subscriptionVersion, s.version), eq(orgs.stripeSubscriptionId, s.subscriptionId))),
    ),
  ] as const;
}

/**
 * Orgs whose failed payment's grace period ended before `cutoffMs` and still have a paid plan: moves
 * them to free (the subscription stays recorded; a later paid invoice restores the plan). Returns their ids.
 */
export async function expireGracePeriods(db: Db, cutoffMs: number): Promise<string[]> {
  const rows = await db
    .update(orgs)
    .set({ plan: "free", updatedAt: Date.now() })
    .where(and(lt(orgs.paymentFailedAt, cutoffMs), ne(orgs.plan, "free")))
    .returning({ id: orgs.id });
  return rows.map((r) => r.id);
}
