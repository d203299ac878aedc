/**
 * Org management tokens (`tgm_…`) for automation against `/api/orgs/{orgId}/…` (docs/auth.md). Admin+ manage
 * them. A new token's role is capped by its creator's role and is never `owner`, whether the creator is a
 * user or another management token; at every use it is capped again by the current role of the human at
 * the root of its chain (`root_user_id`, see docs/auth.md). The full token is returned once; only its SHA-256 is kept.
 */
import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { auditActorOf, auditInsert } from "../db/audit";
import { getDb } from "../db/client";
import {
  findManagementToken,
  insertManagementTokenStatement,
  listManagementTokens,
  type ManagementTokenRow,
  revokeManagementTokenStatement,
  type TokenCursor,
} from "../db/management-tokens";
import { ApiError, validationHook } from "../errors";
import { sha256Hex } from "../lib/crypto";
import { randomBase62 } from "../lib/encoding";
import { newId } from "../lib/ids";
import { roleRank } from "../lib/roles";
import { orgRoute } from "../lib/route";

/** Random part of a token: 43 base62 chars ≈ 256 bits. */
const TOKEN_BODY_LENGTH = 43;
const MAX_LIFETIME_MS = 5 * 365 * 24 * 3_600_000;

const tokenView = z
  .object({
    id: z.string(),
    name: z.string(),
    role: z.enum(["admin", "member", "viewer"]),
    hint: z.string(),
    created_by: z.string().openapi({ description: "The direct creator: a user id, or the id of the token that created this one" }),
    root_user_id: z.string().nullable().openapi({ description: "The human at the root of the chain; the token's rights never exceed their current role" }),
    created_at: z.string(),
    expires_at: z.string().nullable(),
    revoked_at: z.string().nullable(),
    last_used_at: z.string().nullable(),
  })
  .openapi("ManagementToken");

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
function toView(t: ManagementTokenRow): z.infer<typeof tokenView> {
  return {
    id: t.id, name: t.name, role: t.role, hint: t.hint, created_by: t.createdBy, root_user_id: t.rootUserId,
    created_at: new Date(t.createdAt).toISOString(), expires_at: iso(t.expiresAt), revoked_at: iso(t.revokedAt), last_used_at: iso(t.lastUsedAt),
  };
}

const encodeCursor = (c: TokenCursor) => btoa(`${c.createdAt}:${c.id}`).replace(/=+$/, "");
function decodeCursor(raw: string): TokenCursor {
  let decoded = "";
  try {
    decoded = atob(raw);
  } catch {
    /* falls through to the shape check */
  }
  const m = /^(\d{1,15}):(tgm_[0-9A-Za-z]{1,40})$/.exec(decoded);
  if (!m) throw new ApiError("invalid_request", "Malformed cursor", { param: "cursor" });
  return { createdAt: Number(m[1]), id: m[2]! };
}

const json = <T extends z.ZodType>(schema: T) => ({ content: { "application/json": { schema } } });
const orgParams = z.object({ orgId: z.string().min(1) });
const tokenParams = orgParams.extend({ tokenId: z.string().min(1).max(64) });

const createBody = z.object({
  name: z.string().trim().min(1).max(100),
  role: z.enum(["admin", "member", "viewer"]).openapi({ description: "At most the creator's own role; never owner" }),
  expires_at: z.iso.datetime({ offset: true }).optional().openapi({ description: "ISO-8601; omit for a token that never expires" }),
});

export const managementTokenRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

managementTokenRoutes.openapi(
  orgRoute("admin", {
    method: "get",
    path: "/orgs/{orgId}/management-tokens",
    tags: ["management-tokens"],
    summary: "List the org's management tokens (newest first, revoked ones included; never the secret)",
    request: { params: orgParams, query: z.object({ cursor: z.string().max(200).optional(), limit: z.coerce.number().int().min(1).max(100).default(50) }) },
    responses: { 200: { description: "A page of tokens", ...json(z.object({ data: z.array(tokenView), next_cursor: z.string().nullable() })) } },
  }),
  async (c) => {
    const { cursor, limit } = c.req.valid("query");
    const rows = await listManagementTokens(getDb(c.env.DB), c.var.org.orgId, limit + 1, cursor ? decodeCursor(cursor) : undefined);
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return c.json({ data: page.map(toView), next_cursor: rows.length > limit && last ? encodeCursor(last) : null }, 200);
  },
);

