/**
 * Org settings: name, slug, branding, data policy, invitation expiry, Slack webhook URL (budget alerts
 * are posted to it through the webhook dispatcher, see docs/webhooks.md), alert emails. Everything but name/slug is stored in `orgs.settings`
 * (JSON, type `OrgSettings`). See docs/dashboard.md for what each setting does.
 */
import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { auditActorOf, auditInsert } from "../db/audit";
import { getDb } from "../db/client";
import { findOrg, isUniqueViolation, updateOrg, type OrgRow } from "../db/orgs";
import { findSlackChannel, replaceSlackChannelStmts } from "../db/webhooks";
import { newId } from "../lib/ids";
import type { OrgSettings } from "../db/schema";
import { refreshGate } from "../durable-objects/org-gate-client";
import type { Config } from "../env";
import { ApiError, validationHook } from "../errors";
import { orgRoute } from "../lib/route";
import { checkUpstreamUrl } from "../lib/upstream-url";
import { assertSlugFree, assertTeamOrg, OrgNameSchema, SlugSchema } from "./orgs";

const OrgIdParam = z.object({ orgId: z.string().openapi({ param: { name: "orgId", in: "path" } }) });
const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { "application/json": { schema } } });

const SettingsSchema = z
  .object({
    name: z.string(),
    slug: z.string(),
    kind: z.enum(["personal", "team"]),
    branding: z.object({ display_name: z.string().nullable(), logo_url: z.string().nullable(), accent_color: z.string().nullable() }),
    data_policy: z.object({
      store_request_metadata: z.boolean().openapi({ description: "false: cost events are stored without customer id, tags and trace id" }),
    }),
    invitation_expiry_days: z.number().int(),
    slack_webhook_url: z.string().nullable().openapi({ description: "Masked: the webhook URL is a credential and is never returned whole. Budget threshold, exceeded and velocity alerts are posted to it as Slack Block Kit messages" }),
    slack_webhook_configured: z.boolean(),
    slack_disabled_reason: z.string().nullable().openapi({ description: "Why Tollgate disabled the Slack channel (every delivery failing for 3 days); save the URL again to re-enable. Null while it works or no URL is set" }),
    slack_disabled_at: z.string().nullable(),
    alert_emails: z.array(z.string()),
    admission: z.enum(["strict", "lease"]).openapi({ description: "strict: every request is admitted by the org's gate and every control-plane change applies to the very next request. lease: Worker isolates admit against leased headroom; revocations, removals and lower limits apply within 1 s (docs/budgets.md)" }),
  })
  .openapi("OrgSettings");

/**
 * Fields that no longer exist: a request that still sends one gets 400 naming it, with the reason
 * (a plain strict object would only name the parent). A preprocess step keeps the OpenAPI document exact.
 */
const refuseRemoved = <T extends z.ZodType>(removed: Record<string, string>, schema: T) =>
  z.preprocess((val, ctx) => {
    if (val && typeof val === "object") {
      for (const [key, reason] of Object.entries(removed)) if (key in val) ctx.addIssue({ code: "custom", message: reason, path: [key], input: val });
    }
    return val;
  }, schema);

