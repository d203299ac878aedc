/**
 * Org-scoped queries for outbound webhooks (docs/webhooks.md): endpoints, their deliveries (one per
 * endpoint and event) and each delivery's attempts. Every statement filters by `org_id`.
 */
import { and, asc, count, desc, eq, inArray, lt, lte, or, sql } from "drizzle-orm";
import type { PagePosition } from "../lib/page-cursor";
import type { Db } from "./client";
import { auditLog, memberships, users, webhookAttempts, webhookDeliveries, webhooks } from "./schema";
import { newId } from "../lib/ids";

export type WebhookRow = typeof webhooks.$inferSelect;
export type WebhookDeliveryRow = typeof webhookDeliveries.$inferSelect;
export type WebhookAttemptRow = typeof webhookAttempts.$inferSelect;

/** One page of the org's endpoints, newest first (`limit + 1` rows). */
export async function listWebhooks(db: Db, orgId: string, page: { cursor?: PagePosition; limit: number }): Promise<WebhookRow[]> {
  const after = page.cursor
    ? or(lt(webhooks.createdAt, page.cursor.at), and(eq(webhooks.createdAt, page.cursor.at), lt(webhooks.id, page.cursor.id)))
    : undefined;
  return db.select().from(webhooks).where(and(eq(webhooks.orgId, orgId), eq(webhooks.kind, "endpoint"), after)).orderBy(desc(webhooks.createdAt), desc(webhooks.id)).limit(page.limit + 1);
}

/** The endpoint (kind `endpoint`), or undefined when it does not exist in this org. */
export async function findWebhook(db: Db, orgId: string, id: string): Promise<WebhookRow | undefined> {
  const rows = await db.select().from(webhooks).where(and(eq(webhooks.orgId, orgId), eq(webhooks.kind, "endpoint"), eq(webhooks.id, id))).limit(1);
  return rows[0];
}

/** The org's Slack channel row, if a Slack URL is configured. */
export async function findSlackChannel(db: Db, orgId: string): Promise<WebhookRow | undefined> {
  const rows = await db.select().from(webhooks).where(and(eq(webhooks.orgId, orgId), eq(webhooks.kind, "slack"))).limit(1);
  return rows[0];
}

/** Budget alert types the Slack channel receives (`credits.low`: the prepaid balance fell below its threshold). */
export const SLACK_EVENTS = ["budget.threshold", "budget.exceeded", "velocity.tripped", "credits.low"];

/**
 * Statements that make the org's Slack channel match `url` (null: none): the old row goes (with its
 * pending deliveries: they were for the old URL), a new one is inserted. Put them in the settings batch.
 */
export function replaceSlackChannelStmts(db: Db, orgId: string, url: string | null, row: { id: string; createdBy: string; at: number }) {
  const del = db.delete(webhooks).where(and(eq(webhooks.orgId, orgId), eq(webhooks.kind, "slack")));
  if (url === null) return [del];
  return [
    del,
    db.insert(webhooks).values({
      id: row.id, orgId, kind: "slack", url, description: "Slack alerts", events: SLACK_EVENTS, secretSealed: "", enabled: true, createdBy: row.createdBy,
      createdAt: row.at, updatedAt: row.at,
    }),
  ];
}

/** Enabled endpoints of the org subscribed to `eventType`. */
export async function listSubscribedWebhooks(db: Db, orgId: string, eventType: string): Promise<WebhookRow[]> {
  return db
    .select()
    .from(webhooks)
    .where(and(eq(webhooks.orgId, orgId), eq(webhooks.enabled, true), sql`EXISTS (SELECT 1 FROM json_each(${webhooks.events}) WHERE value = ${eventType})`));
}

/** How many endpoints the org has (the plan limits the count). */
export async function countWebhooks(db: Db, orgId: string): Promise<number> {
  const rows = await db.select({ n: count() }).from(webhooks).where(and(eq(webhooks.orgId, orgId), eq(webhooks.kind, "endpoint")));
  return rows[0]?.n ?? 0;
}

/** The error message by which a batch built with {@link insertWebhookWithinLimitStmt} reports the limit. */
export const WEBHOOK_LIMIT_VIOLATION = "NOT NULL constraint failed: webhooks.id";

/**
 * Insert of a new endpoint that fails (NOT NULL on `id`, aborting the batch) when the org already has
 * `limit` endpoints: count and insert in one statement, so concurrent creations cannot overshoot.
 */
export function insertWebhookWithinLimitStmt(db: Db, row: typeof webhooks.$inferInsert, limit: number | null) {
  if (limit === null) return db.insert(webhooks).values(row);
  const guardedId = sql<string>`CASE WHEN (SELECT COUNT(*) FROM webhooks WHERE org_id = ${row.orgId} AND kind = 'endpoint') < ${limit} THEN ${row.id} ELSE NULL END`;
  return db.insert(webhooks).values({ ...row, id: guardedId });
}

