/**
 * Webhook signatures (docs/webhooks.md): `Tollgate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`,
 * the MAC over `${t}.${body}` keyed with the endpoint's whole `whsec_…` secret (the Stripe convention).
 */
import { bytesToHex, randomBase62 } from "./encoding";

const encoder = new TextEncoder();

/** A new endpoint secret: `whsec_` + 32 base62 characters (≈190 bits). */
export function newWebhookSecret(): string {
  return `whsec_${randomBase62(32)}`;
}

/** Hex HMAC-SHA256 of `${t}.${body}` under `secret`. */
export async function webhookMac(secret: string, t: number, body: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return bytesToHex(await crypto.subtle.sign("HMAC", key, encoder.encode(`${t}.${body}`)));
}

/** The `Tollgate-Signature` header value for `body` sent at `t` (unix seconds). */
export async function signatureHeader(secret: string, t: number, body: string): Promise<string> {
  return `t=${t},v1=${await webhookMac(secret, t, body)}`;
}
