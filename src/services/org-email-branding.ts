/**
 * The org's branding in the emails sent on its behalf (invitations, budget alerts): its display name,
 * logo and accent colour frame the HTML part; every value is HTML-escaped, because the display name
 * and logo URL are whatever an org admin typed.
 */
import type { OrgSettings } from "../db/schema";

/** What an email shows of the org. */
export type OrgBrand = { displayName: string; logoUrl: string | null; accentColor: string };

/** Tollgate's own accent (the dashboard's `--accent`), used when the org has none. */
export const DEFAULT_ACCENT = "#4f46e5";

/** Escapes text for HTML element content and double- or single-quoted attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch]!);
}

/** The brand of an org: its display name (else its name), logo and accent colour (else Tollgate's). */
export function orgBrand(org: { name: string; settings: OrgSettings | null }): OrgBrand {
  const b = org.settings?.branding;
  const accent = b?.accent_color && /^#[0-9a-fA-F]{6}$/.test(b.accent_color) ? b.accent_color : DEFAULT_ACCENT;
  return { displayName: b?.display_name || org.name, logoUrl: b?.logo_url || null, accentColor: accent };
}

/** Wraps an email's HTML body (already escaped) in the org's header: logo, display name, accent bar. */
export function brandedHtml(brand: OrgBrand, bodyHtml: string): string {
  const name = escapeHtml(brand.displayName);
  const accent = escapeHtml(brand.accentColor);
  const logo = brand.logoUrl ? `<img src="${escapeHtml(brand.logoUrl)}" alt="${name}" height="32" style="height:32px;vertical-align:middle;margin-right:8px">` : "";
  return (
    `<div style="font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:560px;border-top:4px solid ${accent};padding-top:16px">` +
    `<p style="margin:0 0 16px;font-size:18px">${logo}<strong style="color:${accent}">${name}</strong></p>` +
    bodyHtml +
    `<p style="color:#6b7280;font-size:12px;margin-top:24px">Sent by Tollgate on behalf of ${name}.</p></div>`
  );
}

/** A button-like link in the org's accent colour. */
export function brandedButton(brand: OrgBrand, href: string, label: string): string {
  return `<p><a href="${escapeHtml(href)}" style="display:inline-block;background:${escapeHtml(brand.accentColor)};color:#ffffff;padding:10px 16px;border-radius:6px;text-decoration:none">${escapeHtml(label)}</a></p>`;
}