/** Update of an endpoint's editable fields (or its sealed secret). */
export function updateWebhookStmt(
  db: Db,
  orgId: string,
  id: string,
  patch: Partial<Pick<WebhookRow, "url" | "description" | "events" | "enabled" | "secretSealed" | "failingSince" | "disabledReason" | "disabledAt">> & { updatedAt: number },
) {
  return db.update(webhooks).set(patch).where(and(eq(webhooks.orgId, orgId), eq(webhooks.kind, "endpoint"), eq(webhooks.id, id)));
}

/** Delete of one endpoint (its deliveries and attempts go with it). */
export function deleteWebhookStmt(db: Db, orgId: string, id: string) {
  return db.delete(webhooks).where(and(eq(webhooks.orgId, orgId), eq(webhooks.kind, "endpoint"), eq(webhooks.id, id)));
}

/** Idempotent enqueue: a second row for the same endpoint and event id is ignored. */
export function insertDeliveryStmt(db: Db, row: typeof webhookDeliveries.$inferInsert) {
  return db.insert(webhookDeliveries).values(row).onConflictDoNothing({ target: [webhookDeliveries.webhookId, webhookDeliveries.eventId] });
}

/** One page of an endpoint's deliveries, newest first (`limit + 1` rows). */
export async function listDeliveries(db: Db, orgId: string, webhookId: string, page: { cursor?: PagePosition; limit: number }): Promise<WebhookDeliveryRow[]> {
  const d = webhookDeliveries;
  const after = page.cursor ? or(lt(d.createdAt, page.cursor.at), and(eq(d.createdAt, page.cursor.at), lt(d.id, page.cursor.id))) : undefined;
  return db.select().from(d).where(and(eq(d.orgId, orgId), eq(d.webhookId, webhookId), after)).orderBy(desc(d.createdAt), desc(d.id)).limit(page.limit + 1);
}

/** The attempts of the given deliveries, oldest first. */
export async function listAttempts(db: Db, orgId: string, deliveryIds: string[]): Promise<WebhookAttemptRow[]> {
  if (!deliveryIds.length) return [];
  return db
    .select()
    .from(webhookAttempts)
    .where(and(eq(webhookAttempts.orgId, orgId), inArray(webhookAttempts.deliveryId, deliveryIds)))
    .orderBy(asc(webhookAttempts.deliveryId), asc(webhookAttempts.attempt));
}

/** Pending deliveries of the org due at `now`, with their endpoint, oldest first. */
export async function listDueDeliveries(db: Db, orgId: string, now: number, limit: number) {
  return db
    .select({ delivery: webhookDeliveries, webhook: webhooks })
    .from(webhookDeliveries)
    .innerJoin(webhooks, eq(webhooks.id, webhookDeliveries.webhookId))
    .where(and(eq(webhookDeliveries.orgId, orgId), eq(webhookDeliveries.status, "pending"), lte(webhookDeliveries.nextAttemptAt, now)))
    .orderBy(asc(webhookDeliveries.nextAttemptAt))
    .limit(limit);
}

/** When the org's next pending delivery is due, or null when none is pending. */
export async function nextDueAt(db: Db, orgId: string): Promise<number | null> {
  const rows = await db
    .select({ at: sql<number | null>`MIN(${webhookDeliveries.nextAttemptAt})` })
    .from(webhookDeliveries)
    .where(and(eq(webhookDeliveries.orgId, orgId), eq(webhookDeliveries.status, "pending")));
  return rows[0]?.at ?? null;
}

/** Records one attempt, the delivery's new state and the endpoint's failing run, in one batch. */
export async function recordAttempt(
  db: Db,
  orgId: string,
  webhookId: string,
  attempt: typeof webhookAttempts.$inferInsert,
  state: { status: WebhookDeliveryRow["status"]; nextAttemptAt: number | null; attempts: number; lastStatusCode: number | null; at: number; clock?: number },
): Promise<void> {
  await db.batch([
    db.insert(webhookAttempts).values(attempt),
    // Any success ends the endpoint's failing run; a failure starts one unless one is running (docs/webhooks.md).
    db
      .update(webhooks)
      .set({ failingSince: state.status === "succeeded" ? null : sql`COALESCE(${webhooks.failingSince}, ${state.clock ?? state.at})` })
      .where(and(eq(webhooks.orgId, orgId), eq(webhooks.id, webhookId))),
    db
      .update(webhookDeliveries)
      .set({ status: state.status, nextAttemptAt: state.nextAttemptAt, attempts: state.attempts, lastStatusCode: state.lastStatusCode, updatedAt: state.at })
      .where(and(eq(webhookDeliveries.orgId, orgId), eq(webhookDeliveries.id, attempt.deliveryId))),
  ]);
}

/**
 * Orgs with a pending delivery overdue since before `before` (a dispatcher whose wake-up or alarm was
 * lost). Not org-scoped on purpose: the hourly cron uses it to wake each org's dispatcher.
 */
