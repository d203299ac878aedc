import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../app-env";
import { getConfig } from "../env";
import { newId } from "../lib/ids";

/** Assigns `X-Request-Id` and validates the Worker's configuration (once per isolate). */
export const requestContext: MiddlewareHandler<AppEnv> = async (c, next) => {
  const requestId = newId("req");
  c.set("requestId", requestId);
  c.set("config", getConfig(c.env));
  await next();
  c.header("X-Request-Id", requestId);
};
