/**
 * Error responses of the data plane. `/v1/*` OpenAI endpoints use OpenAI's shape
 * (`{"error":{message,type,code,param,…}}`); `/v1/messages` uses Anthropic's envelope
 * (`{"type":"error","error":{type,message,…same fields…}}`) so the Anthropic SDK reads it: there
 * `error.type` is Anthropic's type name and `error.code` is Tollgate's code.
 */
import { ApiError, errorBody, type ErrorCode } from "../errors";

/** Which SDK family reads the response. */
export type Flavor = "openai" | "anthropic";

const ANTHROPIC_TYPE: Record<number, string> = {
  400: "invalid_request_error",
  401: "authentication_error",
  402: "billing_error",
  403: "permission_error",
  404: "not_found_error",
  413: "request_too_large",
  429: "rate_limit_error",
  500: "api_error",
  502: "api_error",
  503: "overloaded_error",
  504: "timeout_error",
};

/** Renders an ApiError as a data-plane response with the request id (and trace id when known). */
export function proxyErrorResponse(err: ApiError, flavor: Flavor, requestId: string, extraHeaders?: Headers | Record<string, string>): Response {
  const headers = new Headers(extraHeaders);
  for (const [k, v] of Object.entries(err.headers)) headers.set(k, v);
  headers.set("content-type", "application/json");
  headers.set("X-Request-Id", requestId);
  const openai = errorBody(err.code, err.message, err.extra, requestId);
  const body =
    flavor === "openai"
      ? openai
      : { type: "error", error: { ...openai.error, type: ANTHROPIC_TYPE[err.status] ?? "api_error", code: err.code } };
  return new Response(JSON.stringify(body), { status: err.status, headers });
}

/** Turns anything thrown on the proxy path into an ApiError (unknown errors → 500, logged without secrets). */
export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  console.error("proxy: unhandled error", e instanceof Error ? `${e.name}: ${e.message}` : String(e));
  return new ApiError("internal_error" satisfies ErrorCode, "Internal error");
}

const encoder = new TextEncoder();

/**
 * The SSE event sent when a stream breaks after it started (the status is already 200): OpenAI
 * streams get `data: {"error":{…}}`, Anthropic streams `event: error` with the envelope. Prefixed
 * with a blank line so it never glues onto a partial event.
 */
export function streamErrorEvent(err: ApiError, flavor: Flavor, requestId: string): Uint8Array {
  const openai = errorBody(err.code, err.message, err.extra, requestId);
  const text =
    flavor === "openai"
      ? `\n\ndata: ${JSON.stringify(openai)}\n\n`
      : `\n\nevent: error\ndata: ${JSON.stringify({ type: "error", error: { ...openai.error, type: ANTHROPIC_TYPE[err.status] ?? "api_error", code: err.code } })}\n\n`;
  return encoder.encode(text);
}