export async function listOrgsWithOverdueDeliveries(db: Db, before: number, limit = 500): Promise<string[]> {
  const rows = await db
    .selectDistinct({ orgId: webhookDeliveries.orgId })
    .from(webhookDeliveries)
    .where(and(eq(webhookDeliveries.status, "pending"), lt(webhookDeliveries.nextAttemptAt, before)))
    .limit(limit);
  return rows.map((r) => r.orgId);
}

/**
 * One statement that queues `event` (an already-built envelope) for every enabled endpoint of the org
 * subscribed to its type. Put it in the same `db.batch()` as the change it reports, so the event exists
 * exactly when the change does. Slack channels receive budget alerts only, so they are not selected.
 */
export function enqueueEventStmt(db: Db, orgId: string, event: { id: string; type: string; payload: string }, now = Date.now()) {
  const w = webhooks;
  return db
    .insert(webhookDeliveries)
    .select(
      db
        .select({
          id: sql<string>`'whd_' || lower(hex(randomblob(8)))`.as("id"),
          orgId: w.orgId,
          webhookId: sql<string>`${w.id}`.as("webhook_id"),
          eventId: sql<string>`${event.id}`.as("event_id"),
          eventType: sql<string>`${event.type}`.as("event_type"),
          payload: sql<string>`${event.payload}`.as("payload"),
          status: sql<"pending">`'pending'`.as("status"),
          attempts: sql<number>`0`.as("attempts"),
          nextAttemptAt: sql<number>`${now}`.as("next_attempt_at"),
          lastStatusCode: sql<number | null>`NULL`.as("last_status_code"),
          createdAt: sql<number>`${now}`.as("created_at"),
          updatedAt: sql<number>`${now}`.as("updated_at"),
        })
        .from(w)
        .where(and(eq(w.orgId, orgId), eq(w.enabled, true), eq(w.kind, "endpoint"), sql`EXISTS (SELECT 1 FROM json_each(${w.events}) WHERE json_each.value = ${event.type})`)),
    )
    .onConflictDoNothing();
}

/** Emails of the org's owners and admins. */
export async function listAdminEmails(db: Db, orgId: string): Promise<string[]> {
  const rows = await db.select({ email: users.email }).from(memberships).innerJoin(users, eq(users.id, memberships.userId))
    .where(and(eq(memberships.orgId, orgId), inArray(memberships.role, ["owner", "admin"])));
  return [...new Set(rows.map((r) => r.email))];
}

/**
 * Disables the endpoint (or Slack channel) when it is still enabled and has been failing since at or
 * before `failingBefore`: its pending deliveries are marked failed, a `webhook.auto_disable` audit row is
 * written and the row gets `enabled = false`, `disabled_reason`, `disabled_at`, all in one batch. Every
 * statement carries the same condition, so of concurrent callers exactly one disables it: the returned
 * row, or undefined when nothing changed.
 */
export async function disableIfFailing(db: Db, orgId: string, webhookId: string, failingBefore: number, reason: string, now: number): Promise<WebhookRow | undefined> {
  const w = webhooks;
  const due = sql`EXISTS (SELECT 1 FROM ${w} WHERE ${w.orgId} = ${orgId} AND ${w.id} = ${webhookId} AND ${w.enabled} = 1 AND ${w.failingSince} <= ${failingBefore})`;
  const after = JSON.stringify({ enabled: false, disabled_reason: reason });
  const [, , updated] = await db.batch([
    db.update(webhookDeliveries).set({ status: "failed", nextAttemptAt: null, updatedAt: now })
      .where(and(eq(webhookDeliveries.orgId, orgId), eq(webhookDeliveries.webhookId, webhookId), eq(webhookDeliveries.status, "pending"), due)),
    db.insert(auditLog).select(
      db.select({
        id: sql<string>`${newId("aud")}`.as("id"),
        orgId: sql<string>`${orgId}`.as("org_id"),
        actorType: sql<"system">`'system'`.as("actor_type"),
        actorId: sql<string>`'webhook-dispatcher'`.as("actor_id"),
        actorIp: sql<null>`NULL`.as("actor_ip"),
        userAgent: sql<null>`NULL`.as("user_agent"),
        action: sql<string>`'webhook.auto_disable'`.as("action"),
        targetType: sql<string>`'webhook'`.as("target_type"),
        targetId: sql<string>`${webhookId}`.as("target_id"),
        before: sql<string>`json_object('enabled', json('true'), 'failing_since', ${w.failingSince})`.as("before"),
        after: sql<string>`${after}`.as("after"),
        createdAt: sql<number>`${now}`.as("created_at"),
      }).from(w).where(and(eq(w.orgId, orgId), eq(w.id, webhookId), eq(w.enabled, true), lte(w.failingSince, failingBefore))),
    ),
    db.update(w).set({ enabled: false, disabledReason: reason, disabledAt: now, updatedAt: now })
      .where(and(eq(w.orgId, orgId), eq(w.id, webhookId), eq(w.enabled, true), lte(w.failingSince, failingBefore)))
      .returning(),
  ]);
  return updated[0];
}
