/**
 * Outbound webhook endpoints (docs/webhooks.md). Admins and owners manage them; every role reads them
 * and their delivery log. The signing secret (`whsec_…`) is returned only by create and rotate-secret;
 * it is stored AES-GCM sealed, bound to the endpoint id. URLs go through the same guard as provider
 * base URLs (`src/lib/upstream-url.ts`), here and again at every send. The count is a plan limit.
 */
import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../app-env";
import { auditActorOf, auditInsert } from "../db/audit";
import { getDb, type Db } from "../db/client";
import {
  countWebhooks, deleteWebhookStmt, findSlackChannel, findWebhook, insertWebhookWithinLimitStmt, listAttempts, listDeliveries, listWebhooks,
  updateWebhookStmt, WEBHOOK_LIMIT_VIOLATION, type WebhookAttemptRow, type WebhookDeliveryRow, type WebhookRow,
} from "../db/webhooks";
import { ApiError, validationHook } from "../errors";
import { encryptSecret } from "../lib/crypto";
import { newId } from "../lib/ids";
import { decodeCursor, pageQuery } from "../lib/page-cursor";
import { orgRoute } from "../lib/route";
import { errorChainText, isoTime, jsonBody, jsonResponse, orgParams, presentPage } from "../lib/route-io";
import { checkUpstreamUrl } from "../lib/upstream-url";
import { newWebhookSecret } from "../lib/webhook-signature";
import { planOf } from "../plans";
import { planLimitError } from "../services/plan-limits";
import { emitWebhookEvents, testPing, WEBHOOK_EVENT_TYPES, WEBHOOK_SCHEMA_VERSION } from "../services/webhook-events";

/** Event types an endpoint subscribes to (`test.ping` is sent only on request, to one endpoint). */
export const SUBSCRIBABLE_EVENTS = WEBHOOK_EVENT_TYPES.filter((t) => t !== "test.ping") as Exclude<(typeof WEBHOOK_EVENT_TYPES)[number], "test.ping">[];

const webhookParams = orgParams.extend({ id: z.string() });
const url = z.string().max(2048).openapi({ example: "https://hooks.example.com/tollgate" });
const events = z
  .array(z.enum(SUBSCRIBABLE_EVENTS as [string, ...string[]]))
  .min(1)
  .max(SUBSCRIBABLE_EVENTS.length)
  .refine((a) => new Set(a).size === a.length, "must not repeat an event type")
  .openapi({ example: ["budget.threshold", "budget.exceeded"] });
const description = z.string().trim().max(200);

const webhookSchema = z
  .object({
    id: z.string(), url: z.string(), description: z.string().nullable(), events: z.array(z.string()), enabled: z.boolean(),
    disabled_reason: z.string().nullable().openapi({ description: "Why Tollgate disabled the endpoint (null when enabled or disabled by an admin)" }),
    disabled_at: z.string().nullable(),
    failing_since: z.string().nullable().openapi({ description: "Start of the current run of failed attempts; 3 days of it disables the endpoint" }),
    created_at: z.string(), updated_at: z.string(),
  })
  .openapi("Webhook");
const withSecret = webhookSchema.extend({ secret: z.string().openapi({ description: "The signing secret (whsec_…): shown only now" }) });

const attemptSchema = z.object({
  attempt: z.number().int(), status_code: z.number().int().nullable(), error: z.string().nullable(), latency_ms: z.number().int(),
  response_excerpt: z.string().nullable(), created_at: z.string(),
});
const deliverySchema = z
  .object({
    id: z.string(), event_id: z.string(), event_type: z.string(), status: z.enum(["pending", "succeeded", "failed"]), attempts: z.number().int(),
    next_attempt_at: z.string().nullable(), last_status_code: z.number().int().nullable(), payload: z.string(), created_at: z.string(), updated_at: z.string(),
    attempt_log: z.array(attemptSchema),
  })
  .openapi("WebhookDelivery");

