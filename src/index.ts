/**
 * Tollgate gateway Worker: the table of contents. Builds the Hono app, mounts the route groups,
 * exports the Durable Object classes and the scheduled (cron) handler.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "./app-env";
import { ApiError, renderError, validationHook } from "./errors";
import { authenticate } from "./middleware/auth";
import { bodyLimit } from "./middleware/body-limit";
import { requestContext } from "./middleware/request-context";
import type { Env } from "./env";
import { scheduled } from "./scheduled";
import { authRoutes } from "./routes/auth";
import { authEmailRoutes } from "./routes/auth-email";
import { authSessionRoutes } from "./routes/auth-sessions";
import { devRoutes } from "./routes/dev";
import { healthRoutes } from "./routes/health";
import { managementTokenRoutes } from "./routes/management-tokens";
import { invitationAcceptRoutes } from "./routes/invitation-accept";
import { invitationRoutes } from "./routes/invitations";
import { inviteLinkRoutes } from "./routes/invite-link";
import { memberRoutes } from "./routes/members";
import { orgMembershipRoutes } from "./routes/org-membership";
import { orgSettingsRoutes } from "./routes/org-settings";
import { orgRoutes } from "./routes/orgs";
import { auditLogRoutes } from "./routes/audit-log";
import { keysRoutes } from "./routes/keys";
import { modelAliasesRoutes } from "./routes/model-aliases";
import { promptsRoutes } from "./routes/prompts";
import { guardrailsRoutes } from "./routes/guardrails";
import { providersRoutes } from "./routes/providers";
import { teamsRoutes } from "./routes/teams";
import { budgetsRoutes } from "./routes/budgets";
import { creditsRoutes } from "./routes/credits";
import { pricingRoutes } from "./routes/pricing";
import { usageRoutes } from "./routes/usage";
import { webhooksRoutes } from "./routes/webhooks";
import { billingRoutes } from "./routes/billing";
import { stripeWebhookRoutes } from "./routes/stripe-webhook";
import { v1AnthropicRoutes } from "./routes/v1-anthropic";
import { v1OpenaiRoutes } from "./routes/v1-openai";

export { OrgGate } from "./durable-objects/org-gate";
export { WebhookDispatcher } from "./durable-objects/webhook-dispatcher";

const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

app.use("*", requestContext);
app.use("/api/*", bodyLimit);
app.use("/api/*", authenticate);

app.route("/api", healthRoutes);
app.route("/api", authRoutes);
app.route("/api", authEmailRoutes);
app.route("/api", authSessionRoutes);
app.route("/api", managementTokenRoutes);
app.route("/api", devRoutes);
app.route("/api", orgRoutes);
app.route("/api", orgMembershipRoutes);
app.route("/api", orgSettingsRoutes);
app.route("/api", memberRoutes);
app.route("/api", invitationRoutes);
app.route("/api", invitationAcceptRoutes);
app.route("/", inviteLinkRoutes);
app.route("/api", teamsRoutes);
app.route("/api", keysRoutes);
app.route("/api", providersRoutes);
app.route("/api", modelAliasesRoutes);
app.route("/api", promptsRoutes);
app.route("/api", guardrailsRoutes);
app.route("/api", auditLogRoutes);
app.route("/api", budgetsRoutes);
app.route("/api", creditsRoutes);
app.route("/api", pricingRoutes);
app.route("/api", usageRoutes);
app.route("/api", webhooksRoutes);
app.route("/api", billingRoutes);
app.route("/", stripeWebhookRoutes);
app.route("/v1", v1OpenaiRoutes);
app.route("/v1", v1AnthropicRoutes);

app.doc31("/api/openapi.json", {
  openapi: "3.1.0",
  info: { title: "Tollgate API", version: "1.0.0", description: "Control plane of the Tollgate LLM gateway." },
});

app.notFound((c) => renderError(new ApiError("not_found", `No route for ${c.req.method} ${new URL(c.req.url).pathname}`), c));
app.onError((err, c) => renderError(err, c));

/** HTTP via Hono; the hourly Cron Trigger runs housekeeping (src/scheduled.ts). */
export default { fetch: app.fetch, scheduled } satisfies ExportedHandler<Env>;
