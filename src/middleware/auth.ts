import type { MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import type { Actor, AppEnv } from "../app-env";
import { getDb } from "../db/client";
import { findLiveSession, findMembership, findOrgBasics, touchManagementToken } from "../db/identity";
import { findLiveManagementTokenWithRootRole } from "../db/management-tokens";
import type { Role } from "../db/schema";
import { ApiError } from "../errors";
import { sha256Hex } from "../lib/crypto";
import { roleAtLeast, roleRank } from "../lib/roles";
import { SESSION_JWT, verifySessionJwt } from "../lib/session-jwt";

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * Resolves the caller from a `tgm_` bearer token or the session cookie into `c.var.actor`
 * (undefined when anonymous). Cookie-authenticated mutations must come from our own origin (CSRF).
 */
export const authenticate: MiddlewareHandler<AppEnv> = async (c, next) => {
  const db = getDb(c.env.DB);
  const auth = c.req.header("authorization");
  let actor: Actor | undefined;
  if (auth) {
    const m = /^Bearer\s+(tgm_[A-Za-z0-9]+)$/.exec(auth.trim());
    if (!m) throw new ApiError("invalid_api_key", "Authorization must be 'Bearer tgm_…' (an org management token)");
    const found = await findLiveManagementTokenWithRootRole(db, await sha256Hex(m[1]!));
    if (!found) throw new ApiError("invalid_api_key", "Management token is invalid, revoked or expired");
    const { token, rootRole } = found;
    // A token never outlives its human: checked at every use, not only at creation.
    if (rootRole === null || token.rootUserId === null) throw new ApiError("invalid_api_key", "Management token is invalid: the user who created it is no longer a member of the organization");
    // At most one write per token per minute: enough for "last used" in the dashboard, cheap for busy automation.
    if (token.lastUsedAt === null || Date.now() - token.lastUsedAt > 60_000) await touchManagementToken(db, token.id);
    // Effective rights: the token's own cap, lowered to its root user's current role (a demotion applies at once).
    const role = roleRank(rootRole) < roleRank(token.role) ? (rootRole as Exclude<Role, "owner">) : token.role;
    actor = { type: "management_token", tokenId: token.id, orgId: token.orgId, role, createdBy: token.createdBy, rootUserId: token.rootUserId };
  } else {
    const jwt = getCookie(c, SESSION_JWT.cookie);
    if (jwt) {
      const claims = await verifySessionJwt(c.var.config, jwt);
      const session = claims && (await findLiveSession(db, claims.sessionId, claims.userId));
      // A stale or forged cookie makes the caller anonymous (so login still works); protected routes then answer 401.
      if (session) {
        if (!SAFE_METHODS.has(c.req.method)) assertSameOrigin(c.req.raw, c.var.config.APP_URL);
        actor = { type: "user", userId: session.userId, sessionId: session.sessionId, email: session.email, viaCookie: true };
      }
    }
  }
  c.set("actor", actor);
  await next();
};

/** CSRF guard: a cookie-authenticated mutation must carry our Origin (or be same-origin per Fetch Metadata). */
export function assertSameOrigin(req: Request, appUrl: string): void {
  const origin = req.headers.get("origin");
  const allowed = new Set([new URL(appUrl).origin, new URL(req.url).origin]);
  if (origin) {
    if (!allowed.has(origin)) throw new ApiError("permission_denied", "Cross-site request refused (CSRF protection)");
    return;
  }
  const site = req.headers.get("sec-fetch-site");
  if (site !== "same-origin") throw new ApiError("permission_denied", "Cross-site request refused (CSRF protection): send an Origin header");
}

/** Requires any signed-in user (session cookie). */
export const requireUser: MiddlewareHandler<AppEnv> = async (c, next) => {
  const actor = c.var.actor;
  if (!actor) throw new ApiError("invalid_api_key", "Sign in first");
  if (actor.type !== "user") throw new ApiError("permission_denied", "This route needs a user session, not a management token");
  await next();
};

/** Narrows the actor to a signed-in user (after {@link requireUser}). */
export function userActor(actor: Actor | undefined): Extract<Actor, { type: "user" }> {
  if (!actor || actor.type !== "user") throw new ApiError("invalid_api_key", "Sign in first");
  return actor;
}

/**
 * Requires the caller to hold at least `min` in the org named by `:orgId`.
 * Non-members and foreign orgs get 404 (never reveal that an org exists); members below `min` get 403.
 */
export function requireOrgRole(min: Role): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const actor = c.var.actor;
    if (!actor) throw new ApiError("invalid_api_key", "Sign in or send a management token");
    const orgId = c.req.param("orgId");
    if (!orgId) throw new ApiError("not_found", "Organization not found");
    const db = getDb(c.env.DB);
    let role: Role;
    let basics: { kind: "personal" | "team"; plan: string } | undefined;
    if (actor.type === "management_token") {
      if (actor.orgId !== orgId) throw new ApiError("not_found", "Organization not found");
      basics = await findOrgBasics(db, orgId);
      role = actor.role;
    } else {
      const m = await findMembership(db, orgId, actor.userId);
      basics = m;
      role = m?.role ?? "viewer";
    }
    if (!basics) throw new ApiError("not_found", "Organization not found");
    if (!roleAtLeast(role, min)) throw new ApiError("permission_denied", `This action needs the ${min} role or higher; you are ${role}`);
    c.set("org", { orgId, role, orgKind: basics.kind, orgPlan: basics.plan });
    await next();
  };
}