const presentWebhook = (w: WebhookRow) => ({
  id: w.id, url: w.url, description: w.description, events: w.events, enabled: w.enabled,
  disabled_reason: w.disabledReason, disabled_at: w.disabledAt === null ? null : isoTime(w.disabledAt),
  failing_since: w.failingSince === null ? null : isoTime(w.failingSince),
  created_at: isoTime(w.createdAt), updated_at: isoTime(w.updatedAt),
});
const webhookAudit = (w: WebhookRow) => ({ url: w.url, description: w.description, events: w.events, enabled: w.enabled });
const presentAttempt = (a: WebhookAttemptRow) => ({
  attempt: a.attempt, status_code: a.statusCode, error: a.error, latency_ms: a.latencyMs, response_excerpt: a.responseExcerpt, created_at: isoTime(a.createdAt),
});
const presentDelivery = (attempts: WebhookAttemptRow[]) => (d: WebhookDeliveryRow) => ({
  id: d.id, event_id: d.eventId, event_type: d.eventType, status: d.status, attempts: d.attempts, next_attempt_at: d.status === "pending" ? isoTime(d.nextAttemptAt) : null,
  last_status_code: d.lastStatusCode, payload: d.payload, created_at: isoTime(d.createdAt), updated_at: isoTime(d.updatedAt),
  attempt_log: attempts.filter((a) => a.deliveryId === d.id).map(presentAttempt),
});

/** The endpoint URL through the outbound-URL guard; a fragment is never sent, so it is refused. */
function checkedUrl(c: Context<AppEnv>, raw: string): string {
  const check = checkUpstreamUrl(raw, c.var.config.ALLOW_PRIVATE_UPSTREAMS);
  if (!check.ok) throw new ApiError("invalid_request", `url: ${check.message}`, { param: "url" });
  if (check.url.hash) throw new ApiError("invalid_request", "url: must not have a fragment", { param: "url" });
  return check.url.toString();
}

async function requireWebhook(db: Db, orgId: string, id: string): Promise<WebhookRow> {
  const w = await findWebhook(db, orgId, id);
  if (!w) throw new ApiError("not_found", "Webhook not found", { param: "id" });
  return w;
}

