/**
 * Response headers of the data plane (docs/proxy.md "Response headers"): `X-Request-Id`, the OpenAI-style
 * `x-ratelimit-*` for the tightest window, `X-Tollgate-Cost-Micros` (non-streamed),
 * `X-Tollgate-Trace-Id` and `Server-Timing` with the gateway's own phases.
 */
import type { RateLimitSnapshot } from "../durable-objects/gate-protocol";

/** OpenAI's duration format for `x-ratelimit-reset-*`: `20ms`, `1s`, `6m0s`, `1h2m3s`. */
export function formatResetDuration(ms: number): string {
  const v = Math.max(0, Math.ceil(ms));
  if (v < 1000) return `${v}ms`;
  let s = Math.ceil(v / 1000);
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (h) return `${h}h${m}m${s}s`;
  if (m) return `${m}m${s}s`;
  return `${s}s`;
}

/**
 * Writes the `x-ratelimit-*` headers from the gate's snapshot. A limit of 0 means no window of that
 * kind applies (e.g. a key with an RPM but no TPM limit): that group of headers is left out rather
 * than announcing a limit of 0 (which clients would read as "blocked").
 */
export function setRateLimitHeaders(h: Headers, rl: RateLimitSnapshot | null): void {
  if (!rl) return;
  if (rl.limitRequests > 0) {
    h.set("x-ratelimit-limit-requests", String(rl.limitRequests));
    h.set("x-ratelimit-remaining-requests", String(Math.max(0, rl.remainingRequests)));
    h.set("x-ratelimit-reset-requests", formatResetDuration(rl.resetRequestsMs));
  }
  if (rl.limitTokens > 0) {
    h.set("x-ratelimit-limit-tokens", String(rl.limitTokens));
    h.set("x-ratelimit-remaining-tokens", String(Math.max(0, rl.remainingTokens)));
    h.set("x-ratelimit-reset-tokens", formatResetDuration(rl.resetTokensMs));
  }
}

/**
 * Phases of one proxied request, in ms. Workers' clocks advance only across I/O, so pure-CPU
 * phases read 0 in production; they are still listed so the header's shape is stable.
 */
export type Phases = { parse: number; admit: number; upstream: number | null; total: number | null };

/** `Server-Timing: gw-parse;dur=0, gw-admit;dur=1, upstream;dur=231, gw-total;dur=232`. */
export function serverTiming(p: Phases): string {
  const parts = [`gw-parse;dur=${p.parse}`, `gw-admit;dur=${p.admit}`];
  if (p.upstream !== null) parts.push(`upstream;dur=${p.upstream};desc="time to first byte"`);
  if (p.total !== null) parts.push(`gw-total;dur=${p.total}`);
  return parts.join(", ");
}

/** Upstream response headers that are passed to the client (everything else is the gateway's). */
const PASS_THROUGH = ["content-type", "openai-processing-ms", "openai-version", "anthropic-version"];

/** Builds the client response headers from the upstream's. */
export function responseHeaders(upstream: Headers, requestId: string, traceId: string): Headers {
  const h = new Headers();
  for (const name of PASS_THROUGH) {
    const v = upstream.get(name);
    if (v !== null) h.set(name, v);
  }
  const upstreamId = upstream.get("x-request-id") ?? upstream.get("request-id");
  if (upstreamId) h.set("x-upstream-request-id", upstreamId);
  h.set("X-Request-Id", requestId);
  h.set("X-Tollgate-Trace-Id", traceId);
  return h;
}
