/**
 * The real `stripe` SDK, configured for workerd: fetch as its HTTP client, SubtleCrypto for signatures,
 * and the API origin from `STRIPE_API_URL` (api.stripe.com, or the local stand-in in development and tests).
 */
import Stripe from "stripe";
import type { Config } from "../env";

/** SubtleCrypto provider for `webhooks.constructEventAsync` (Node's crypto is not used in Workers). */
export const stripeCrypto = Stripe.createSubtleCryptoProvider();

/** A Stripe client for this deployment, or null when `STRIPE_SECRET_KEY` is not set. */
export function stripeClient(cfg: Pick<Config, "STRIPE_SECRET_KEY" | "STRIPE_API_URL">): Stripe | null {
  if (!cfg.STRIPE_SECRET_KEY) return null;
  const url = new URL(cfg.STRIPE_API_URL);
  const protocol = url.protocol === "http:" ? "http" : "https";
  return new Stripe(cfg.STRIPE_SECRET_KEY, {
    httpClient: Stripe.createFetchHttpClient(),
    host: url.hostname,
    port: url.port || (protocol === "http" ? 80 : 443),
    protocol,
    maxNetworkRetries: 1,
    timeout: 15_000,
    telemetry: false,
  });
}

/** Webhook signature checking only needs the SDK's static helpers; no secret key required. */
export const stripeWebhooks = new Stripe("sk_unused_for_signature_checks", { httpClient: Stripe.createFetchHttpClient() }).webhooks;

export type { Stripe };
