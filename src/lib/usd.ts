/**
 * Dollar amounts from JSON (`"12.50"` or `12.5`) to integer micro-dollars without floating-point
 * arithmetic: the decimal text is split at the point and the digits are used as they are.
 */
export const MICROS_PER_USD = 1_000_000;

/** Largest accepted amount: $1e9, far below Number.MAX_SAFE_INTEGER micro-dollars. */
export const MAX_USD = 1_000_000_000;

/** Integer micro-dollars for a non-negative USD amount with at most 6 decimals, or null when malformed. */
export function parseUsdToMicros(value: string | number): number | null {
  const text = typeof value === "number" ? (Number.isFinite(value) ? String(value) : "") : value.trim();
  const m = /^(\d{1,10})(?:\.(\d{1,6}))?$/.exec(text);
  if (!m) return null;
  const whole = Number(m[1]);
  const frac = Number((m[2] ?? "").padEnd(6, "0"));
  if (whole > MAX_USD || (whole === MAX_USD && frac > 0)) return null;
  return whole * MICROS_PER_USD + frac;
}

/** `12500000` → `"12.5"`: the exact decimal form of micro-dollars, for API responses. */
export function formatMicrosAsUsd(micros: number): string {
  const whole = Math.floor(micros / MICROS_PER_USD);
  const frac = String(micros % MICROS_PER_USD).padStart(6, "0").replace(/0+$/, "");
  return frac ? `${whole}.${frac}` : String(whole);
}
