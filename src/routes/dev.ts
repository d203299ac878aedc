/**
 * Development-only helpers. `GET /api/dev/outbox` lists the local email outbox (emails that were stored
 * instead of sent because no SENDGRID_API_KEY is configured). It is deliberately PUBLIC (no sign-in) so the
 * dev dashboard can show verification, reset and invitation links before anyone can sign in, and it exists
 * only when ENVIRONMENT is "development": every other environment answers 404 as if the route did not exist.
 */
import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { getDb } from "../db/client";
import { listOutbox, type OutboxCursor } from "../db/email-outbox";
import { ApiError, validationHook } from "../errors";
import { publicRoute } from "../lib/route";

const outboxEmail = z
  .object({
    id: z.string(),
    to: z.string(),
    subject: z.string(),
    text: z.string(),
    html: z.string().nullable(),
    transport: z.enum(["outbox", "sendgrid"]),
    status: z.enum(["stored", "sent", "failed"]),
    error: z.string().nullable(),
    created_at: z.string(),
  })
  .openapi("OutboxEmail");

const encodeCursor = (c: OutboxCursor) => btoa(`${c.createdAt}:${c.id}`).replace(/=+$/, "");
function decodeCursor(raw: string): OutboxCursor {
  let decoded = "";
  try {
    decoded = atob(raw);
  } catch {
    /* falls through to the shape check */
  }
  const m = /^(\d{1,15}):(eml_[0-9A-Za-z]{1,40})$/.exec(decoded);
  if (!m) throw new ApiError("invalid_request", "Malformed cursor", { param: "cursor" });
  return { createdAt: Number(m[1]), id: m[2]! };
}

export const devRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

// Runs before validation, so outside development even malformed queries get the plain 404.
devRoutes.use("/dev/*", async (c, next) => {
  if (c.var.config.ENVIRONMENT !== "development") {
    throw new ApiError("not_found", `No route for ${c.req.method} ${new URL(c.req.url).pathname}`);
  }
  await next();
});

devRoutes.openapi(
  publicRoute({
    method: "get",
    path: "/dev/outbox",
    tags: ["dev"],
    summary: "Development only (404 elsewhere), no sign-in: the local email outbox, newest first",
    request: {
      query: z.object({
        to: z.string().trim().toLowerCase().max(254).optional(),
        cursor: z.string().max(200).optional(),
        limit: z.coerce.number().int().min(1).max(200).default(50),
      }),
    },
    responses: { 200: { description: "A page of emails", content: { "application/json": { schema: z.object({ data: z.array(outboxEmail), next_cursor: z.string().nullable() }) } } } },
  }),
  async (c) => {
    const { to, cursor, limit } = c.req.valid("query");
    const rows = await listOutbox(getDb(c.env.DB), { to: to || undefined, limit: limit + 1, after: cursor ? decodeCursor(cursor) : undefined });
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return c.json(
      {
        data: page.map((r) => ({
          id: r.id, to: r.toAddress, subject: r.subject, text: r.text, html: r.html, transport: r.transport, status: r.status, error: r.error,
          created_at: new Date(r.createdAt).toISOString(),
        })),
        next_cursor: rows.length > limit && last ? encodeCursor(last) : null,
      },
      200,
    );
  },
);
