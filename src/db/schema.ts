/**
 * D1 schema: the system of record. Times are integer milliseconds since the epoch (UTC);
 * money is integer micro-dollars. Every org-owned table has `org_id` and is reached only through
 * the org-scoped query functions in this folder. Layout and invariants: docs/storage.md.
 */
import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export type Role = "owner" | "admin" | "member" | "viewer";
export const ROLES = ["viewer", "member", "admin", "owner"] as const;

const now = sql`(CAST(unixepoch('subsec') * 1000 AS INTEGER))`;

// ───────────── identity (not org-owned) ─────────────

export const users = sqliteTable("users", {
  id: text("id").primaryKey(),
  email: text("email").notNull(),
  name: text("name").notNull(),
  passwordHash: text("password_hash").notNull(),
  passwordSalt: text("password_salt").notNull(),
  passwordIterations: integer("password_iterations").notNull(),
  emailVerifiedAt: integer("email_verified_at"),
  createdAt: integer("created_at").notNull().default(now),
  updatedAt: integer("updated_at").notNull().default(now),
}, (t) => [uniqueIndex("users_email_uq").on(t.email)]);

export const sessions = sqliteTable("sessions", {
  id: text("id").primaryKey(),
  userId: text("user_id").notNull().references(() => users.id, { onDelete: "cascade" }),
  createdAt: integer("created_at").notNull().default(now),
  expiresAt: integer("expires_at").notNull(),
  revokedAt: integer("revoked_at"),
  ip: text("ip"),
  userAgent: text("user_agent"),
}, (t) => [index("sessions_user_idx").on(t.userId)]);

/** Single-use email tokens: `verify_email` and `reset_password`. Only the SHA-256 is stored. */
export const emailTokens = sqliteTable("email_tokens", {
  id: text("id").primaryKey(),
  userId: text("user_id").notNull().references(() => users.id, { onDelete: "cascade" }),
  purpose: text("purpose", { enum: ["verify_email", "reset_password"] }).notNull(),
  tokenHash: text("token_hash").notNull(),
  expiresAt: integer("expires_at").notNull(),
  usedAt: integer("used_at"),
  createdAt: integer("created_at").notNull().default(now),
}, (t) => [uniqueIndex("email_tokens_hash_uq").on(t.tokenHash)]);

/** Fixed-window counters for login / invitation-accept rate limiting. */
export const rateLimits = sqliteTable("rate_limits", {
  bucket: text("bucket").notNull(),
  windowStart: integer("window_start").notNull(),
  count: integer("count").notNull().default(0),
}, (t) => [primaryKey({ columns: [t.bucket, t.windowStart] })]);

/** Deployment-wide settings the database itself must know (e.g. `org_mode` for the single-org trigger). */
export const systemSettings = sqliteTable("system_settings", {
  key: text("key").primaryKey(),
  value: text("value").notNull(),
});

/** Emails not sent through SendGrid (no API key configured): the local outbox. */
export const emailOutbox = sqliteTable("email_outbox", {
  id: text("id").primaryKey(),
  toAddress: text("to_address").notNull(),
  subject: text("subject").notNull(),
  text: text("text").notNull(),
  html: text("html"),
  transport: text("transport", { enum: ["outbox", "sendgrid"] }).notNull(),
  status: text("status", { enum: ["stored", "sent", "failed"] }).notNull(),
  error: text("error"),
  createdAt: integer("created_at").notNull().default(now),
});

// ───────────── organizations ─────────────

export type OrgSettings = {
  /** Shown in the dashboard shell and in invitation and budget-alert emails. */
  branding?: { display_name?: string | null; logo_url?: string | null; accent_color?: string | null };
  /** `store_request_metadata: false` keeps customer ids, tags and trace ids out of D1 `cost_events` (default true). */
  data_policy?: { store_request_metadata?: boolean };
  invitation_expiry_days?: number;
  slack_webhook_url?: string | null;
  alert_emails?: string[];
  /** `lease`: isolates admit against leased headroom, changes apply within 1 s; default `strict` (docs/budgets.md "Leases"). */
  admission?: "strict" | "lease";
};

