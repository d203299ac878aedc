import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { HTTPException } from "hono/http-exception";

/** Every error code Tollgate can answer with. Closed: add here, then to {@link STATUS_BY_CODE}. */
export type ErrorCode =
  | "invalid_request"
  | "invalid_api_key"
  | "budget_exceeded"
  | "permission_denied"
  | "model_not_allowed"
  | "model_not_priced"
  | "not_found"
  | "conflict"
  | "invitation_expired"
  | "request_too_large"
  | "rate_limit_exceeded"
  | "upstream_error"
  | "upstream_timeout"
  | "budget_unavailable"
  | "plan_limit"
  | "billing_unavailable"
  | "guardrail_blocked"
  | "internal_error";

/** The single code → HTTP status map (docs/proxy.md "Errors"). */
export const STATUS_BY_CODE: Record<ErrorCode, ContentfulStatusCode> = {
  invalid_request: 400,
  invalid_api_key: 401,
  budget_exceeded: 402,
  permission_denied: 403,
  model_not_allowed: 403,
  model_not_priced: 403,
  not_found: 404,
  conflict: 409,
  invitation_expired: 410,
  request_too_large: 413,
  rate_limit_exceeded: 429,
  upstream_error: 502,
  upstream_timeout: 504,
  budget_unavailable: 503,
  plan_limit: 403,
  billing_unavailable: 503,
  guardrail_blocked: 403,
  internal_error: 500,
};

/** Extra fields carried inside `error` (scope, limits, …). */
export type ErrorExtra = Record<string, string | number | boolean | null | undefined>;

/** The one error class. Thrown at route level; services return tagged results instead. */
export class ApiError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly extra: ErrorExtra & { param?: string | null } = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
  get status(): ContentfulStatusCode {
    return STATUS_BY_CODE[this.code];
  }
}

/** Builds the OpenAI-shaped error body. */
export function errorBody(code: ErrorCode, message: string, extra: ErrorExtra & { param?: string | null } = {}, requestId?: string) {
  const { param = null, ...rest } = extra;
  return {
    error: { message, type: code, code, param, ...rest, ...(requestId ? { request_id: requestId } : {}) },
  };
}

/** Renders an {@link ApiError} (or anything else) as a response; used by `app.onError`. */
export function renderError(err: unknown, c: Context): Response {
  const requestId = c.get("requestId" as never) as string | undefined;
  let apiError: ApiError;
  if (err instanceof ApiError) apiError = err;
  else if (err instanceof HTTPException) {
    const status = err.status;
    const code: ErrorCode = status === 413 ? "request_too_large" : status === 401 ? "invalid_api_key" : status === 404 ? "not_found" : status < 500 ? "invalid_request" : "internal_error";
    apiError = new ApiError(code, err.message || "Request failed");
  } else if (err instanceof SyntaxError) {
    apiError = new ApiError("invalid_request", "Request body is not valid JSON");
  } else {
    console.error("unhandled error", err instanceof Error ? err.stack : String(err));
    apiError = new ApiError("internal_error", "Internal error");
  }
  const body = errorBody(apiError.code, apiError.message, apiError.extra, requestId);
  return c.json(body, apiError.status, apiError.headers);
}

/** zod-openapi validation hook: every validation failure becomes 400 `invalid_request` naming the field. */
export function validationHook(
  result: { success: true } | { success: false; error: { issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }> } },
  c: Context,
) {
  if (result.success) return;
  const issue = result.error.issues[0];
  const param = issue && issue.path.length ? issue.path.map(String).join(".") : null;
  const message = issue ? `${param ? `${param}: ` : ""}${issue.message}` : "Invalid request";
  return renderError(new ApiError("invalid_request", message, { param }), c);
}
