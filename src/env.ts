import { z } from "zod";
import type { OrgGate } from "./durable-objects/org-gate";
import type { WebhookDispatcher } from "./durable-objects/webhook-dispatcher";
import { UPSTREAM_TOTAL_TIMEOUT_MS } from "./durable-objects/gate-protocol";

/** Bindings, vars and secrets of the gateway Worker (wrangler.toml + secrets). */
export interface Env {
  DB: D1Database;
  ORG_GATE: DurableObjectNamespace<OrgGate>;
  WEBHOOK_DISPATCHER: DurableObjectNamespace<WebhookDispatcher>;
  ENVIRONMENT: string;
  ORG_MODE: string;
  ALLOW_PRIVATE_UPSTREAMS: string;
  INVITE_EXPIRY_DAYS: string;
  APP_URL: string;
  SESSION_TTL_HOURS: string;
  MAX_BODY_BYTES: string;
  /** "true": `/invite/:token` redirects to the dashboard's accept page instead of the Worker-rendered one. */
  DASHBOARD_ACCEPT_REDIRECT?: string;
  /** Milliseconds until a streamed provider call must send its headers (default 60000, at most the 120 s total). */
  UPSTREAM_FIRST_BYTE_TIMEOUT_MS?: string;
  SESSION_SIGNING_KEYS: string;
  ENCRYPTION_KEY: string;
  SENDGRID_API_KEY?: string;
  SENDGRID_API_URL?: string;
  EMAIL_FROM?: string;
  /** "true": prepaid credits (docs/billing.md#prepaid-credits); off when unset. */
  CREDITS_ENABLED?: string;
  /** Credit granted once per user's personal org at signup, in micro-dollars (default 5000000 = $5.00). */
  SIGNUP_CREDIT_MICROS?: string;
  /** Balance below which the low-balance alert fires, in micro-dollars (default 1000000 = $1.00; 0 = never). */
  CREDITS_LOW_THRESHOLD_MICROS?: string;
  /** Stripe secret key (`sk_live_…`/`sk_test_…`); unset = billing routes answer 503 and `/webhooks/stripe` 400. */
  STRIPE_SECRET_KEY?: string;
  /** Signing secret of the `/webhooks/stripe` endpoint (`whsec_…`). */
  STRIPE_WEBHOOK_SECRET?: string;
  /** Stripe API origin; default https://api.stripe.com. Local development and tests point it at the stand-in. */
  STRIPE_API_URL?: string;
  /** Stripe price id of each paid plan (the variable named by `stripePriceVar` in src/plans.ts). */
  STRIPE_PRICE_PRO?: string;
  STRIPE_PRICE_ENTERPRISE?: string;
  /** Days a subscription with a failed payment keeps its plan before the free plan's limits apply (default 7). */
  BILLING_GRACE_DAYS?: string;
}

const configSchema = z.object({
  ENVIRONMENT: z.string().min(1),
  ORG_MODE: z.enum(["multi", "single"]),
  ALLOW_PRIVATE_UPSTREAMS: z.enum(["true", "false"]).transform((v) => v === "true"),
  INVITE_EXPIRY_DAYS: z.coerce.number().int().min(1).max(90),
  APP_URL: z.url(),
  SESSION_TTL_HOURS: z.coerce.number().int().min(1).max(24 * 90),
  MAX_BODY_BYTES: z.coerce.number().int().min(1024),
  DASHBOARD_ACCEPT_REDIRECT: z.enum(["true", "false"]).default("false").transform((v) => v === "true"),
  UPSTREAM_FIRST_BYTE_TIMEOUT_MS: z.coerce.number().int().min(1).max(UPSTREAM_TOTAL_TIMEOUT_MS).default(60_000),
  SESSION_SIGNING_KEYS: z
    .string()
    .min(1, "SESSION_SIGNING_KEYS is required (kid:base64secret[,kid:base64secret…])")
    .transform((v, ctx) => {
      const keys = v.split(",").map((pair) => {
        const i = pair.indexOf(":");
        return { kid: pair.slice(0, i).trim(), secret: pair.slice(i + 1).trim() };
      });
      if (keys.some((k) => !k.kid || k.secret.length < 32)) {
        ctx.addIssue({ code: "custom", message: "each signing key needs a kid and a base64 secret of ≥ 32 chars" });
        return z.NEVER;
      }
      return keys;
    }),
  ENCRYPTION_KEY: z.string().min(40, "ENCRYPTION_KEY must be base64 of 32 bytes"),
  SENDGRID_API_KEY: z.string().optional(),
  SENDGRID_API_URL: z.url().default("https://api.sendgrid.com/v3/mail/send"),
  EMAIL_FROM: z.string().default("Tollgate <no-reply@tollgate.local>"),
  CREDITS_ENABLED: z.enum(["true", "false"]).default("false").transform((v) => v === "true"),
  SIGNUP_CREDIT_MICROS: z.coerce.number().int().min(0).max(1_000_000_000_000).default(5_000_000),
  CREDITS_LOW_THRESHOLD_MICROS: z.coerce.number().int().min(0).max(1_000_000_000_000).default(1_000_000),
  STRIPE_SECRET_KEY: z.string().min(1).optional(),
  STRIPE_WEBHOOK_SECRET: z.string().min(1).optional(),
  STRIPE_API_URL: z.url().default("https://api.stripe.com"),
  STRIPE_PRICE_PRO: z.string().min(1).optional(),
  STRIPE_PRICE_ENTERPRISE: z.string().min(1).optional(),
  BILLING_GRACE_DAYS: z.coerce.number().int().min(0).max(60).default(7),
});

/** Parsed, validated configuration. */
export type Config = z.infer<typeof configSchema>;

const cache = new WeakMap<object, Config>();

/**
 * Validates vars and secrets once per isolate (per env object) and returns the typed config.
 * A misconfigured deployment fails loudly on its first request instead of misbehaving later.
 */
export function getConfig(env: Env): Config {
  let cfg = cache.get(env);
  if (!cfg) {
    const parsed = configSchema.safeParse(env);
    if (!parsed.success) {
      throw new Error(`Invalid Worker configuration: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
    }
    cfg = parsed.data;
    cache.set(env, cfg);
  }
  return cfg;
}

/** True for names and literals only this machine can reach: localhost (and *.localhost), 127.0.0.0/8, ::1. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/\.+$/, "");
  if (h === "localhost" || h.endsWith(".localhost") || h === "[::1]") return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/**
 * Why this deployment must not answer a request for `requestUrl`, or null. ENVIRONMENT=development
 * turns on the public dev outbox (sign-up and password-reset links, no sign-in), so it is served to
 * loopback hosts only: a development build reachable from the internet refuses every request.
 */
export function unsafeDeploymentReason(cfg: Pick<Config, "ENVIRONMENT">, requestUrl: string): string | null {
  if (cfg.ENVIRONMENT !== "development") return null;
  const host = new URL(requestUrl).hostname;
  if (isLoopbackHost(host)) return null;
  return `ENVIRONMENT=development (dev outbox on) but the request is for host '${host}', not loopback: deploy with --env production/staging or the top-level settings, never --env dev`;
}
