/**
 * Cost of a usage at a price, in integer micro-dollars, for the `X-Tollgate-Cost-Micros` header
 * of non-streamed responses (computed in the Worker so the response does not wait for `settle`).
 */
import type { Price, Usage } from "../durable-objects/gate-protocol";

/** Σ tokens × price-per-Mtok, rounded up to a whole micro-dollar (integer arithmetic only). */
export function costMicros(u: Usage, p: Price): number {
  const nano =
    u.uncachedInputTokens * p.inputPerMtok +
    u.cachedInputTokens * p.cachedInputPerMtok +
    u.cacheWriteTokens * p.cacheWritePerMtok +
    u.cacheWrite1hTokens * p.cacheWrite1hPerMtok +
    u.outputTokens * p.outputPerMtok;
  return Math.ceil(nano / 1_000_000);
}
