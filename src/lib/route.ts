import { createRoute, type RouteConfig } from "@hono/zod-openapi";
import type { Role } from "../db/schema";
import { requireOrgRole, requireUser } from "../middleware/auth";

type BaseRoute = Omit<RouteConfig, "middleware">;

/**
 * An org-owned route: `:orgId` in the path, caller needs at least `minRole` there.
 * The role is also written into the OpenAPI document (`x-tollgate-min-role`), which is how the
 * route × role test enumerates every route with its expected outcome: one source of truth.
 * `creatorMayAct` marks routes where a lower role may act on objects it created (e.g. members revoking their own keys).
 */
export function orgRoute<R extends BaseRoute>(minRole: Role, route: R, opts: { creatorMayAct?: Role } = {}) {
  return createRoute({
    ...route,
    // With creatorMayAct the middleware admits the lower role; the handler then checks who created the object.
    middleware: requireOrgRole(opts.creatorMayAct ?? minRole),
    "x-tollgate-auth": "org",
    "x-tollgate-min-role": minRole,
    ...(opts.creatorMayAct ? { "x-tollgate-creator-role": opts.creatorMayAct } : {}),
  } as R & { middleware: ReturnType<typeof requireOrgRole> });
}

/** A route for any signed-in user (session cookie), not tied to one org. */
export function userRoute<R extends BaseRoute>(route: R) {
  return createRoute({ ...route, middleware: requireUser, "x-tollgate-auth": "user" } as R & { middleware: typeof requireUser });
}

/** A route anyone may call (signup, login, invitation preview…). */
export function publicRoute<R extends BaseRoute>(route: R) {
  return createRoute({ ...route, "x-tollgate-auth": "public" } as R);
}
