/** Types for the Stripe stand-in (test/mock-servers/stripe.mjs), used by test/global-setup.ts and scripts/start.mjs. */
import type { MockServer } from "./types";
export function decodeForm(raw: string): Record<string, unknown>;
export function startStripeStandIn(opts?: { port?: number; webhookUrl?: string; webhookSecret?: string; prices?: Record<string, number> }): Promise<MockServer>;
