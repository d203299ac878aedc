/**
 * Webhook events (docs/webhooks.md): the event types, the stable envelope
 * `{id, type, created_at, org_id, data}`, and the enqueue step. Enqueueing writes one delivery row per
 * subscribed endpoint (idempotent on endpoint + event id) and wakes the org's `WebhookDispatcher`;
 * the HTTP calls happen there, never in the request that emitted the event.
 */
import { getDb, type Db } from "../db/client";
import { enqueueEventStmt, insertDeliveryStmt, listSubscribedWebhooks, type WebhookRow } from "../db/webhooks";
import type { Env } from "../env";
import { newId } from "../lib/ids";

/** Event types an endpoint can subscribe to: only those Tollgate emits today. */
export const WEBHOOK_EVENT_TYPES = [
  "budget.threshold", "budget.exceeded", "velocity.tripped", "credits.low",
  "key.created", "key.revoked", "member.added", "member.removed", "member.role_changed", "invitation.accepted",
  "test.ping",
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** Version of the envelope and of each event's `data`; bumped only for incompatible changes. */
export const WEBHOOK_SCHEMA_VERSION = "2026-12-01";

/** An event before it is wrapped for one org. `id` must be stable for the same fact (it is the dedupe key). */
export type WebhookEvent = { id: string; type: WebhookEventType; createdAt: number; data: Record<string, unknown> };

/** The exact JSON body sent for `event` (every attempt sends these bytes). */
export function envelope(orgId: string, event: WebhookEvent): string {
  return JSON.stringify({
    id: event.id, type: event.type, api_version: WEBHOOK_SCHEMA_VERSION, created_at: new Date(event.createdAt).toISOString(), org_id: orgId, data: event.data,
  });
}

/** The dispatcher stub of an org (one per org, named by the org id). */
export function webhookDispatcher(env: Pick<Env, "WEBHOOK_DISPATCHER">, orgId: string) {
  return env.WEBHOOK_DISPATCHER.get(env.WEBHOOK_DISPATCHER.idFromName(orgId));
}

/** Delivery rows for `events` to `targets` (or every subscribed endpoint), ready for one batch. */
async function deliveryStatements(db: Db, orgId: string, events: WebhookEvent[], targets?: WebhookRow[]) {
  const now = Date.now();
  const stmts = [];
  for (const event of events) {
    const hooks = targets ?? (await listSubscribedWebhooks(db, orgId, event.type));
    const body = envelope(orgId, event);
    for (const h of hooks) {
      stmts.push(insertDeliveryStmt(db, { id: newId("whd"), orgId, webhookId: h.id, eventId: event.id, eventType: event.type, payload: body, nextAttemptAt: now, createdAt: now, updatedAt: now }));
    }
  }
  return stmts;
}

/**
 * Queues `events` for every subscribed endpoint of the org and wakes the dispatcher. Returns how many
 * delivery statements were written (an already-queued event/endpoint pair is ignored by the database).
 * Throws on a D1 failure so callers that must not lose events can retry.
 */
export async function emitWebhookEvents(env: Env, orgId: string, events: WebhookEvent[], targets?: WebhookRow[]): Promise<number> {
  if (!events.length) return 0;
  const db = getDb(env.DB);
  const stmts = await deliveryStatements(db, orgId, events, targets);
  if (!stmts.length) return 0;
  await db.batch(stmts as [ (typeof stmts)[number], ...(typeof stmts)[number][] ]);
  await webhookDispatcher(env, orgId).kick(orgId);
  return stmts.length;
}

/** A `test.ping` event with a fresh id. */
export function testPing(webhookId: string): WebhookEvent {
  return { id: newId("evt"), type: "test.ping", createdAt: Date.now(), data: { webhook_id: webhookId, message: "Test event from Tollgate" } };
}

/**
 * A control-plane event for the org's subscribed endpoints: the statement goes into the route's own
 * `db.batch()` (with the change and its audit row); after the batch, `wake` runs the dispatcher in the
 * background (`waitUntil`), so the response never waits for a delivery.
 */
export function controlPlaneEvent(db: Db, orgId: string, type: WebhookEventType, data: Record<string, unknown>) {
  const event: WebhookEvent = { id: newId("evt"), type, createdAt: Date.now(), data };
  return {
    stmt: enqueueEventStmt(db, orgId, { id: event.id, type, payload: envelope(orgId, event) }, event.createdAt),
    wake: (env: Env, ctx: { waitUntil(p: Promise<unknown>): void }) =>
      ctx.waitUntil(webhookDispatcher(env, orgId).kick(orgId).catch((err: unknown) => console.error("webhook dispatcher wake-up failed", err instanceof Error ? err.message : String(err)))),
  };
}