const SettingsPatchSchema = z
  .object({
    name: OrgNameSchema.optional(),
    slug: SlugSchema.optional(),
    branding: refuseRemoved(
      { primary_color: "primary_color was renamed to accent_color" },
      z.object({
        display_name: z.string().trim().min(1, "display_name must not be empty (null clears it)").max(80, "display_name is at most 80 characters").nullable().optional(),
        logo_url: z
          .url({ message: "logo_url must be a URL", protocol: /^https?$/ })
          .max(2048)
          .nullable()
          .optional(),
        accent_color: z.string().regex(/^#[0-9a-fA-F]{6}$/, "accent_color must be a hex color like #1a2b3c").nullable().optional(),
      }).strict(),
    ).optional(),
    data_policy: refuseRemoved(
      {
        store_prompts: "store_prompts is not supported: Tollgate never stores prompts or completions",
        retention_days: "retention_days is not configurable: cost-event retention follows the plan (its retention_days in GET …/billing; docs/billing.md)",
      },
      z.object({ store_request_metadata: z.boolean().optional() }).strict(),
    ).optional(),
    invitation_expiry_days: z.number().int().min(1, "invitation_expiry_days must be 1–90").max(90, "invitation_expiry_days must be 1–90").optional(),
    // Scheme and host are judged by checkUpstreamUrl in the handler, like every outbound URL: https and a
    // public host unless ALLOW_PRIVATE_UPSTREAMS=true (local development; docs/security.md).
    slack_webhook_url: z.url({ message: "slack_webhook_url must be a URL" }).max(2048).nullable().optional(),
    alert_emails: z.array(z.email().max(254).toLowerCase()).max(20, "at most 20 alert emails").optional(),
    admission: z.enum(["strict", "lease"], { message: "admission must be 'strict' or 'lease'" }).optional(),
  })
  .strict();

/** Slack webhook URLs embed a secret: show only the host and the last 4 characters. */
function maskUrl(url: string | null | undefined): string | null {
  if (!url) return null;
  return `${new URL(url).origin}/…${url.slice(-4)}`;
}

const isLoopbackHost = (host: string) => {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h.endsWith(".localhost") || h === "::1" || /^127\./.test(h);
};

/** Logos are loaded by browsers and mail clients: https only, except plain http on loopback where private URLs are allowed (local development). */
function assertLogoUrl(url: string | null | undefined, cfg: Config): void {
  if (!url) return;
  const u = new URL(url);
  if (u.protocol === "https:" || (cfg.ALLOW_PRIVATE_UPSTREAMS && isLoopbackHost(u.hostname))) return;
  throw new ApiError("invalid_request", "branding.logo_url must use https", { param: "branding.logo_url" });
}

/** The settings view with defaults filled in (without the Slack channel's state, see `settingsResponse`). */
function settingsView(org: OrgRow, cfg: Config): Omit<z.infer<typeof SettingsSchema>, "slack_disabled_reason" | "slack_disabled_at"> {
  const s = org.settings ?? {};
  return {
    name: org.name,
    slug: org.slug,
    kind: org.kind,
    branding: { display_name: s.branding?.display_name ?? null, logo_url: s.branding?.logo_url ?? null, accent_color: s.branding?.accent_color ?? null },
    data_policy: { store_request_metadata: s.data_policy?.store_request_metadata ?? true },
    invitation_expiry_days: s.invitation_expiry_days ?? cfg.INVITE_EXPIRY_DAYS,
    slack_webhook_url: maskUrl(s.slack_webhook_url),
    slack_webhook_configured: Boolean(s.slack_webhook_url),
    alert_emails: s.alert_emails ?? [],
    admission: s.admission ?? "strict",
  };
}

/** The settings view plus the Slack channel's disabled state (read from its channel row). */
async function settingsResponse(db: ReturnType<typeof getDb>, org: OrgRow, cfg: Config): Promise<z.infer<typeof SettingsSchema>> {
  const slack = org.settings?.slack_webhook_url ? await findSlackChannel(db, org.id) : undefined;
  const off = slack && !slack.enabled ? slack : undefined;
  return {
    ...settingsView(org, cfg),
    slack_disabled_reason: off ? (off.disabledReason ?? "disabled") : null,
    slack_disabled_at: off?.disabledAt ? new Date(off.disabledAt).toISOString() : null,
  };
}

/** What the audit trail records of the settings: the view, already masked. */
const auditable = (org: OrgRow, cfg: Config) => {
  const { slack_webhook_configured: _, ...rest } = settingsView(org, cfg);
  return rest;
};

const defined = <T extends Record<string, unknown>>(o: T): Partial<T> =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;

export const orgSettingsRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(
    orgRoute("viewer", {
      method: "get",
      path: "/orgs/{orgId}/settings",
      tags: ["settings"],
      summary: "The organization's settings",
      request: { params: OrgIdParam },
      responses: { 200: json(SettingsSchema, "Settings") },
    }),
    async (c) => {
      const db = getDb(c.env.DB);
      const org = await findOrg(db, c.var.org.orgId);
      if (!org) throw new ApiError("not_found", "Organization not found");
      return c.json(await settingsResponse(db, org, c.var.config), 200);
    },
  )
  .openapi(
    orgRoute("admin", {
      method: "patch",
      path: "/orgs/{orgId}/settings",
      tags: ["settings"],
      summary: "Change settings; omitted fields stay, null clears",
      request: { params: OrgIdParam, body: { required: true, content: { "application/json": { schema: SettingsPatchSchema } } } },
      responses: { 200: json(SettingsSchema, "Updated settings") },
    }),
    async (c) => {
      const { orgId, orgKind } = c.var.org;
      const body = c.req.valid("json");
      const cfg = c.var.config;
      const db = getDb(c.env.DB);
      const org = await findOrg(db, orgId);
      if (!org) throw new ApiError("not_found", "Organization not found");
      const renames = (body.name !== undefined && body.name !== org.name) || (body.slug !== undefined && body.slug !== org.slug);
      if (renames) assertTeamOrg(orgKind, "renamed");
      if (body.slug !== undefined && body.slug !== org.slug) await assertSlugFree(db, body.slug, orgId);
      if (body.slack_webhook_url) {
        const check = checkUpstreamUrl(body.slack_webhook_url, cfg.ALLOW_PRIVATE_UPSTREAMS);
        if (!check.ok) throw new ApiError("invalid_request", `slack_webhook_url: ${check.message}`, { param: "slack_webhook_url" });
      }

      assertLogoUrl(body.branding?.logo_url, cfg);

      const cur: OrgSettings = org.settings ?? {};
      const next: OrgSettings = { ...cur };
      if (body.branding) {
        const { display_name, logo_url, accent_color } = body.branding;
        next.branding = { ...cur.branding, ...defined({ display_name, logo_url, accent_color }) };
      }
      if (body.data_policy?.store_request_metadata !== undefined) next.data_policy = { ...cur.data_policy, store_request_metadata: body.data_policy.store_request_metadata };
      if (body.invitation_expiry_days !== undefined) next.invitation_expiry_days = body.invitation_expiry_days;
      if (body.slack_webhook_url !== undefined) next.slack_webhook_url = body.slack_webhook_url;
      if (body.alert_emails !== undefined) next.alert_emails = [...new Set(body.alert_emails)];
      if (body.admission !== undefined) next.admission = body.admission;
      const updated: OrgRow = { ...org, name: body.name ?? org.name, slug: body.slug ?? org.slug, settings: next };
      const before = auditable(org, cfg);
      const after = auditable(updated, cfg);
      const slackChanged = body.slack_webhook_url !== undefined && (body.slack_webhook_url ?? null) !== (cur.slack_webhook_url ?? null);
      // Saving the same URL again is how an admin revives a Slack channel that was disabled for failing
      // (docs/webhooks.md): a fresh, enabled channel row replaces it.
      const slackRevived = !slackChanged && Boolean(body.slack_webhook_url) && !(await findSlackChannel(db, orgId))?.enabled;
      const settingsUnchanged = JSON.stringify(before) === JSON.stringify(after) && JSON.stringify(cur) === JSON.stringify(next);
      if (settingsUnchanged && !slackRevived) return c.json(await settingsResponse(db, org, cfg), 200);
      const actor = auditActorOf(c);
      const slackId = newId("whk");
      const slackStmts = slackChanged || slackRevived
        ? replaceSlackChannelStmts(db, orgId, body.slack_webhook_url ?? null, { id: slackId, createdBy: c.var.actor?.type === "user" ? c.var.actor.userId : (c.var.actor?.createdBy ?? "system"), at: Date.now() })
        : [];

      try {
        await db.batch([
          updateOrg(db, orgId, { name: updated.name, slug: updated.slug, settings: next }),
          // The Slack channel row the webhook dispatcher sends to follows the setting in the same write.
          ...slackStmts,
          ...(settingsUnchanged ? [] : [auditInsert(db, orgId, actor, { action: "org.settings.update", targetType: "org", targetId: orgId, before, after })]),
          ...(slackRevived ? [auditInsert(db, orgId, actor, { action: "webhook.slack_reenable", targetType: "webhook", targetId: slackId, before: { enabled: false }, after: { enabled: true } })] : []),
        ]);
      } catch (err) {
        if (isUniqueViolation(err, "orgs.slug")) throw new ApiError("conflict", `The slug '${body.slug}' is already taken`, { param: "slug" });
        throw err;
      }
      // Data policy, alert settings and the admission mode are read by the gate: reload them before answering.
      await refreshGate(c.env, orgId, ["org"]);
      return c.json(await settingsResponse(db, (await findOrg(db, orgId))!, cfg), 200);
    },
  );
