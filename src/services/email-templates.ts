/**
 * The account emails (verification, password reset). The link is in the plain-text part on purpose:
 * it is what every mail client shows, and what tests read back from the dev outbox.
 */
import type { Email } from "./mailer";

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch]!);
}

function linkEmail(to: string, subject: string, greeting: string, lines: string[], link: string, footer: string): Email {
  const text = [greeting, "", ...lines, "", link, "", footer, "", "— Tollgate"].join("\n");
  const html =
    `<p>${escapeHtml(greeting)}</p>` +
    lines.map((l) => `<p>${escapeHtml(l)}</p>`).join("") +
    `<p><a href="${escapeHtml(link)}">${escapeHtml(link)}</a></p><p>${escapeHtml(footer)}</p><p>— Tollgate</p>`;
  return { to, subject, text, html };
}

/** "Verify your email": link to `${APP_URL}/verify-email?token=…`, valid 48 hours. */
export function verificationEmail(appUrl: string, to: string, name: string, token: string): Email {
  const link = `${appUrl.replace(/\/$/, "")}/verify-email?token=${encodeURIComponent(token)}`;
  return linkEmail(to, "Verify your Tollgate email address", `Hi ${name},`, ["Confirm that this is your email address by opening this link:"], link, "The link works once and expires in 48 hours. If you did not sign up for Tollgate, ignore this email.");
}

/** "Reset your password": link to `${APP_URL}/reset-password?token=…`, valid 1 hour. */
export function passwordResetEmail(appUrl: string, to: string, name: string, token: string): Email {
  const link = `${appUrl.replace(/\/$/, "")}/reset-password?token=${encodeURIComponent(token)}`;
  return linkEmail(to, "Reset your Tollgate password", `Hi ${name},`, ["Someone (hopefully you) asked to reset your Tollgate password. Choose a new one here:"], link, "The link works once and expires in 1 hour. Resetting signs you out everywhere. If you did not ask for this, ignore this email: your password stays the same.");
}
