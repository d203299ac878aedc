/**
 * Dollar amounts from JSON (`"12.50"` or `12.5`) to integer micro-dollars without floating-point
 * arithmetic: the decimal text is split at the point and the digits are used as they are.
 */
export const MICROS_PER_USD = 1_000_000;

/** Largest accepted amount: $1e9, far below Number.MAX_SAFE_INTEGER micro-dollars. */
export const MAX_USD = 1_000_000_000;

/** Integer micro-dollars for a non-negative USD amount with at most 6 decimals, or null when malformed. */
export function parseUsdToMicros(value: string | number): number | null {
  const text = typeof value === "number" ? numberToPlainString(value) : value.trim();
  if (text === null) return null;
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

function numberToPlainString(n: number): string | null {
  if (!Number.isFinite(n) || n < 0) return null;
  // toString is the shortest round-trip decimal: 0.1 → "0.1", never 0.1000000000000000055…
  const s = n.toString();
  if (/e/i.test(s)) {
    const fixed = n.toFixed(6).replace(/\.?0+$/, "");
    return Number(fixed) === n ? fixed : null;
  }
  return s;
}

/** Micro-dollars as a USD string with 6 decimals, e.g. 1500000 → "1.500000" (usage and pricing APIs). */
export function formatMicrosFixed(micros: number): string {
  const neg = micros < 0;
  const abs = Math.abs(micros);
  const whole = Math.floor(abs / MICROS_PER_USD);
  const frac = String(abs % MICROS_PER_USD).padStart(6, "0");
  return `${neg ? "-" : ""}${whole}.${frac}`;
}

/** `$1,234.56` from integer micro-dollars, for messages (cents, rounded down; integer arithmetic only). */
export function formatUsdLabel(micros: number): string {
  const neg = micros < 0;
  const cents = Math.floor(Math.abs(micros) / 10_000);
  const dollars = Math.floor(cents / 100).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${neg ? "-" : ""}$${dollars}.${String(cents % 100).padStart(2, "0")}`;
}
