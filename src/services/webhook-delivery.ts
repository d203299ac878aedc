/**
 * Webhook delivery (docs/webhooks.md): runs in the org's `WebhookDispatcher` alarm, never in a request.
 * Each due delivery is claimed (compare-and-set on its attempt count, with a lease), sent once with
 * its signature, and its attempt logged; 2xx succeeds, 429/5xx/network errors are retried on
 * {@link RETRY_DELAYS_MS} (with jitter), anything else gives up. The URL guard runs again at send time.
 */
import { and, eq, lte } from "drizzle-orm";
import { getDb, type Db } from "../db/client";
import { disableIfFailing, listAdminEmails, listDueDeliveries, nextDueAt, recordAttempt, type WebhookDeliveryRow, type WebhookRow } from "../db/webhooks";
import { findOrg } from "../db/orgs";
import { webhookDeliveries } from "../db/schema";
import { getConfig, type Env } from "../env";
import { decryptSecret } from "../lib/crypto";
import { newId } from "../lib/ids";
import { checkUpstreamUrl } from "../lib/upstream-url";
import { signatureHeader } from "../lib/webhook-signature";
import { sendEmail } from "./mailer";
import { brandedHtml, escapeHtml, orgBrand } from "./org-email-branding";
import { slackMessage } from "./slack-alerts";

/**
 * Pause after the 1st, 2nd, … failed attempt: 8 attempts over about 22.6 hours (before jitter).
 * After the last one the delivery is marked failed.
 */
export const RETRY_DELAYS_MS = [60_000, 5 * 60_000, 30 * 60_000, 3_600_000, 3 * 3_600_000, 6 * 3_600_000, 12 * 3_600_000] as const;
/** Attempts per delivery, the first included. */
export const MAX_ATTEMPTS = RETRY_DELAYS_MS.length + 1;
/** Each pause is stretched or shrunk by up to this fraction, so failing endpoints are not hit in lockstep. */
export const RETRY_JITTER = 0.1;
/** Time limit of one attempt. */
export const ATTEMPT_TIMEOUT_MS = 10_000;
/** How long a claimed attempt holds its delivery; a dispatcher that dies mid-attempt frees it after this. */
export const CLAIM_LEASE_MS = 60_000;
/** Characters of the receiver's answer kept in the attempt log. */
export const RESPONSE_EXCERPT_CHARS = 512;
/** An endpoint or Slack channel whose every attempt has failed for this long is disabled (docs/webhooks.md). */
export const DISABLE_AFTER_FAILING_MS = 3 * 24 * 3_600_000;
/** The `disabled_reason` Tollgate records when it disables a failing endpoint. */
export const FAILING_DISABLED_REASON = "every delivery attempt failed for 3 days";
/** Deliveries sent per alarm round (in parallel). */
const ROUND_SIZE = 10;

/** Delay before the attempt after failed attempt number `attempt` (1-based), jittered; null when none is left. */
export function retryDelayMs(attempt: number, random = Math.random()): number | null {
  const base = RETRY_DELAYS_MS[attempt - 1];
  if (base === undefined) return null;
  return Math.round(base * (1 + RETRY_JITTER * (2 * random - 1)));
}

/** Whether an HTTP answer is worth retrying: 429 and 5xx are; other statuses are the receiver's final word. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

async function readExcerpt(res: Response): Promise<string> {
  if (!res.body) return "";
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  try {
    while (text.length < RESPONSE_EXCERPT_CHARS) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return text.slice(0, RESPONSE_EXCERPT_CHARS);
}

type Outcome = { statusCode: number | null; error: string | null; excerpt: string | null; retry: boolean; ok: boolean };

async function send(env: Env, hook: WebhookRow, d: WebhookDeliveryRow): Promise<Outcome> {
  const cfg = getConfig(env);
  if (!hook.enabled) return { statusCode: null, error: "endpoint is disabled", excerpt: null, retry: false, ok: false };
  const check = checkUpstreamUrl(hook.url, cfg.ALLOW_PRIVATE_UPSTREAMS);
  if (!check.ok) return { statusCode: null, error: `url ${check.message}`, excerpt: null, retry: false, ok: false };
  // Slack gets a Block Kit message and no signature headers (Slack ignores them; its URL is the credential).
  const slack = hook.kind === "slack";
  const body = slack ? await slackMessage(getDb(env.DB), cfg.APP_URL, d.payload) : d.payload;
  const headers: Record<string, string> = { "content-type": "application/json", "user-agent": "Tollgate-Webhooks/1" };
  if (!slack) {
    const secret = await decryptSecret(cfg.ENCRYPTION_KEY, hook.secretSealed, hook.id);
    headers["tollgate-event-id"] = d.eventId;
    headers["tollgate-event-type"] = d.eventType;
    headers["tollgate-signature"] = await signatureHeader(secret, Math.floor(Date.now() / 1000), body);
  }
  try {
    const res = await fetch(check.url.toString(), { method: "POST", redirect: "manual", signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS), headers, body });
    const excerpt = await readExcerpt(res).catch(() => "");
    if (res.status >= 200 && res.status < 300) return { statusCode: res.status, error: null, excerpt, retry: false, ok: true };
    if (res.status >= 300 && res.status < 400) return { statusCode: res.status, error: "redirects are not followed", excerpt, retry: false, ok: false };
    return { statusCode: res.status, error: null, excerpt, retry: isRetryableStatus(res.status), ok: false };
  } catch (err) {
    const timedOut = err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError");
    return { statusCode: null, error: timedOut ? `timed out after ${ATTEMPT_TIMEOUT_MS} ms` : `network error: ${err instanceof Error ? err.message : String(err)}`, excerpt: null, retry: true, ok: false };
  }
}

/** Claims the delivery for one attempt; false when another run took it or it is no longer due. */
async function claim(db: Db, d: WebhookDeliveryRow, now: number): Promise<boolean> {
  const res = await db
    .update(webhookDeliveries)
    .set({ attempts: d.attempts + 1, nextAttemptAt: now + CLAIM_LEASE_MS, updatedAt: now })
    .where(and(eq(webhookDeliveries.orgId, d.orgId), eq(webhookDeliveries.id, d.id), eq(webhookDeliveries.status, "pending"), eq(webhookDeliveries.attempts, d.attempts), lte(webhookDeliveries.nextAttemptAt, now)));
  return (res.meta.changes ?? 0) > 0;
}

