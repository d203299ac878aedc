/**
 * Tollgate gateway Worker: the table of contents. Builds the Hono app, mounts the route groups,
 * exports the Durable Object classes.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "./app-env";
import { ApiError, renderError, validationHook } from "./errors";
import { authenticate } from "./middleware/auth";
import { requestContext } from "./middleware/request-context";
import { budgetsRoutes } from "./routes/budgets";
import { healthRoutes } from "./routes/health";
import { pricingRoutes } from "./routes/pricing";
import { usageRoutes } from "./routes/usage";
import { v1AnthropicRoutes } from "./routes/v1-anthropic";
import { v1OpenaiRoutes } from "./routes/v1-openai";

export { OrgGate } from "./durable-objects/org-gate";

const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

app.use("*", requestContext);
app.use("/api/*", authenticate);

app.route("/api", healthRoutes);
app.route("/api", budgetsRoutes);
app.route("/api", pricingRoutes);
app.route("/api", usageRoutes);
app.route("/v1", v1OpenaiRoutes);
app.route("/v1", v1AnthropicRoutes);

app.doc31("/api/openapi.json", {
  openapi: "3.1.0",
  info: { title: "Tollgate API", version: "1.0.0", description: "Control plane of the Tollgate LLM gateway." },
});

app.notFound((c) => renderError(new ApiError("not_found", `No route for ${c.req.method} ${new URL(c.req.url).pathname}`), c));
app.onError((err, c) => renderError(err, c));

export default app;