managementTokenRoutes.openapi(
  orgRoute("admin", {
    method: "post",
    path: "/orgs/{orgId}/management-tokens",
    tags: ["management-tokens"],
    summary: "Create a management token; the full `token` is in this response only",
    request: { params: orgParams, body: { ...json(createBody), required: true } },
    responses: {
      201: { description: "Created", ...json(tokenView.extend({ token: z.string().openapi({ description: "tgm_…; shown once" }) })) },
      400: { description: "Invalid input (param names the field)" },
      403: { description: "Role above the creator's own" },
    },
  }),
  async (c) => {
    const input = c.req.valid("json");
    const { orgId, role: callerRole } = c.var.org;
    if (roleRank(input.role) > roleRank(callerRole)) {
      throw new ApiError("permission_denied", `You can create tokens with at most your own role (${callerRole})`, { param: "role" });
    }
    const now = Date.now();
    const expiresAt = input.expires_at === undefined ? null : Date.parse(input.expires_at);
    if (expiresAt !== null && (expiresAt <= now || expiresAt > now + MAX_LIFETIME_MS)) {
      throw new ApiError("invalid_request", "expires_at must be in the future and within 5 years", { param: "expires_at" });
    }
    const token = `tgm_${randomBase62(TOKEN_BODY_LENGTH)}`;
    const actor = auditActorOf(c);
    const caller = c.var.actor!;
    const row = {
      id: newId("tgm"), orgId, createdBy: actor.actorId, rootUserId: caller.type === "user" ? caller.userId : caller.rootUserId, name: input.name, role: input.role, hint: `tgm_…${token.slice(-4)}`,
      expiresAt, revokedAt: null, lastUsedAt: null, createdAt: now,
    };
    const db = getDb(c.env.DB);
    await db.batch([
      insertManagementTokenStatement(db, orgId, { ...row, tokenHash: await sha256Hex(token) }),
      auditInsert(db, orgId, actor, { action: "management_token.create", targetType: "management_token", targetId: row.id, after: { name: row.name, role: row.role, hint: row.hint, expires_at: iso(expiresAt) } }),
    ]);
    return c.json({ ...toView(row), token }, 201);
  },
);

managementTokenRoutes.openapi(
  orgRoute("admin", {
    method: "post",
    path: "/orgs/{orgId}/management-tokens/{tokenId}/revoke",
    tags: ["management-tokens"],
    summary: "Revoke a management token (immediately stops authenticating)",
    request: { params: tokenParams },
    responses: { 200: { description: "Revoked", ...json(tokenView) }, 404: { description: "No such token in this org" }, 409: { description: "Already revoked" } },
  }),
  async (c) => {
    const { orgId } = c.var.org;
    const { tokenId } = c.req.valid("param");
    const db = getDb(c.env.DB);
    const before = await findManagementToken(db, orgId, tokenId);
    if (!before) throw new ApiError("not_found", "Management token not found");
    if (before.revokedAt !== null) throw new ApiError("conflict", "This token is already revoked");
    const now = Date.now();
    const [revoked] = await db.batch([
      revokeManagementTokenStatement(db, orgId, tokenId, now),
      auditInsert(db, orgId, auditActorOf(c), {
        action: "management_token.revoke", targetType: "management_token", targetId: tokenId,
        before: { name: before.name, role: before.role, revoked_at: null }, after: { name: before.name, role: before.role, revoked_at: iso(now) },
      }),
    ]);
    // A concurrent revoke won the race: the audit row above is harmless but the answer must say so.
    if (revoked.length === 0) throw new ApiError("conflict", "This token is already revoked");
    return c.json(toView({ ...before, revokedAt: now }), 200);
  },
);