export const orgs = sqliteTable("orgs", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  slug: text("slug").notNull(),
  kind: text("kind", { enum: ["personal", "team"] }).notNull(),
  plan: text("plan").notNull().default("free"),
  settings: text("settings", { mode: "json" }).$type<OrgSettings>().notNull().default(sql`'{}'`),
  /** Start of the current billing period (ms); monthly budgets align to it when set. */
  billingAnchor: integer("billing_anchor"),
  stripeCustomerId: text("stripe_customer_id"),
  stripeSubscriptionId: text("stripe_subscription_id"),
  /** Stripe subscription status as last applied (`active`, `past_due`, `canceled`, …); null without one. */
  subscriptionStatus: text("subscription_status"),
  /** The plan the subscription pays for; `plan` is the effective one (free after a failed payment's grace). */
  subscriptionPlan: text("subscription_plan"),
  /** Ordering key of the last applied subscription state (docs/billing.md "Ordering"); compared as text. */
  subscriptionVersion: text("subscription_version"),
  /** End of the paid period (ms). */
  currentPeriodEnd: integer("current_period_end"),
  cancelAtPeriodEnd: integer("cancel_at_period_end", { mode: "boolean" }).notNull().default(false),
  /** First failed invoice since the last paid one (ms); the grace period runs from here. */
  paymentFailedAt: integer("payment_failed_at"),
  createdBy: text("created_by").notNull(),
  createdAt: integer("created_at").notNull().default(now),
  updatedAt: integer("updated_at").notNull().default(now),
}, (t) => [uniqueIndex("orgs_slug_uq").on(t.slug)]);

export const memberships = sqliteTable("memberships", {
  orgId: text("org_id").notNull().references(() => orgs.id, { onDelete: "cascade" }),
  userId: text("user_id").notNull().references(() => users.id, { onDelete: "cascade" }),
  role: text("role", { enum: ROLES }).notNull(),
  createdAt: integer("created_at").notNull().default(now),
}, (t) => [
  primaryKey({ columns: [t.orgId, t.userId] }),
  index("memberships_user_idx").on(t.userId),
  // Exactly one owner per org: at most one here, at least one by the transfer/leave rules.
  uniqueIndex("memberships_one_owner_uq").on(t.orgId).where(sql`role = 'owner'`),
]);

export const teams = sqliteTable("teams", {
  id: text("id").primaryKey(),
  orgId: text("org_id").notNull().references(() => orgs.id, { onDelete: "cascade" }),
  name: text("name").notNull(),
  description: text("description"),
  /** When true, members of the team may create budgets on it (team scope and its default member budget). */
  membersManageBudgets: integer("members_manage_budgets", { mode: "boolean" }).notNull().default(false),
  createdAt: integer("created_at").notNull().default(now),
  updatedAt: integer("updated_at").notNull().default(now),
}, (t) => [uniqueIndex("teams_org_name_uq").on(t.orgId, t.name)]);

export const teamMembers = sqliteTable("team_members", {
  orgId: text("org_id").notNull().references(() => orgs.id, { onDelete: "cascade" }),
  teamId: text("team_id").notNull().references(() => teams.id, { onDelete: "cascade" }),
  userId: text("user_id").notNull().references(() => users.id, { onDelete: "cascade" }),
  createdAt: integer("created_at").notNull().default(now),
}, (t) => [primaryKey({ columns: [t.teamId, t.userId] }), index("team_members_org_user_idx").on(t.orgId, t.userId)]);

