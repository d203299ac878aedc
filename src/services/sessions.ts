/**
 * Session lifecycle helpers for the auth routes: a session is a D1 row (the source of truth, so logout and
 * password resets revoke it) plus a short HS256 JWT naming it, carried in the `__Host-` cookie.
 */
import type { Context } from "hono";
import { deleteCookie, setCookie } from "hono/cookie";
import type { AppEnv } from "../app-env";
import type { Db } from "../db/client";
import { insertSessionStatement } from "../db/users";
import { newId } from "../lib/ids";
import { SESSION_JWT, signSessionJwt } from "../lib/session-jwt";

/** A session about to be opened: insert `statement` (in the caller's batch), then call {@link setSessionCookie}. */
export type PendingSession = { id: string; userId: string; expiresAt: number; statement: ReturnType<typeof insertSessionStatement> };

/** The caller's IP as Cloudflare reports it (null locally without the header). */
export function clientIp(c: Context<AppEnv>): string | null {
  return c.req.header("cf-connecting-ip") ?? null;
}

/** Prepares a session row for `userId` expiring after SESSION_TTL_HOURS, tagged with IP and user agent. */
export function prepareSession(c: Context<AppEnv>, db: Db, userId: string, now = Date.now()): PendingSession {
  const id = newId("ses");
  const expiresAt = now + c.var.config.SESSION_TTL_HOURS * 3_600_000;
  const userAgent = c.req.header("user-agent")?.slice(0, 512) ?? null;
  return { id, userId, expiresAt, statement: insertSessionStatement(db, { id, userId, expiresAt, ip: clientIp(c), userAgent }) };
}

/** Signs the session JWT and sets `__Host-tg_session` (HttpOnly, Secure, SameSite=Lax, Path=/). */
export async function setSessionCookie(c: Context<AppEnv>, session: PendingSession): Promise<void> {
  const jwt = await signSessionJwt(c.var.config, { userId: session.userId, sessionId: session.id }, session.expiresAt);
  setCookie(c, SESSION_JWT.cookie, jwt, {
    path: "/",
    httpOnly: true,
    secure: true,
    sameSite: "Lax",
    maxAge: Math.max(0, Math.floor((session.expiresAt - Date.now()) / 1000)),
  });
}

/** Expires the session cookie in the browser. */
export function clearSessionCookie(c: Context<AppEnv>): void {
  deleteCookie(c, SESSION_JWT.cookie, { path: "/", httpOnly: true, secure: true, sameSite: "Lax" });
}
