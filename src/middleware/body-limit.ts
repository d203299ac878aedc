/**
 * Size limit for every control-plane (`/api/*`) request body. The body is counted as it streams in
 * (a Content-Length is never trusted, only used to refuse early) and buffered, so route handlers and
 * validators that read it later see at most the limit. Over the limit: 413 `request_too_large`.
 */
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../app-env";
import { bodyTooLarge, readCapped } from "../lib/read-capped";

/**
 * Ceiling for control-plane bodies whatever MAX_BODY_BYTES says: the largest legitimate body is a bulk
 * invitation CSV (≤ 200,000 characters), so 1 MiB leaves room and bounds what one request can buffer.
 */
export const CONTROL_PLANE_MAX_BODY_BYTES = 1_048_576;

/** The limit for `/api/*` bodies: MAX_BODY_BYTES, capped at {@link CONTROL_PLANE_MAX_BODY_BYTES}. */
export function controlPlaneBodyLimit(maxBodyBytes: number): number {
  return Math.min(maxBodyBytes, CONTROL_PLANE_MAX_BODY_BYTES);
}

/** Installs the control-plane body limit: buffers the body under the limit and hands it on. */
export const bodyLimit: MiddlewareHandler<AppEnv> = async (c, next) => {
  const req = c.req.raw;
  if (req.body) {
    const limit = controlPlaneBodyLimit(c.var.config.MAX_BODY_BYTES);
    const declared = req.headers.get("content-length");
    if (declared !== null && Number(declared) > limit) throw bodyTooLarge(limit);
    const bytes = await readCapped(req.body, limit);
    c.req.raw = new Request(req.url, { method: req.method, headers: req.headers, body: bytes });
  }
  await next();
};
