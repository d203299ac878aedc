/**
 * RPM/TPM windows of the OrgGate: fixed one-minute windows aligned to the minute (UTC), one row per
 * (window key, kind, minute) in SQLite, held by the ledger (gate-ledger.ts). RPM counts admitted requests; TPM counts estimated tokens at
 * admission and is corrected to the real count on settle (and refunded on release).
 * Fixed windows make the limit exact and cheap (one row per minute); the cost is that a client can
 * burst up to 2× the limit across a minute boundary, which OpenAI-style clients tolerate.
 */
import type { BudgetScope, RateLimitSnapshot } from "./gate-protocol";

export const WINDOW_MS = 60_000;

/** A rate limit that applies to this request. */
export type RateWindow = {
  /** `plan`, `key:<id>`, or `bud:<budgetId>:<subject>`. */
  wkey: string;
  kind: "rpm" | "tpm";
  limit: number;
  scope: BudgetScope;
  scopeId: string | null;
  label: string;
};

/** A window as it stands after (or before) this admission. */
export type WindowState = RateWindow & { windowStart: number; used: number };

/** Start of the window containing `now`. */
export function windowStartOf(now: number): number {
  return Math.floor(now / WINDOW_MS) * WINDOW_MS;
}

/** The first window this request would overflow (RPM: +1 request; TPM: +tokens), or null. */
export function firstFullWindow(states: WindowState[], tokens: number): WindowState | null {
  for (const w of states) {
    const add = w.kind === "rpm" ? 1 : tokens;
    if (w.used + add > w.limit) return w;
  }
  return null;
}

/** The tightest RPM and TPM windows for the `x-ratelimit-*` headers; a limit of 0 means "no such window". */
export function snapshotOf(states: WindowState[], now: number): RateLimitSnapshot | null {
  if (!states.length) return null;
  const tightest = (kind: "rpm" | "tpm") =>
    states.filter((w) => w.kind === kind).reduce<WindowState | null>((best, w) => (!best || w.limit - w.used < best.limit - best.used ? w : best), null);
  const r = tightest("rpm");
  const t = tightest("tpm");
  const reset = (w: WindowState | null) => (w ? w.windowStart + WINDOW_MS - now : 0);
  return {
    limitRequests: r?.limit ?? 0,
    remainingRequests: r ? Math.max(0, r.limit - r.used) : 0,
    resetRequestsMs: reset(r),
    limitTokens: t?.limit ?? 0,
    remainingTokens: t ? Math.max(0, t.limit - t.used) : 0,
    resetTokensMs: reset(t),
  };
}
