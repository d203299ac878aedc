/**
 * The cost engine: integer micro-dollars only, never floats in accounting (docs/budgets.md).
 * Prices are micro-dollars per million tokens, so cost = Σ tokens × price / 1e6, rounded up once
 * at the end (a request never costs less than what the provider bills for it).
 */
import type { Price, Usage } from "../durable-objects/gate-protocol";

const MTOK = 1_000_000;

/** ceil(numerator / 1e6) for a non-negative integer numerator, exact beyond 2^53 via BigInt. */
export function ceilDivMtok(numerator: number | bigint): number {
  if (typeof numerator === "number" && Number.isSafeInteger(numerator)) {
    const rem = numerator % MTOK;
    return (numerator - rem) / MTOK + (rem > 0 ? 1 : 0);
  }
  const n = BigInt(numerator);
  const m = BigInt(MTOK);
  return Number(n / m + (n % m > 0n ? 1n : 0n));
}

/** Σ tokens × price with BigInt so no product can lose precision. */
function sumProducts(pairs: Array<[number, number]>): bigint {
  let total = 0n;
  for (const [tokens, price] of pairs) total += BigInt(Math.max(0, Math.trunc(tokens))) * BigInt(Math.max(0, Math.trunc(price)));
  return total;
}

/**
 * Exact cost of a request from normalised provider usage:
 * (uncached × input + cached × cachedInput + cacheWrite × cacheWrite5m + cacheWrite1h × cacheWrite1h
 *  + output × output) / 1e6, rounded up. Reasoning tokens are already inside `outputTokens`.
 */
export function costOfUsage(usage: Usage, price: Price): number {
  return ceilDivMtok(
    sumProducts([
      [usage.uncachedInputTokens, price.inputPerMtok],
      [usage.cachedInputTokens, price.cachedInputPerMtok],
      [usage.cacheWriteTokens, price.cacheWritePerMtok],
      [usage.cacheWrite1hTokens, price.cacheWrite1hPerMtok],
      [usage.outputTokens, price.outputPerMtok],
    ]),
  );
}

/**
 * Upper-bound cost reserved at admission: every estimated input token at the full input price
 * (caching can only make it cheaper) and the output cap at the output price.
 */
export function costOfEstimate(inputTokens: number, outputTokens: number, price: Price): number {
  return ceilDivMtok(sumProducts([[inputTokens, price.inputPerMtok], [outputTokens, price.outputPerMtok]]));
}

/** Total tokens in a usage record (for TPM correction and reporting). */
export function tokensOfUsage(u: Usage): number {
  return u.uncachedInputTokens + u.cachedInputTokens + u.cacheWriteTokens + u.cacheWrite1hTokens + u.outputTokens;
}

