/**
 * `POST /webhooks/stripe` (docs/billing.md "Webhook"): the signature is verified with the stripe SDK's
 * `constructEventAsync` over the raw body (SubtleCrypto); a missing, bad or stale signature answers 400
 * and changes nothing. Verified events go to the dispatcher in src/services/billing.ts.
 */
import { Hono } from "hono";
import type Stripe from "stripe";
import type { AppEnv } from "../app-env";
import { getDb } from "../db/client";
import { getConfig } from "../env";
import { ApiError } from "../errors";
import { handleStripeEvent } from "../services/billing";
import { stripeClient, stripeCrypto, stripeWebhooks } from "../services/stripe-client";

/** Stripe's payloads are a few KB; anything far larger is not from Stripe. */
const MAX_EVENT_BYTES = 512 * 1024;

export const stripeWebhookRoutes = new Hono<AppEnv>().post("/webhooks/stripe", async (c) => {
  const cfg = getConfig(c.env);
  if (!cfg.STRIPE_WEBHOOK_SECRET) throw new ApiError("invalid_request", "Stripe webhooks are not configured on this deployment (STRIPE_WEBHOOK_SECRET is not set)");
  const signature = c.req.header("stripe-signature");
  if (!signature) throw new ApiError("invalid_request", "Missing Stripe-Signature header", { param: "stripe-signature" });
  const raw = await c.req.text();
  if (raw.length > MAX_EVENT_BYTES) throw new ApiError("request_too_large", "Event body too large");
  let event: Stripe.Event;
  try {
    event = await stripeWebhooks.constructEventAsync(raw, signature, cfg.STRIPE_WEBHOOK_SECRET, undefined, stripeCrypto);
  } catch (err) {
    throw new ApiError("invalid_request", `Stripe signature verification failed: ${err instanceof Error ? err.message : "invalid signature"}`, { param: "stripe-signature" });
  }
  const outcome = await handleStripeEvent(c.env, getDb(c.env.DB), cfg, stripeClient(cfg), event);
  return c.json({ received: true, status: outcome.status }, 200);
});