/** `/orgs/{orgId}/webhooks…` routes. */
export const webhooksRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(
    orgRoute("viewer", {
      method: "get",
      path: "/orgs/{orgId}/webhooks",
      tags: ["webhooks"],
      summary: "List webhook endpoints (the signing secret is never returned)",
      request: { params: orgParams, query: pageQuery },
      responses: { 200: jsonResponse(z.object({ data: z.array(webhookSchema), next_cursor: z.string().nullable() }), "A page of endpoints") },
    }),
    async (c) => {
      const q = c.req.valid("query");
      const rows = await listWebhooks(getDb(c.env.DB), c.var.org.orgId, { cursor: decodeCursor(q.cursor), limit: q.limit });
      return c.json(presentPage(rows, q.limit, presentWebhook), 200);
    },
  )
  .openapi(
    orgRoute("admin", {
      method: "post",
      path: "/orgs/{orgId}/webhooks",
      tags: ["webhooks"],
      summary: "Add a webhook endpoint (the signing secret is returned once)",
      request: { params: orgParams, body: jsonBody(z.object({ url, events, description: description.optional() })) },
      responses: { 201: jsonResponse(withSecret, "The new endpoint and its signing secret") },
    }),
    async (c) => {
      const { orgId, orgPlan } = c.var.org;
      const body = c.req.valid("json");
      const db = getDb(c.env.DB);
      const target = checkedUrl(c, body.url);
      const plan = planOf(orgPlan);
      const limitReached = (used = plan.webhooks ?? 0) => planLimitError(plan, "webhooks", used);
      const webhookCount = plan.webhooks !== null ? await countWebhooks(db, orgId) : 0;
      if (plan.webhooks !== null && webhookCount >= plan.webhooks) throw limitReached(webhookCount);
      const id = newId("whk");
      const secret = newWebhookSecret();
      const now = Date.now();
      const a = c.var.actor!;
      const row: WebhookRow = {
        id, orgId, kind: "endpoint", url: target, description: body.description || null, events: body.events, secretSealed: await encryptSecret(c.var.config.ENCRYPTION_KEY, secret, id),
        enabled: true, failingSince: null, disabledReason: null, disabledAt: null, createdBy: a.type === "user" ? a.userId : a.createdBy, createdAt: now, updatedAt: now,
      };
      await db
        .batch([
          insertWebhookWithinLimitStmt(db, row, plan.webhooks),
          auditInsert(db, orgId, auditActorOf(c), { action: "webhook.create", targetType: "webhook", targetId: id, after: webhookAudit(row) }),
        ])
        .catch((err: unknown) => {
          throw errorChainText(err).includes(WEBHOOK_LIMIT_VIOLATION) ? limitReached() : err;
        });
      return c.json({ ...presentWebhook(row), secret }, 201);
    },
  )
  .openapi(
    orgRoute("viewer", {
      method: "get",
      path: "/orgs/{orgId}/webhooks/{id}",
      tags: ["webhooks"],
      summary: "Get a webhook endpoint",
      request: { params: webhookParams },
      responses: { 200: jsonResponse(webhookSchema, "The endpoint") },
    }),
    async (c) => {
      const w = await requireWebhook(getDb(c.env.DB), c.var.org.orgId, c.req.valid("param").id);
      return c.json(presentWebhook(w), 200);
    },
  )
  .openapi(
    orgRoute("admin", {
      method: "patch",
      path: "/orgs/{orgId}/webhooks/{id}",
      tags: ["webhooks"],
      summary: "Change an endpoint's URL, events, description, or enable/disable it",
      request: {
        params: webhookParams,
        body: jsonBody(z.object({ url: url.optional(), events: events.optional(), description: description.nullable().optional(), enabled: z.boolean().optional() })),
      },
      responses: { 200: jsonResponse(webhookSchema, "The updated endpoint") },
    }),
    async (c) => {
      const { orgId } = c.var.org;
      const body = c.req.valid("json");
      const db = getDb(c.env.DB);
      const w = await requireWebhook(db, orgId, c.req.valid("param").id);
      if (Object.values(body).every((v) => v === undefined)) throw new ApiError("invalid_request", "Nothing to change: send url, events, description or enabled");
      const now = Date.now();
      const patch = {
        ...(body.url !== undefined && { url: checkedUrl(c, body.url) }),
        ...(body.events !== undefined && { events: body.events }),
        ...(body.description !== undefined && { description: body.description || null }),
        ...(body.enabled !== undefined && { enabled: body.enabled }),
        // Enabling a disabled endpoint gives it a fresh start: a new failing run must last 3 days again.
        ...(body.enabled === true && !w.enabled && { failingSince: null, disabledReason: null, disabledAt: null }),
        ...(body.enabled === false && w.enabled && { disabledReason: null, disabledAt: now }),
      };
      const updated: WebhookRow = { ...w, ...patch, updatedAt: now };
      await db.batch([
        updateWebhookStmt(db, orgId, w.id, { ...patch, updatedAt: now }),
        auditInsert(db, orgId, auditActorOf(c), { action: "webhook.update", targetType: "webhook", targetId: w.id, before: webhookAudit(w), after: webhookAudit(updated) }),
      ]);
      return c.json(presentWebhook(updated), 200);
    },
  )
  .openapi(
    orgRoute("admin", {
      method: "delete",
      path: "/orgs/{orgId}/webhooks/{id}",
      tags: ["webhooks"],
      summary: "Delete an endpoint and its delivery log (pending deliveries are dropped)",
      request: { params: webhookParams },
      responses: { 200: jsonResponse(z.object({ id: z.string(), deleted: z.literal(true) }), "Deleted") },
    }),
    async (c) => {
      const { orgId } = c.var.org;
      const db = getDb(c.env.DB);
      const w = await requireWebhook(db, orgId, c.req.valid("param").id);
      await db.batch([
        deleteWebhookStmt(db, orgId, w.id),
        auditInsert(db, orgId, auditActorOf(c), { action: "webhook.delete", targetType: "webhook", targetId: w.id, before: webhookAudit(w) }),
      ]);
      return c.json({ id: w.id, deleted: true as const }, 200);
    },
  )
  .openapi(
    orgRoute("admin", {
      method: "post",
      path: "/orgs/{orgId}/webhooks/{id}/rotate-secret",
      tags: ["webhooks"],
      summary: "Replace the signing secret (the new one is returned once; the old one stops working at once)",
      request: { params: webhookParams },
      responses: { 200: jsonResponse(withSecret, "The endpoint and its new signing secret") },
    }),
    async (c) => {
      const { orgId } = c.var.org;
      const db = getDb(c.env.DB);
      const w = await requireWebhook(db, orgId, c.req.valid("param").id);
      const secret = newWebhookSecret();
      const now = Date.now();
      await db.batch([
        updateWebhookStmt(db, orgId, w.id, { secretSealed: await encryptSecret(c.var.config.ENCRYPTION_KEY, secret, w.id), updatedAt: now }),
        auditInsert(db, orgId, auditActorOf(c), { action: "webhook.rotate_secret", targetType: "webhook", targetId: w.id }),
      ]);
      return c.json({ ...presentWebhook({ ...w, updatedAt: now }), secret }, 200);
    },
  )
  .openapi(
    orgRoute("admin", {
      method: "post",
      path: "/orgs/{orgId}/webhooks/{id}/test",
      tags: ["webhooks"],
      summary: "Queue a test.ping event to this endpoint (delivered like any event; see its delivery log)",
      request: { params: webhookParams },
      responses: { 202: jsonResponse(z.object({ event_id: z.string(), queued: z.literal(true) }), "Queued") },
    }),
    async (c) => {
      const { orgId } = c.var.org;
      const db = getDb(c.env.DB);
      const w = await requireWebhook(db, orgId, c.req.valid("param").id);
      if (!w.enabled) throw new ApiError("conflict", "The endpoint is disabled; enable it first", { param: "id" });
      const event = testPing(w.id);
      await emitWebhookEvents(c.env, orgId, [event], [w]);
      return c.json({ event_id: event.id, queued: true as const }, 202);
    },
  )
  .openapi(
    orgRoute("admin", {
      method: "post",
      path: "/orgs/{orgId}/settings/slack/test",
      tags: ["settings"],
      summary: "Post a test message to the org's Slack webhook (queued and delivered like a budget alert)",
      request: { params: orgParams },
      responses: { 202: jsonResponse(z.object({ event_id: z.string(), queued: z.literal(true) }), "Queued") },
    }),
    async (c) => {
      const { orgId } = c.var.org;
      const slack = await findSlackChannel(getDb(c.env.DB), orgId);
      if (!slack) throw new ApiError("conflict", "No Slack webhook URL is configured; set slack_webhook_url in settings first", { param: "slack_webhook_url" });
      // A disabled channel would drop the test unseen; say why and how to revive it instead of "queued".
      if (!slack.enabled) {
        throw new ApiError("conflict", `The Slack channel is disabled (${slack.disabledReason ?? "disabled"}); save the Slack URL again in settings to re-enable it`, { param: "slack_webhook_url" });
      }
      const event = testPing(slack.id);
      await emitWebhookEvents(c.env, orgId, [event], [slack]);
      return c.json({ event_id: event.id, queued: true as const }, 202);
    },
  )
  .openapi(
    orgRoute("viewer", {
      method: "get",
      path: "/orgs/{orgId}/webhooks/{id}/deliveries",
      tags: ["webhooks"],
      summary: "The endpoint's deliveries, newest first, each with every attempt (status, latency, first bytes of the answer)",
      request: { params: webhookParams, query: pageQuery },
      responses: { 200: jsonResponse(z.object({ data: z.array(deliverySchema), next_cursor: z.string().nullable() }), "A page of deliveries") },
    }),
    async (c) => {
      const { orgId } = c.var.org;
      const q = c.req.valid("query");
      const db = getDb(c.env.DB);
      const w = await requireWebhook(db, orgId, c.req.valid("param").id);
      const rows = await listDeliveries(db, orgId, w.id, { cursor: decodeCursor(q.cursor), limit: q.limit });
      const attempts = await listAttempts(db, orgId, rows.slice(0, q.limit).map((d) => d.id));
      return c.json(presentPage(rows, q.limit, presentDelivery(attempts)), 200);
    },
  );

