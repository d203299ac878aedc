import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { validationHook } from "../errors";
import { publicRoute } from "../lib/route";

/** Liveness probe. */
export const healthRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook }).openapi(
  publicRoute({
    method: "get",
    path: "/health",
    tags: ["meta"],
    responses: { 200: { description: "Alive", content: { "application/json": { schema: z.object({ ok: z.literal(true), environment: z.string() }) } } } },
  }),
  (c) => c.json({ ok: true as const, environment: c.var.config.ENVIRONMENT }, 200),
);
