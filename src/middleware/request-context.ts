import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../app-env";
import { getConfig, unsafeDeploymentReason } from "../env";
import { ApiError } from "../errors";
import { newId } from "../lib/ids";

/**
 * Assigns `X-Request-Id`, validates the Worker's configuration (once per isolate) and refuses to serve
 * development settings on a non-loopback host (docs/security.md).
 */
export const requestContext: MiddlewareHandler<AppEnv> = async (c, next) => {
  const requestId = newId("req");
  c.set("requestId", requestId);
  const config = getConfig(c.env);
  c.set("config", config);
  const unsafe = unsafeDeploymentReason(config, c.req.url);
  if (unsafe) {
    console.error(`refusing request: ${unsafe}`);
    throw new ApiError("internal_error", "This deployment is misconfigured (development settings on a public host) and refuses all requests; see the Worker logs");
  }
  await next();
  c.header("X-Request-Id", requestId);
};
