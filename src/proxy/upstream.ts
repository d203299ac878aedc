/**
 * Calls the provider. Two deadlines, enforced with one AbortController:
 * - first byte: response headers must arrive in time. For streamed calls this is
 *   `UPSTREAM_FIRST_BYTE_TIMEOUT_MS` (60 s, configurable lower); for non-streamed calls it equals the
 *   total deadline, because a provider answering without a stream sends its headers only once the
 *   whole (possibly long, reasoning) completion is done;
 * - total: the whole exchange, body and stream included, within `UPSTREAM_TOTAL_TIMEOUT_MS` (the
 *   same constant, from gate-protocol.ts, that sizes the gate's reservation lifetime).
 * The gate expires a reservation only after the total timeout plus a margin, and the Worker
 * additionally never waits past `reservationExpiresAt − RESERVATION_MARGIN_MS`, so a settle always
 * finds its reservation in the normal case. A client may LOWER both deadlines with
 * `X-Tollgate-Timeout-Ms`, never raise them. Redirects are never followed (docs/money.md).
 */
import { RESERVATION_MARGIN_MS, UPSTREAM_TOTAL_TIMEOUT_MS, type UpstreamRoute } from "../durable-objects/gate-protocol";
import { ApiError } from "../errors";
import { decryptSecret } from "../lib/crypto";
import { checkUpstreamUrl } from "../lib/upstream-url";
import { retryAfterHeaders } from "./denial";

/** Default time allowed until a streamed call's response headers. */
export const UPSTREAM_FIRST_BYTE_TIMEOUT_MS = 60_000;
export { UPSTREAM_TOTAL_TIMEOUT_MS };

/** Why an upstream call ended without a usable response. */
export type UpstreamAbort = "first_byte_timeout" | "total_timeout";

/** A started upstream exchange; `finish()` clears the total deadline once the body is consumed. */
export type UpstreamCall = { res: Response; ttfbMs: number; signal: AbortSignal; finish: () => void };

/**
 * How a call to the provider went. `timeout`: the request was sent and no answer came in time, so
 * the provider may bill it (charged at the reservation's estimate). `unreachable`: the connection
 * never opened (refused, DNS, TLS), so nothing was sent (released).
 */
export type UpstreamResult =
  | { ok: true; call: UpstreamCall }
  | { ok: false; kind: "timeout" | "unreachable"; error: ApiError };

/**
 * Deadlines for one call, from the defaults, the client's header and the reservation expiry.
 * Non-streamed calls get a first-byte deadline equal to the total one.
 */
export function deadlines(
  clientTimeoutMs: number | null,
  reservationExpiresAt: number,
  now = Date.now(),
  opts: { streamed: boolean; firstByteMs?: number } = { streamed: true },
) {
  let total = Math.min(UPSTREAM_TOTAL_TIMEOUT_MS, reservationExpiresAt - RESERVATION_MARGIN_MS - now);
  let firstByte = opts.streamed ? (opts.firstByteMs ?? UPSTREAM_FIRST_BYTE_TIMEOUT_MS) : total;
  if (clientTimeoutMs !== null) {
    total = Math.min(total, clientTimeoutMs);
    firstByte = Math.min(firstByte, clientTimeoutMs);
  }
  return { firstByteMs: Math.max(1, Math.min(firstByte, total)), totalMs: Math.max(1, total) };
}

/**
 * Fetches with both deadlines and without following redirects (a 3xx comes back as the response,
 * and the caller treats it as an upstream error). Expected failures are returned, not thrown.
 */
export async function fetchUpstream(url: string, init: RequestInit, limits: { firstByteMs: number; totalMs: number }): Promise<UpstreamResult> {
  const ctrl = new AbortController();
  const started = Date.now();
  let reason: UpstreamAbort | null = null;
  let headersAt = 0;
  // One timer at a time (timers are a measurable share of the hot path's CPU): first the first-byte
  // deadline; if headers came in time it re-arms itself for what is left of the total deadline.
  let timer: ReturnType<typeof setTimeout> | null = null;
  const onTimer = () => {
    if (headersAt === 0) reason = "first_byte_timeout";
    else {
      const left = started + limits.totalMs - Date.now();
      if (left > 0) {
        timer = setTimeout(onTimer, left);
        return;
      }
      reason = "total_timeout";
    }
    timer = null;
    ctrl.abort();
  };
  timer = setTimeout(onTimer, Math.min(limits.firstByteMs, limits.totalMs));
  const finish = () => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
  };
  try {
    const res = await fetch(url, { ...init, redirect: "manual", signal: ctrl.signal });
    headersAt = Date.now();
    return { ok: true, call: { res, ttfbMs: headersAt - started, signal: ctrl.signal, finish } };
  } catch (e) {
    finish();
    if (reason) {
      return { ok: false, kind: "timeout", error: new ApiError("upstream_timeout", `The provider did not answer within ${reason === "first_byte_timeout" ? limits.firstByteMs : limits.totalMs} ms`) };
    }
    return { ok: false, kind: "unreachable", error: new ApiError("upstream_error", `Could not reach the provider: ${e instanceof Error ? e.message : String(e)}`) };
  }
}

const keyCache = new Map<string, Promise<string>>();
const KEY_CACHE_MAX = 512;

/**
 * The provider's API key, decrypted once per isolate and cached by its sealed value (a rotated key
 * has a new sealed value, so the cache never serves a stale secret). AAD = the provider id.
 */
