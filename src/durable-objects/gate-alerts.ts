/**
 * Budget alert delivery from the OrgGate alarm: after new `budget_events` rows reached D1, email the
 * org's owner/admins (and the org's configured alert addresses) and wake the org's webhook dispatcher.
 * Exactly-once is decided earlier, in the gate's `alerts` table; the webhook deliveries were queued by a
 * D1 trigger in the same write as the events (docs/webhooks.md). This step is best effort and never
 * blocks or fails the flush. The HTML part carries the org's branding (display name, logo, accent colour).
 */
import { getDb } from "../db/client";
import { listAlertRecipients } from "../db/budgets";
import { findOrg } from "../db/orgs";
import { getConfig, type Env } from "../env";
import { formatUsdLabel } from "../lib/usd";
import { sendEmail } from "../services/mailer";
import { webhookDispatcher } from "../services/webhook-events";
import { brandedHtml, escapeHtml, orgBrand, type OrgBrand } from "../services/org-email-branding";
import type { BudgetEventRow } from "./gate-outbox";

function describe(e: BudgetEventRow): { subject: string; text: string } {
  const limit = e.limit_micros === null ? "no limit" : formatUsdLabel(e.limit_micros);
  const spent = formatUsdLabel(e.spent_micros);
  const target = `budget ${e.budget_id}${e.scope_id ? ` (${e.scope_id})` : ""}`;
  switch (e.kind) {
    case "threshold":
      return { subject: `Tollgate: ${e.threshold}% of ${target} used`, text: `Spend reached ${spent} of ${limit} (${e.threshold}% threshold) on ${target}.` };
    case "exceeded":
      return { subject: `Tollgate: ${target} exceeded`, text: `Requests would exceed ${target}: ${spent} spent of ${limit}.` };
    case "velocity_tripped":
      return { subject: `Tollgate: spend velocity breaker tripped on ${target}`, text: `Spend in the velocity window reached ${spent} (limit ${limit}); requests are refused for the cool-down.` };
    case "credits_low": {
      const balance = formatUsdLabel(Math.max(0, (e.limit_micros ?? 0) - e.spent_micros));
      return {
        subject: `Tollgate: prepaid balance low (${balance} left)`,
        text: `The prepaid credit balance fell below ${formatUsdLabel(e.threshold)}: ${balance} left. Requests are refused with 402 once it is empty; top up under Billing.`,
      };
    }
  }
}

function alertEmail(brand: OrgBrand, e: BudgetEventRow): { subject: string; text: string; html: string } {
  const { subject, text } = describe(e);
  return {
    subject: `${subject} (${brand.displayName})`,
    text: `${brand.displayName}: ${text}`,
    html: brandedHtml(brand, `<p><strong>${escapeHtml(subject)}</strong></p><p>${escapeHtml(text)}</p>`),
  };
}

/** Wakes the webhook dispatcher and emails the org's admins about new budget events. Errors are logged, never thrown. */
export async function notifyBudgetEvents(env: Env, orgId: string, events: BudgetEventRow[]): Promise<void> {
  // A lost wake-up only delays delivery: the hourly cron wakes dispatchers with overdue deliveries.
  await webhookDispatcher(env, orgId).kick(orgId).catch((err: unknown) => {
    console.error("webhook dispatcher wake-up failed", err instanceof Error ? err.message : String(err));
  });
  try {
    const db = getDb(env.DB);
    const [recipients, org] = await Promise.all([listAlertRecipients(db, orgId), findOrg(db, orgId)]);
    if (!recipients.length || !org) return;
    const cfg = getConfig(env);
    const brand = orgBrand(org);
    for (const e of events) {
      const email = alertEmail(brand, e);
      for (const to of recipients) await sendEmail(cfg, db, { to, ...email });
    }
  } catch (err) {
    console.error("budget alert email failed", err instanceof Error ? err.message : String(err));
  }
}
