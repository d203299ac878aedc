import type { Config } from "../env";
import type { Db } from "../db/client";
import { emailOutbox } from "../db/schema";
import { newId } from "../lib/ids";

/** One outgoing email. */
export type Email = { to: string; subject: string; text: string; html?: string };

/** Outcome of a send. Returned, not thrown: a failed email must not fail the request that caused it. */
export type SendResult = { ok: true; transport: "outbox" | "sendgrid" } | { ok: false; transport: "sendgrid"; error: string };

function parseFrom(from: string): { email: string; name?: string } {
  const m = /^\s*(.*?)\s*<([^>]+)>\s*$/.exec(from);
  return m ? { name: m[1] || undefined, email: m[2]! } : { email: from.trim() };
}

/** What the outbox keeps of an email handed to SendGrid: links in account emails carry live tokens. */
export const SENDGRID_BODY_PLACEHOLDER = "(body not stored: handed to SendGrid)";

/** SendGrid gets this long to answer before the send counts as failed. */
const SENDGRID_TIMEOUT_MS = 10_000;

/**
 * Sends through SendGrid's v3 HTTP API when `SENDGRID_API_KEY` is set, else stores the email in the local
 * outbox (readable through the dev-only `/api/dev/outbox`). Every email, sent or stored, leaves an outbox row;
 * for SendGrid sends the row keeps recipient, subject and outcome but not the body (its links hold single-use
 * tokens that must exist only as hashes in D1).
 */
export async function sendEmail(cfg: Config, db: Db, email: Email): Promise<SendResult> {
  const id = newId("eml");
  if (!cfg.SENDGRID_API_KEY) {
    await db.insert(emailOutbox).values({ id, toAddress: email.to, subject: email.subject, text: email.text, html: email.html ?? null, transport: "outbox", status: "stored" });
    return { ok: true, transport: "outbox" };
  }
  const content = [{ type: "text/plain", value: email.text }, ...(email.html ? [{ type: "text/html", value: email.html }] : [])];
  let error: string | null = null;
  try {
    const res = await fetch(cfg.SENDGRID_API_URL, {
      method: "POST",
      headers: { authorization: `Bearer ${cfg.SENDGRID_API_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ personalizations: [{ to: [{ email: email.to }] }], from: parseFrom(cfg.EMAIL_FROM), subject: email.subject, content }),
      signal: AbortSignal.timeout(SENDGRID_TIMEOUT_MS),
    });
    if (res.status !== 202 && !res.ok) error = `SendGrid answered ${res.status}: ${(await res.text()).slice(0, 200)}`;
  } catch (e) {
    error = `SendGrid unreachable: ${e instanceof Error ? e.message : String(e)}`;
  }
  await db.insert(emailOutbox).values({ id, toAddress: email.to, subject: email.subject, text: SENDGRID_BODY_PLACEHOLDER, html: null, transport: "sendgrid", status: error ? "failed" : "sent", error });
  return error ? { ok: false, transport: "sendgrid", error } : { ok: true, transport: "sendgrid" };
}