async function attemptOne(env: Env, db: Db, hook: WebhookRow, d: WebhookDeliveryRow, now: number): Promise<void> {
  if (!(await claim(db, d, now))) return;
  const attempt = d.attempts + 1;
  const started = Date.now();
  let outcome: Outcome;
  try {
    outcome = await send(env, hook, d);
  } catch (err) {
    outcome = { statusCode: null, error: `could not send: ${err instanceof Error ? err.message : String(err)}`, excerpt: null, retry: false, ok: false };
  }
  const at = Date.now();
  const delay = outcome.retry ? retryDelayMs(attempt) : null;
  const status = outcome.ok ? "succeeded" : delay === null ? "failed" : "pending";
  await recordAttempt(
    db, d.orgId, hook.id,
    { id: newId("wha"), orgId: d.orgId, deliveryId: d.id, attempt, statusCode: outcome.statusCode, error: outcome.error, latencyMs: at - started, responseExcerpt: outcome.excerpt, createdAt: at },
    { status, nextAttemptAt: status === "pending" ? now + (delay ?? 0) : null, attempts: attempt, lastStatusCode: outcome.statusCode, at, clock: now },
  );
  if (!outcome.ok && hook.enabled) await disableIfFailingTooLong(env, db, hook, now);
}

/**
 * Disables the endpoint when its failing run reached {@link DISABLE_AFTER_FAILING_MS}, then emails the
 * org's owners and admins. The disable is a compare-and-set, so only the run that flipped it sends the
 * email: one email per disable. A failed email is logged, never retried.
 */
async function disableIfFailingTooLong(env: Env, db: Db, hook: WebhookRow, now: number): Promise<void> {
  const disabled = await disableIfFailing(db, hook.orgId, hook.id, now - DISABLE_AFTER_FAILING_MS, FAILING_DISABLED_REASON, now);
  if (!disabled) return;
  try {
    const [org, recipients] = await Promise.all([findOrg(db, hook.orgId), listAdminEmails(db, hook.orgId)]);
    if (!org) return;
    const cfg = getConfig(env);
    const brand = orgBrand(org);
    const what = disabled.kind === "slack" ? "Slack alert channel" : `webhook endpoint ${disabled.url}`;
    const since = new Date(disabled.failingSince ?? now).toISOString();
    const subject = `Tollgate: ${disabled.kind === "slack" ? "Slack alert channel" : "webhook endpoint"} disabled (${brand.displayName})`;
    const text =
      `${brand.displayName}: the ${what} was disabled because every delivery attempt has failed since ${since}. ` +
      `Its pending deliveries were stopped. ` +
      (disabled.kind === "slack" ? "To re-enable it, save the Slack URL again in the org settings." : "Fix the receiver, then enable the endpoint again in the webhook settings.");
    const html = brandedHtml(brand, `<p><strong>${escapeHtml(subject)}</strong></p><p>${escapeHtml(text)}</p>`);
    for (const to of recipients) await sendEmail(cfg, db, { to, subject, text, html });
  } catch (err) {
    console.error("webhook disable email failed", err instanceof Error ? err.message : String(err));
  }
}

/**
 * Sends every delivery of the org due at `now` (rounds of {@link ROUND_SIZE}) and returns when the next
 * pending one is due (null: none). `now` is a parameter so tests can step through the retry schedule.
 */
export async function deliverDue(env: Env, orgId: string, now: number = Date.now()): Promise<number | null> {
  const db = getDb(env.DB);
  for (let round = 0; round < 50; round++) {
    const due = await listDueDeliveries(db, orgId, now, ROUND_SIZE);
    if (!due.length) break;
    await Promise.all(due.map(({ delivery, webhook }) => attemptOne(env, db, webhook, delivery, now).catch((err: unknown) => {
      console.error("webhook attempt failed to record", err instanceof Error ? err.message : String(err));
    })));
  }
  return nextDueAt(db, orgId);
}
