/**
 * The org's audit trail (docs/resources.md): who changed what, from where, with before/after. Admins and owners only.
 */
import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { listAuditEntries, type AuditRow } from "../db/audit-queries";
import { getDb } from "../db/client";
import { validationHook } from "../errors";
import { decodeCursor, pageQuery } from "../lib/page-cursor";
import { orgRoute } from "../lib/route";
import { isoTime, jsonResponse, orgParams, presentPage } from "../lib/route-io";

const auditEntrySchema = z
  .object({
    id: z.string(),
    actor: z.object({ type: z.enum(["user", "management_token", "system"]), id: z.string(), email: z.string().nullable() }),
    ip: z.string().nullable(),
    user_agent: z.string().nullable(),
    action: z.string().openapi({ example: "key.revoke" }),
    target: z.object({ type: z.string(), id: z.string().nullable() }),
    before: z.unknown(),
    after: z.unknown(),
    created_at: z.string(),
  })
  .openapi("AuditEntry");

const presentEntry = (e: AuditRow) => ({
  id: e.id,
  actor: { type: e.actorType, id: e.actorId, email: e.actorType === "user" ? e.actorEmail : null },
  ip: e.actorIp,
  user_agent: e.userAgent,
  action: e.action,
  target: { type: e.targetType, id: e.targetId },
  before: e.before ?? null,
  after: e.after ?? null,
  created_at: isoTime(e.createdAt),
});

/** `GET /orgs/{orgId}/audit-log`. */
export const auditLogRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook }).openapi(
  orgRoute("admin", {
    method: "get",
    path: "/orgs/{orgId}/audit-log",
    tags: ["audit"],
    summary: "The org's audit trail, newest first",
    request: {
      params: orgParams,
      query: pageQuery.extend({
        action: z.string().max(100).optional().openapi({ description: "Exact action (`key.revoke`) or a prefix with `.*` (`key.*`)" }),
        actor: z.string().max(320).optional().openapi({ description: "Actor id (`usr_…`, `tgm_…`) or a user's email" }),
      }),
    },
    responses: { 200: jsonResponse(z.object({ data: z.array(auditEntrySchema), next_cursor: z.string().nullable() }), "A page of audit entries") },
  }),
  async (c) => {
    const q = c.req.valid("query");
    const rows = await listAuditEntries(getDb(c.env.DB), c.var.org.orgId, {
      cursor: decodeCursor(q.cursor), limit: q.limit, action: q.action, actor: q.actor,
    });
    return c.json(presentPage(rows, q.limit, presentEntry), 200);
  },
);
