/**
 * The Worker's Cron Trigger (`[triggers] crons` in wrangler.toml, hourly): housekeeping of the control
 * plane's own tables. Bounded per run (src/db/system.ts); see docs/security.md.
 */
import type { Env } from "./env";
import { pruneExpired } from "./db/system";
import { getDb } from "./db/client";
import { listOrgsWithOverdueDeliveries } from "./db/webhooks";
import { webhookDispatcher } from "./services/webhook-events";
import { getConfig } from "./env";
import { expireGracePeriods } from "./db/billing";
import { pruneExpiredCostEvents } from "./db/retention";
import { graceCutoff } from "./services/billing";
import { refreshGate } from "./durable-objects/org-gate-client";

/** A pending webhook delivery this late means its dispatcher missed a wake-up; the cron wakes it. */
export const WEBHOOK_OVERDUE_MS = 10 * 60_000;

/** Wakes the webhook dispatcher of every org with overdue deliveries; returns how many were woken. */
export async function wakeOverdueWebhooks(env: Env, now = Date.now()): Promise<number> {
  const orgIds = await listOrgsWithOverdueDeliveries(getDb(env.DB), now - WEBHOOK_OVERDUE_MS);
  await Promise.all(orgIds.map((orgId) => webhookDispatcher(env, orgId).kick(orgId).catch(() => undefined)));
  return orgIds.length;
}

/**
 * Prunes expired sessions, email tokens and rate-limit windows, wakes stalled webhook dispatchers, ends
 * failed-payment grace periods and deletes cost events past the plan's retention; logs what it did.
 */
export async function scheduled(_controller: ScheduledController, env: Env, _ctx: ExecutionContext): Promise<void> {
  const pruned = await pruneExpired(env.DB);
  console.log(`housekeeping: pruned ${pruned.sessions} sessions, ${pruned.emailTokens} email tokens, ${pruned.rateLimits} rate-limit windows`);
  const woken = await wakeOverdueWebhooks(env);
  if (woken) console.log(`housekeeping: woke the webhook dispatcher of ${woken} org(s) with overdue deliveries`);
  const expired = await expireGraceOfFailedPayments(env);
  if (expired) console.log(`billing: ${expired} org(s) past their failed-payment grace period moved to the free plan's limits`);
  const retention = await pruneExpiredCostEvents(getDb(env.DB));
  console.log(`retention: deleted ${retention.deleted} cost events past their plan's retention (${retention.orgs} org(s) done, ${retention.statements} statement(s), next from '${retention.cursor}')`);
}

/** Moves orgs whose failed payment outlived the grace period to the free plan and tells their gates. */
export async function expireGraceOfFailedPayments(env: Env, now = Date.now()): Promise<number> {
  const ids = await expireGracePeriods(getDb(env.DB), graceCutoff(getConfig(env), now));
  await Promise.all(ids.map((id) => refreshGate(env, id, ["org"])));
  return ids.length;
}