export const invitations = sqliteTable("invitations", {
  id: text("id").primaryKey(),
  orgId: text("org_id").notNull().references(() => orgs.id, { onDelete: "cascade" }),
  email: text("email").notNull(),
  role: text("role", { enum: ["admin", "member", "viewer"] }).notNull(),
  teamIds: text("team_ids", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
  tokenHash: text("token_hash").notNull(),
  invitedBy: text("invited_by").notNull(),
  expiresAt: integer("expires_at").notNull(),
  acceptedAt: integer("accepted_at"),
  acceptedBy: text("accepted_by"),
  revokedAt: integer("revoked_at"),
  sendCount: integer("send_count").notNull().default(1),
  lastSentAt: integer("last_sent_at").notNull().default(now),
  createdAt: integer("created_at").notNull().default(now),
}, (t) => [uniqueIndex("invitations_token_uq").on(t.tokenHash), index("invitations_org_idx").on(t.orgId, t.email)]);

// ───────────── credentials ─────────────

/** Virtual keys (`sk-tg-…`). Only the SHA-256 of the full key is stored. */
export const apiKeys = sqliteTable("api_keys", {
  id: text("id").primaryKey(),
  orgId: text("org_id").notNull().references(() => orgs.id, { onDelete: "cascade" }),
  teamId: text("team_id"),
  createdBy: text("created_by").notNull(),
  name: text("name").notNull(),
  /** Non-secret display prefix, e.g. `sk-tg-…a1B2`. */
  hint: text("hint").notNull(),
  keyHash: text("key_hash").notNull(),
  allowedModels: text("allowed_models", { mode: "json" }).$type<string[] | null>(),
  rpm: integer("rpm"),
  tpm: integer("tpm"),
  expiresAt: integer("expires_at"),
  revokedAt: integer("revoked_at"),
  revokedBy: text("revoked_by"),
  /** Bring your own provider key (docs/proxy.md#byok): `off`, `allowed` or `required`. */
  byok: text("byok", { enum: ["off", "allowed", "required"] }).notNull().default("off"),
  createdAt: integer("created_at").notNull().default(now),
  updatedAt: integer("updated_at").notNull().default(now),
}, (t) => [index("api_keys_org_idx").on(t.orgId, t.createdAt), uniqueIndex("api_keys_hash_uq").on(t.keyHash)]);

/**
 * Org management tokens (`tgm_…`) for automation against `/api`. Role-capped by their creator.
 * `createdBy` is the direct creator (a user or another token); `rootUserId` is the human at the root of
 * that chain, whose current role caps the token at every use (NULL only for rows the backfill could not trace).
 */
export const managementTokens = sqliteTable("management_tokens", {
  id: text("id").primaryKey(),
  orgId: text("org_id").notNull().references(() => orgs.id, { onDelete: "cascade" }),
  createdBy: text("created_by").notNull(),
  rootUserId: text("root_user_id"),
  name: text("name").notNull(),
  role: text("role", { enum: ["admin", "member", "viewer"] }).notNull(),
  tokenHash: text("token_hash").notNull(),
  hint: text("hint").notNull(),
  expiresAt: integer("expires_at"),
  revokedAt: integer("revoked_at"),
  lastUsedAt: integer("last_used_at"),
  createdAt: integer("created_at").notNull().default(now),
}, (t) => [
  uniqueIndex("management_tokens_hash_uq").on(t.tokenHash),
  index("management_tokens_org_idx").on(t.orgId),
  index("management_tokens_root_idx").on(t.orgId, t.rootUserId),
]);

/** Upstream provider connections; the API key is AES-GCM sealed (never returned). */
export const providers = sqliteTable("providers", {
  id: text("id").primaryKey(),
  orgId: text("org_id").notNull().references(() => orgs.id, { onDelete: "cascade" }),
  name: text("name").notNull(),
  type: text("type", { enum: ["openai", "anthropic", "openai_compatible", "gemini"] }).notNull(),
  baseUrl: text("base_url").notNull(),
  apiKeySealed: text("api_key_sealed").notNull(),
  apiKeyHint: text("api_key_hint").notNull(),
  isDefault: integer("is_default", { mode: "boolean" }).notNull().default(false),
  createdAt: integer("created_at").notNull().default(now),
  updatedAt: integer("updated_at").notNull().default(now),
}, (t) => [uniqueIndex("providers_org_name_uq").on(t.orgId, t.name)]);

/**
 * Model aliases with fallbacks (docs/providers.md#fallbacks): `model: "<name>"` tries `targets`
 * (JSON array of `provider-name/model`, in order) on provider 429/5xx/timeout before any output.
 */
export const modelAliases = sqliteTable("model_aliases", {
  id: text("id").primaryKey(),
  orgId: text("org_id").notNull().references(() => orgs.id, { onDelete: "cascade" }),
  name: text("name").notNull(),
  targets: text("targets").notNull(),
  createdAt: integer("created_at").notNull().default(now),
  updatedAt: integer("updated_at").notNull().default(now),
}, (t) => [uniqueIndex("model_aliases_org_name_uq").on(t.orgId, t.name)]);

/**
 * Prompt templates (docs/prompts.md): a named prompt of the org with immutable numbered versions and
 * labels (`production`, `staging`…) that point at one version each. `updated_at` moves on every change
 * (new version, label move), which the gate's reconciliation fingerprint reads.
 */
export const prompts = sqliteTable("prompts", {
  id: text("id").primaryKey(),
  orgId: text("org_id").notNull().references(() => orgs.id, { onDelete: "cascade" }),
  name: text("name").notNull(),
  description: text("description").notNull().default(""),
  createdBy: text("created_by").notNull(),
  createdAt: integer("created_at").notNull().default(now),
  updatedAt: integer("updated_at").notNull().default(now),
}, (t) => [uniqueIndex("prompts_org_name_uq").on(t.orgId, t.name)]);

/** One immutable version: `messages` JSON `[{role, content}]` with `{{name}}` placeholders, `variables` JSON `[{name, type, required}]`. */
export const promptVersions = sqliteTable("prompt_versions", {
  orgId: text("org_id").notNull().references(() => orgs.id, { onDelete: "cascade" }),
  promptId: text("prompt_id").notNull().references(() => prompts.id, { onDelete: "cascade" }),
  version: integer("version").notNull(),
  messages: text("messages").notNull(),
  variables: text("variables").notNull(),
  createdBy: text("created_by").notNull(),
  createdAt: integer("created_at").notNull().default(now),
}, (t) => [primaryKey({ columns: [t.promptId, t.version] }), index("prompt_versions_org_idx").on(t.orgId)]);

/** A label of a prompt and the version it points at (moved by `PUT …/labels/:label`). */
export const promptLabels = sqliteTable("prompt_labels", {
  orgId: text("org_id").notNull().references(() => orgs.id, { onDelete: "cascade" }),
  promptId: text("prompt_id").notNull().references(() => prompts.id, { onDelete: "cascade" }),
  label: text("label").notNull(),
  version: integer("version").notNull(),
  updatedAt: integer("updated_at").notNull().default(now),
}, (t) => [primaryKey({ columns: [t.promptId, t.label] }), index("prompt_labels_org_idx").on(t.orgId)]);

/**
 * Guardrails (docs/guardrails.md): PII detection, blocked patterns and model/parameter policy, scoped
 * to the org, a team or a key. `config` is the kind's JSON settings; evaluation order is `position`,
 * then scope (org, team, key), then id.
 */
export const guardrails = sqliteTable("guardrails", {
  id: text("id").primaryKey(),
  orgId: text("org_id").notNull().references(() => orgs.id, { onDelete: "cascade" }),
  name: text("name").notNull(),
  kind: text("kind", { enum: ["pii", "pattern", "policy"] }).notNull(),
  action: text("action", { enum: ["redact", "block", "flag"] }).notNull(),
  scope: text("scope", { enum: ["org", "team", "key"] }).notNull(),
  /** Team or key id; null for org scope. */
  scopeId: text("scope_id"),
  position: integer("position").notNull().default(0),
  enabled: integer("enabled", { mode: "boolean" }).notNull().default(true),
  config: text("config").notNull(),
  createdBy: text("created_by").notNull(),
  createdAt: integer("created_at").notNull().default(now),
  updatedAt: integer("updated_at").notNull().default(now),
}, (t) => [index("guardrails_org_idx").on(t.orgId, t.position)]);

// ───────────── money ─────────────

/** Org price overrides, micro-dollars per million tokens. */
export const pricingOverrides = sqliteTable("pricing_overrides", {
  orgId: text("org_id").notNull().references(() => orgs.id, { onDelete: "cascade" }),
  model: text("model").notNull(),
  inputPerMtok: integer("input_per_mtok").notNull(),
  cachedInputPerMtok: integer("cached_input_per_mtok"),
  cacheWritePerMtok: integer("cache_write_per_mtok"),
  /** Anthropic 1-hour cache writes (defaults to 2× input when null for Anthropic-style prices). */
  cacheWrite1hPerMtok: integer("cache_write_1h_per_mtok"),
  outputPerMtok: integer("output_per_mtok").notNull(),
  maxOutputTokens: integer("max_output_tokens"),
  updatedAt: integer("updated_at").notNull().default(now),
}, (t) => [primaryKey({ columns: [t.orgId, t.model] })]);

export const budgets = sqliteTable("budgets", {
  id: text("id").primaryKey(),
  orgId: text("org_id").notNull().references(() => orgs.id, { onDelete: "cascade" }),
  scope: text("scope", { enum: ["org", "team", "key", "customer", "tag", "member"] }).notNull(),
  /**
   * Target of the scope; null for org scope, the default customer budget and a team's default member
   * budget. Tags: `name=value`; member: the user id.
   */
  scopeId: text("scope_id"),
  /** Only for a team's default member budget (scope `member`, no scope id): the team whose members it caps. */
  teamId: text("team_id"),
  /** Role of whoever created the budget; a member budget displaces a team's default only when set by an admin or owner. */
  createdByRole: text("created_by_role", { enum: ROLES }),
  limitMicros: integer("limit_micros"),
  period: text("period", { enum: ["daily", "weekly", "monthly", "total"] }).notNull(),
  mode: text("mode", { enum: ["hard", "soft"] }).notNull(),
  rpm: integer("rpm"),
  tpm: integer("tpm"),
  alertThresholds: text("alert_thresholds", { mode: "json" }).$type<number[]>().notNull().default(sql`'[50,80,90,100]'`),
  velocityLimitMicros: integer("velocity_limit_micros"),
  velocityWindowSeconds: integer("velocity_window_seconds"),
  velocityCooldownSeconds: integer("velocity_cooldown_seconds"),
  createdBy: text("created_by").notNull(),
  createdAt: integer("created_at").notNull().default(now),
  updatedAt: integer("updated_at").notNull().default(now),
}, (t) => [index("budgets_org_idx").on(t.orgId, t.scope, t.scopeId)]);

/** Threshold crossings, recorded exactly once per budget, period and threshold. */
export const budgetEvents = sqliteTable("budget_events", {
  id: text("id").primaryKey(),
  orgId: text("org_id").notNull().references(() => orgs.id, { onDelete: "cascade" }),
  budgetId: text("budget_id").notNull(),
  scopeId: text("scope_id"),
  kind: text("kind", { enum: ["threshold", "exceeded", "velocity_tripped", "credits_low"] }).notNull(),
  periodStart: integer("period_start").notNull(),
  threshold: integer("threshold").notNull(),
  spentMicros: integer("spent_micros").notNull(),
  limitMicros: integer("limit_micros"),
  createdAt: integer("created_at").notNull().default(now),
}, (t) => [uniqueIndex("budget_events_once_uq").on(t.budgetId, t.scopeId, t.kind, t.periodStart, t.threshold), index("budget_events_org_idx").on(t.orgId, t.createdAt)]);

/** One row per proxied request, written from the OrgGate outbox; idempotent on `request_id`. */
export const costEvents = sqliteTable("cost_events", {
  requestId: text("request_id").primaryKey(),
  orgId: text("org_id").notNull().references(() => orgs.id, { onDelete: "cascade" }),
  teamId: text("team_id"),
  keyId: text("key_id").notNull(),
  customerId: text("customer_id"),
  tags: text("tags", { mode: "json" }).$type<Record<string, string>>().notNull().default(sql`'{}'`),
  traceId: text("trace_id"),
  provider: text("provider").notNull(),
  model: text("model").notNull(),
  endpoint: text("endpoint").notNull(),
  status: integer("status").notNull(),
  inputTokens: integer("input_tokens").notNull().default(0),
  cachedInputTokens: integer("cached_input_tokens").notNull().default(0),
  cacheWriteTokens: integer("cache_write_tokens").notNull().default(0),
  outputTokens: integer("output_tokens").notNull().default(0),
  reasoningTokens: integer("reasoning_tokens").notNull().default(0),
  costMicros: integer("cost_micros").notNull(),
  latencyMs: integer("latency_ms").notNull().default(0),
  ttfbMs: integer("ttfb_ms"),
  estimated: integer("estimated", { mode: "boolean" }).notNull().default(false),
  /** The prompt template the request rendered (docs/prompts.md), if any. */
  promptId: text("prompt_id"),
  promptVersion: integer("prompt_version"),
  /** Guardrails that acted on the request: JSON `[{id, action}]` (never matched text); null when none. */
  guardrailHits: text("guardrail_hits"),
  createdAt: integer("created_at").notNull(),
}, (t) => [index("cost_events_org_time_idx").on(t.orgId, t.createdAt), index("cost_events_org_key_idx").on(t.orgId, t.keyId), index("cost_events_org_trace_idx").on(t.orgId, t.traceId)]);

// ───────────── audit ─────────────

export const auditLog = sqliteTable("audit_log", {
  id: text("id").primaryKey(),
  orgId: text("org_id").notNull(),
  actorType: text("actor_type", { enum: ["user", "management_token", "system"] }).notNull(),
  actorId: text("actor_id").notNull(),
  actorIp: text("actor_ip"),
  userAgent: text("user_agent"),
  action: text("action").notNull(),
  targetType: text("target_type").notNull(),
  targetId: text("target_id"),
  before: text("before", { mode: "json" }).$type<unknown>(),
  after: text("after", { mode: "json" }).$type<unknown>(),
  createdAt: integer("created_at").notNull().default(now),
}, (t) => [index("audit_org_time_idx").on(t.orgId, t.createdAt)]);

// ───────────── outbound webhooks (docs/webhooks.md) ─────────────

/**
 * Delivery channels. `endpoint`: a webhook endpoint an admin added; its signing secret (`whsec_…`) is
 * AES-GCM sealed, bound to the id. `slack`: the org's Slack incoming webhook (`settings.slack_webhook_url`),
 * kept in step by `PATCH …/settings`, sent Block Kit messages unsigned (`secret_sealed` empty), never
 * listed or counted as an endpoint.
 */
export const webhooks = sqliteTable("webhooks", {
  id: text("id").primaryKey(),
  orgId: text("org_id").notNull().references(() => orgs.id, { onDelete: "cascade" }),
  kind: text("kind", { enum: ["endpoint", "slack"] }).notNull().default("endpoint"),
  url: text("url").notNull(),
  description: text("description"),
  events: text("events", { mode: "json" }).$type<string[]>().notNull(),
  secretSealed: text("secret_sealed").notNull(),
  enabled: integer("enabled", { mode: "boolean" }).notNull().default(true),
  /** Start of the current unbroken run of failed attempts (null: the last attempt succeeded, or none yet). */
  failingSince: integer("failing_since"),
  /** Why Tollgate disabled the endpoint (null when enabled or disabled by a person). */
  disabledReason: text("disabled_reason"),
  disabledAt: integer("disabled_at"),
  createdBy: text("created_by").notNull(),
  createdAt: integer("created_at").notNull().default(now),
  updatedAt: integer("updated_at").notNull().default(now),
}, (t) => [index("webhooks_org_idx").on(t.orgId, t.createdAt)]);

/**
 * One row per (endpoint, event): the unique index makes enqueueing idempotent, so an event emitted
 * twice (a retried flush, a replayed alarm) is still delivered by one delivery.
 */
export const webhookDeliveries = sqliteTable("webhook_deliveries", {
  id: text("id").primaryKey(),
  orgId: text("org_id").notNull().references(() => orgs.id, { onDelete: "cascade" }),
  webhookId: text("webhook_id").notNull().references(() => webhooks.id, { onDelete: "cascade" }),
  eventId: text("event_id").notNull(),
  eventType: text("event_type").notNull(),
  /** The exact JSON body that is signed and sent, so every attempt sends the same bytes. */
  payload: text("payload").notNull(),
  status: text("status", { enum: ["pending", "succeeded", "failed"] }).notNull().default("pending"),
  attempts: integer("attempts").notNull().default(0),
  nextAttemptAt: integer("next_attempt_at"),
  lastStatusCode: integer("last_status_code"),
  createdAt: integer("created_at").notNull().default(now),
  updatedAt: integer("updated_at").notNull().default(now),
}, (t) => [
  uniqueIndex("webhook_deliveries_once_uq").on(t.webhookId, t.eventId),
  index("webhook_deliveries_list_idx").on(t.orgId, t.webhookId, t.createdAt),
  index("webhook_deliveries_due_idx").on(t.orgId, t.status, t.nextAttemptAt),
]);

/** Every delivery attempt: HTTP status (null on a network error), latency and the answer's first bytes. */
export const webhookAttempts = sqliteTable("webhook_attempts", {
  id: text("id").primaryKey(),
  orgId: text("org_id").notNull().references(() => orgs.id, { onDelete: "cascade" }),
  deliveryId: text("delivery_id").notNull().references(() => webhookDeliveries.id, { onDelete: "cascade" }),
  attempt: integer("attempt").notNull(),
  statusCode: integer("status_code"),
  error: text("error"),
  latencyMs: integer("latency_ms").notNull(),
  responseExcerpt: text("response_excerpt"),
  createdAt: integer("created_at").notNull().default(now),
}, (t) => [index("webhook_attempts_delivery_idx").on(t.deliveryId, t.attempt)]);

// ───────────── prepaid credits (docs/billing.md#prepaid-credits) ─────────────

/**
 * Credit added to an org's prepaid balance: the signup credit, a paid top-up, or an operator adjustment.
 * `ref` makes each grant idempotent (e.g. `signup:<user id>`, the Checkout session id of a top-up).
 * The balance is Σ amount − the org's spend; the OrgGate holds it (docs/budgets.md, scope `credits`).
 */
export const creditGrants = sqliteTable("credit_grants", {
  id: text("id").primaryKey(),
  orgId: text("org_id").notNull().references(() => orgs.id, { onDelete: "cascade" }),
  kind: text("kind", { enum: ["signup", "topup", "adjustment"] }).notNull(),
  amountMicros: integer("amount_micros").notNull(),
  ref: text("ref").notNull(),
  createdAt: integer("created_at").notNull().default(now),
}, (t) => [uniqueIndex("credit_grants_ref_uq").on(t.ref), index("credit_grants_org_idx").on(t.orgId, t.createdAt)]);

/**
 * One row per email address that ever received the signup credit (SHA-256 of the normalised email, so
 * the address itself does not outlive the account). Not org-owned and never deleted: a user who deletes
 * their account and signs up again gets no second signup credit.
 */
export const signupCreditClaims = sqliteTable("signup_credit_claims", {
  emailHash: text("email_hash").primaryKey(),
  grantedAt: integer("granted_at").notNull().default(now),
});

/**
 * Stripe events already applied, by event id: inserted in the same D1 batch as the change they make,
 * so a redelivered or concurrent duplicate fails the batch and changes nothing (docs/billing.md).
 * No foreign key: billing records outlive the org.
 */
export const stripeEvents = sqliteTable("stripe_events", {
  id: text("id").primaryKey(),
  type: text("type").notNull(),
  orgId: text("org_id"),
  receivedAt: integer("received_at").notNull().default(now),
});
