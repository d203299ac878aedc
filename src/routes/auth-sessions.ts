/**
 * The signed-in user's own sessions and password: list live sessions (`current` marks the caller's),
 * revoke one, revoke all others, and change the password (which signs out every other session).
 * Sessions are rows the JWT points at, so revoking a row ends that browser's access at its next request.
 * Rules: docs/auth.md.
 */
import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { getDb } from "../db/client";
import { findPasswordMaterial, listLiveSessions, revokeOtherSessionsStatement } from "../db/identity";
import { revokeSession, updatePasswordStatement } from "../db/users";
import { ApiError, validationHook } from "../errors";
import { hashPassword, newSalt, PBKDF2_ITERATIONS, timingSafeEqual } from "../lib/crypto";
import { userRoute } from "../lib/route";
import { isoTime, jsonBody, jsonResponse } from "../lib/route-io";
import { userActor } from "../middleware/auth";
import { clearSessionCookie } from "../services/sessions";
import { enforceRateLimits, errorResponses, newPasswordSchema, okSchema } from "./auth-shared";

/** Password-change attempts allowed per user per window (the current password is re-checked each time). */
export const PASSWORD_CHANGE_LIMITS = { windowMs: 15 * 60_000, perUser: 10 } as const;

const sessionSchema = z
  .object({
    id: z.string(),
    created_at: z.string(),
    expires_at: z.string(),
    ip: z.string().nullable().openapi({ description: "Client IP at sign-in (Cloudflare's cf-connecting-ip)" }),
    user_agent: z.string().nullable(),
    current: z.boolean().openapi({ description: "True for the session making this request" }),
  })
  .openapi("Session");

const sessionParams = z.object({ id: z.string().max(64).openapi({ param: { name: "id", in: "path" }, example: "ses_3hK9cQ2mZpL8xW1a" }) });
const passwordBody = z.object({ current_password: z.string().min(1).max(256), new_password: newPasswordSchema });

export const authSessionRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(
    userRoute({
      method: "get",
      path: "/me/sessions",
      tags: ["auth"],
      summary: "The signed-in user's live sessions, newest first; `current` marks this one",
      responses: { 200: jsonResponse(z.object({ data: z.array(sessionSchema) }), "Live sessions"), 401: { description: "Not signed in" } },
    }),
    async (c) => {
      const actor = userActor(c.var.actor);
      const rows = await listLiveSessions(getDb(c.env.DB), actor.userId);
      return c.json({
        data: rows.map((s) => ({
          id: s.id, created_at: isoTime(s.createdAt), expires_at: isoTime(s.expiresAt), ip: s.ip, user_agent: s.userAgent, current: s.id === actor.sessionId,
        })),
      }, 200);
    },
  )
  .openapi(
    userRoute({
      method: "delete",
      path: "/me/sessions/{id}",
      tags: ["auth"],
      summary: "Revoke one of your sessions (revoking the current one signs you out)",
      request: { params: sessionParams },
      responses: { 200: jsonResponse(okSchema, "Revoked"), 401: { description: "Not signed in" }, 404: { description: "No such live session of yours" } },
    }),
    async (c) => {
      const actor = userActor(c.var.actor);
      const { id } = c.req.valid("param");
      if (!(await revokeSession(getDb(c.env.DB), id, actor.userId))) throw new ApiError("not_found", "Session not found", { param: "id" });
      if (id === actor.sessionId) clearSessionCookie(c);
      return c.json({ ok: true as const }, 200);
    },
  )
  .openapi(
    userRoute({
      method: "delete",
      path: "/me/sessions",
      tags: ["auth"],
      summary: "Revoke every session except this one (sign out everywhere else)",
      responses: { 200: jsonResponse(z.object({ revoked: z.number().int() }), "How many sessions were revoked"), 401: { description: "Not signed in" } },
    }),
    async (c) => {
      const actor = userActor(c.var.actor);
      const revoked = await revokeOtherSessionsStatement(getDb(c.env.DB), actor.userId, actor.sessionId);
      return c.json({ revoked: revoked.length }, 200);
    },
  )
  .openapi(
    userRoute({
      method: "post",
      path: "/me/password",
      tags: ["auth"],
      summary: "Change your password (current password required); every other session is signed out",
      request: { body: jsonBody(passwordBody) },
      responses: {
        200: jsonResponse(z.object({ ok: z.literal(true), revoked_sessions: z.number().int() }), "Changed; other sessions revoked"),
        401: { description: "Not signed in, or the current password is wrong (`invalid_api_key`, param current_password)" },
        ...errorResponses,
      },
    }),
    async (c) => {
      const actor = userActor(c.var.actor);
      const { current_password, new_password } = c.req.valid("json");
      const db = getDb(c.env.DB);
      const { windowMs, perUser } = PASSWORD_CHANGE_LIMITS;
      await enforceRateLimits(db, [{ bucket: `password-change:user:${actor.userId}`, limit: perUser, windowMs }]);
      const stored = await findPasswordMaterial(db, actor.userId);
      if (!stored) throw new ApiError("invalid_api_key", "Sign in first");
      const derived = await hashPassword(current_password, stored.passwordSalt, stored.passwordIterations);
      if (!timingSafeEqual(derived, stored.passwordHash)) throw new ApiError("invalid_api_key", "The current password is wrong", { param: "current_password" });
      const salt = newSalt();
      const material = { passwordHash: await hashPassword(new_password, salt, PBKDF2_ITERATIONS), passwordSalt: salt, passwordIterations: PBKDF2_ITERATIONS };
      const [, revoked] = await db.batch([updatePasswordStatement(db, actor.userId, material), revokeOtherSessionsStatement(db, actor.userId, actor.sessionId)]);
      return c.json({ ok: true as const, revoked_sessions: revoked.length }, 200);
    },
  );