const budgetEventData = z
  .object({
    budget_id: z.string(), scope: z.enum(["org", "team", "key", "customer", "tag", "member"]).nullable(), scope_id: z.string().nullable(),
    threshold: z.number().int().nullable().openapi({ description: "Percentage for budget.threshold, 100 for budget.exceeded, null for velocity.tripped" }),
    spent_micros: z.number().int(), limit_micros: z.number().int().nullable(), spent_usd: z.string().openapi({ example: "1.600000" }),
    limit_usd: z.string().nullable(), period_start: z.string(),
  })
  .openapi("WebhookBudgetEventData");
const testPingData = z.object({ webhook_id: z.string(), message: z.string() }).openapi("WebhookTestPingData");

/** The envelope of every delivery body (docs/webhooks.md), published in the OpenAPI document's components. */
export const webhookEventSchema = z
  .object({
    id: z.string().openapi({ description: "Event id, also sent as Tollgate-Event-Id; the same for every retry and every endpoint" }),
    type: z.enum(WEBHOOK_EVENT_TYPES),
    api_version: z.literal(WEBHOOK_SCHEMA_VERSION),
    created_at: z.string(),
    org_id: z.string(),
    data: z.union([budgetEventData, testPingData]),
  })
  .openapi("WebhookEvent", {
    description: "Body of every webhook delivery. Signed: Tollgate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of `${t}.${body}` keyed with the endpoint's whsec_ secret>.",
  });
webhooksRoutes.openAPIRegistry.register("WebhookEvent", webhookEventSchema);