export function providerApiKey(encryptionKey: string, route: UpstreamRoute): Promise<string> {
  const cacheKey = `${route.providerId}\u0000${route.apiKeySealed}`;
  let p = keyCache.get(cacheKey);
  if (!p) {
    if (keyCache.size >= KEY_CACHE_MAX) keyCache.clear();
    p = decryptSecret(encryptionKey, route.apiKeySealed, route.providerId);
    keyCache.set(cacheKey, p);
    p.catch(() => keyCache.delete(cacheKey));
  }
  return p;
}

const urlVerdicts = new Map<string, string | null>();

/**
 * Defence in depth (docs/security.md): the providers route refuses private/loopback base URLs unless
 * ALLOW_PRIVATE_UPSTREAMS=true, and the data plane re-checks before every call (cached per URL), so
 * a row written under another setting can never reach an internal address. Returns why, or null.
 */
export function refusedUpstream(baseUrl: string, allowPrivate: boolean): string | null {
  const k = `${allowPrivate ? 1 : 0}${baseUrl}`;
  let v = urlVerdicts.get(k);
  if (v === undefined) {
    const check = checkUpstreamUrl(baseUrl, allowPrivate);
    v = check.ok ? null : check.message;
    if (urlVerdicts.size > 1024) urlVerdicts.clear();
    urlVerdicts.set(k, v);
  }
  return v;
}

/** Joins a provider base URL and an API path (`https://api.openai.com/v1` + `/chat/completions`). */
export function upstreamUrl(route: UpstreamRoute, path: string): string {
  const base = route.baseUrl.replace(/\/+$/, "");
  // Anthropic's base URL is conventionally given without /v1 (SDK style); OpenAI-style ones with it.
  if (route.type === "anthropic" && !/\/v1$/.test(base)) return `${base}/v1${path}`;
  return `${base}${path}`;
}

/** Request headers sent to the provider: its credential, content type, trace context, vendor headers. */
export function upstreamHeaders(route: UpstreamRoute, apiKey: string, client: Headers, traceId: string, requestId: string): Headers {
  const h = new Headers({ "content-type": "application/json", accept: client.get("accept") ?? "application/json" });
  if (route.type === "anthropic") {
    h.set("x-api-key", apiKey);
    h.set("anthropic-version", client.get("anthropic-version") ?? "2023-06-01");
    const beta = client.get("anthropic-beta");
    if (beta) h.set("anthropic-beta", beta);
  } else if (route.type === "gemini") {
    h.set("x-goog-api-key", apiKey);
  } else {
    h.set("authorization", `Bearer ${apiKey}`);
  }
  const tp = client.get("traceparent");
  if (tp) h.set("traceparent", tp);
  const ts = client.get("tracestate");
  if (ts) h.set("tracestate", ts);
  h.set("x-tollgate-trace-id", traceId);
  h.set("x-tollgate-request-id", requestId);
  return h;
}

/**
 * Maps a provider error status (no output was produced) to Tollgate's error. Documented choice:
 * - provider 429 → 429 `rate_limit_exceeded` with `scope: "provider"` and the provider's Retry-After
 *   (SDKs back off and retry, which is right for a provider-side rate limit); the provider's message
 *   is not passed on (it names the provider account and its limits);
 * - a 3xx (redirects are not followed) → 502 `upstream_error`;
 * - provider 400/404/409/413/422 → 400 `invalid_request` with the provider's message (the caller can fix it);
 * - provider 408 → 504 `upstream_timeout`; everything else (401/403: our credential, 5xx) → 502 `upstream_error`.
 */
export function upstreamErrorToApiError(status: number, bodyText: string, providerName: string, headers: Headers): ApiError {
  const detail = providerMessage(bodyText);
  const suffix = detail ? `: ${detail}` : "";
  if (status === 429) {
    const ra = headers.get("retry-after-ms") ?? (headers.get("retry-after") ? String(Number(headers.get("retry-after")) * 1000) : null);
    const ms = ra !== null && Number.isFinite(Number(ra)) ? Number(ra) : 1000;
    return new ApiError("rate_limit_exceeded", `Provider '${providerName}' rate-limited the request; retry after ${Math.max(1, Math.ceil(ms / 1000))}s`, { scope: "provider", scope_id: providerName, upstream_status: 429 }, retryAfterHeaders(ms));
  }
  if (status === 400 || status === 404 || status === 409 || status === 413 || status === 422) {
    return new ApiError("invalid_request", `Provider '${providerName}' refused the request (${status})${suffix}`, { param: providerParam(bodyText), upstream_status: status });
  }
  // Never echo a provider's auth error: it can quote part of the org's provider key.
  if (status === 401 || status === 403) return new ApiError("upstream_error", `Provider '${providerName}' rejected the gateway's credentials (HTTP ${status}); an admin should check the provider key`, { upstream_status: status });
  if (status >= 300 && status < 400) return new ApiError("upstream_error", `Provider '${providerName}' answered with a redirect (HTTP ${status}); the gateway does not follow provider redirects, an admin should check the provider's base URL`, { upstream_status: status });
  if (status === 408) return new ApiError("upstream_timeout", `Provider '${providerName}' timed out${suffix}`, { upstream_status: status });
  return new ApiError("upstream_error", `Provider '${providerName}' failed with HTTP ${status}${suffix}`, { upstream_status: status });
}

function parseErr(bodyText: string): Record<string, unknown> | null {
  try {
    const j = JSON.parse(bodyText) as { error?: unknown };
    return j && typeof j.error === "object" && j.error ? (j.error as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function providerMessage(bodyText: string): string {
  const e = parseErr(bodyText);
  const m = e && typeof e.message === "string" ? e.message : "";
  return m.slice(0, 500);
}

function providerParam(bodyText: string): string | null {
  const e = parseErr(bodyText);
  return e && typeof e.param === "string" ? e.param : null;
}
