/** Display helpers. Money arrives as integer micro-dollars; it is only ever divided for display. */
const usd = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", minimumFractionDigits: 2, maximumFractionDigits: 2 });
const usdFine = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", minimumFractionDigits: 2, maximumFractionDigits: 6 });
const int = new Intl.NumberFormat("en-US");

/** `$1,234.56`; amounts under a cent keep their precision (`$0.000123`). */
export function formatMicros(micros: number | null | undefined): string {
  if (micros === null || micros === undefined) return "—";
  const dollars = micros / 1_000_000;
  return micros !== 0 && Math.abs(micros) < 10_000 ? usdFine.format(dollars) : usd.format(dollars);
}

export const formatInt = (n: number | null | undefined) => (n === null || n === undefined ? "—" : int.format(n));
export const formatMs = (n: number | null | undefined) => (n === null || n === undefined ? "—" : `${int.format(n)} ms`);
export const formatPct = (n: number) => `${(n * 100).toFixed(n > 0 && n < 0.01 ? 2 : 1)}%`;

/** `Nov 22, 2026, 14:03` in the viewer's locale. */
export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function formatDate(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleDateString(undefined, { dateStyle: "medium" });
}

/** "3 minutes ago" / "in 2 days". */
export function formatRelative(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "—";
  const diff = new Date(iso).getTime() - now;
  const abs = Math.abs(diff);
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  const units: Array<[Intl.RelativeTimeFormatUnit, number]> = [["day", 86_400_000], ["hour", 3_600_000], ["minute", 60_000]];
  for (const [unit, ms] of units) if (abs >= ms) return rtf.format(Math.round(diff / ms), unit);
  return diff < 0 ? "just now" : "in a moment";
}

/** `YYYY-MM-DD` (UTC) of a date. */
export const isoDay = (d: Date) => d.toISOString().slice(0, 10);
