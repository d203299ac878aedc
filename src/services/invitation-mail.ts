import type { Config } from "../env";
import type { Db } from "../db/client";
import type { OrgSettings } from "../db/schema";
import { sha256Hex } from "../lib/crypto";
import { randomBase62 } from "../lib/encoding";
import { sendEmail, type SendResult } from "./mailer";
import { brandedButton, brandedHtml, escapeHtml, orgBrand } from "./org-email-branding";

const DAY_MS = 86_400_000;

/** A fresh invitation token (32 base62 chars ≈ 190 bits) and the SHA-256 that is all D1 keeps. */
export async function newInvitationToken(): Promise<{ token: string; tokenHash: string }> {
  const token = randomBase62(32);
  return { token, tokenHash: await sha256Hex(token) };
}

/** Expiry of an invitation issued now: the org's `invitation_expiry_days`, else INVITE_EXPIRY_DAYS. */
export function invitationExpiresAt(settings: OrgSettings, cfg: Pick<Config, "INVITE_EXPIRY_DAYS">, now = Date.now()): number {
  return now + (settings.invitation_expiry_days ?? cfg.INVITE_EXPIRY_DAYS) * DAY_MS;
}

/** The public link of an invitation: served by the Worker at `/invite/:token`. */
export function invitationLink(cfg: Pick<Config, "APP_URL">, token: string): string {
  return `${cfg.APP_URL.replace(/\/+$/, "")}/invite/${token}`;
}

/** Sends (or stores in the local outbox) the invitation email, in the org's branding. A failed send is reported, never thrown. */
export async function sendInvitationEmail(
  cfg: Config,
  db: Db,
  inv: { to: string; org: { name: string; settings: OrgSettings | null }; inviterName: string; role: string; token: string; expiresAt: number },
): Promise<SendResult> {
  const brand = orgBrand(inv.org);
  const link = invitationLink(cfg, inv.token);
  const expires = new Date(inv.expiresAt).toISOString();
  const text =
    `${inv.inviterName} invited you to join ${brand.displayName} on Tollgate as ${inv.role}.\n\n` +
    `Accept the invitation: ${link}\n\nThe link works once and expires ${expires}. ` +
    `If you did not expect this invitation, ignore this email.`;
  const html = brandedHtml(
    brand,
    `<p>${escapeHtml(inv.inviterName)} invited you to join <strong>${escapeHtml(brand.displayName)}</strong> on Tollgate as ${escapeHtml(inv.role)}.</p>` +
      brandedButton(brand, link, "Accept the invitation") +
      `<p>The link works once and expires ${escapeHtml(expires)}. If you did not expect this invitation, ignore this email.</p>`,
  );
  return sendEmail(cfg, db, { to: inv.to, subject: `Join ${brand.displayName} on Tollgate`, text, html });
}
