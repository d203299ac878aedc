/**
 * Pieces shared by the auth route groups (`auth.ts`, `auth-email.ts`): request/response schemas,
 * the login-CSRF origin guard, rate-limit enforcement and email-token issuing.
 */
import { z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../app-env";
import type { Db } from "../db/client";
import { getOrgMode } from "../db/orgs";
import { hitRateLimit } from "../db/rate-limits";
import { type EmailTokenPurpose, findPublicUser, insertEmailTokenStatement, listMembershipsOfUser, retireEmailTokensStatement } from "../db/users";
import type { Config } from "../env";
import { ApiError } from "../errors";
import { sha256Hex } from "../lib/crypto";
import { randomBase62 } from "../lib/encoding";
import { newId } from "../lib/ids";
import { assertSameOrigin } from "../middleware/auth";

/** Normalised email: trimmed, lowercase, valid, ≤ 254 chars. */
export const emailSchema = z.string().trim().toLowerCase().pipe(z.email().max(254)).openapi({ example: "ada@example.com", format: "email" });

/** A new password: 10–256 characters (length is what matters; no composition rules, per NIST SP 800-63B). */
export const newPasswordSchema = z.string().min(10, "Password must be at least 10 characters").max(256, "Password must be at most 256 characters");

/** An emailed single-use token as it arrives from the dashboard page. */
export const emailTokenSchema = z.string().min(20).max(128).regex(/^[0-9A-Za-z]+$/, "Malformed token");

export const userSchema = z
  .object({ id: z.string(), email: z.string(), name: z.string(), email_verified: z.boolean(), created_at: z.string() })
  .openapi("User");

export const meSchema = z
  .object({
    user: userSchema,
    memberships: z.array(
      z.object({
        org: z.object({ id: z.string(), name: z.string(), slug: z.string(), kind: z.enum(["personal", "team"]), plan: z.string() }),
        role: z.enum(["owner", "admin", "member", "viewer"]),
      }),
    ),
    org_mode: z.enum(["single", "multi"]).openapi({ description: "`single`: one organization per user; the dashboard offers no org switcher and no org creation" }),
  })
  .openapi("Me");

export const okSchema = z.object({ ok: z.literal(true) });

/** Error responses the auth routes document (bodies have the shared OpenAI error shape). */
export const errorResponses = {
  400: { description: "Invalid input (`invalid_request`, `param` names the field); nothing changed" },
  403: { description: "Cross-site request refused (`permission_denied`)" },
  429: { description: "Too many attempts (`rate_limit_exceeded`, see `Retry-After`)" },
} as const;

/** Lifetimes of emailed tokens. */
export const EMAIL_TOKEN_TTL_MS: Record<EmailTokenPurpose, number> = { verify_email: 48 * 3_600_000, reset_password: 3_600_000 };

/**
 * Login CSRF guard for the anonymous auth forms: a browser always sends Origin on a cross-site POST, so a
 * present-but-foreign Origin is refused. Requests without Origin (curl, SDKs) carry no ambient credentials and pass.
 */
export const refuseForeignOrigin: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (c.req.method === "POST" && c.req.header("origin") !== undefined) assertSameOrigin(c.req.raw, c.var.config.APP_URL);
  await next();
};

/** Counts one hit on every bucket and throws 429 with `Retry-After` when any is over its limit. */
export async function enforceRateLimits(db: Db, buckets: Array<{ bucket: string; limit: number; windowMs: number }>): Promise<void> {
  const hits = await Promise.all(buckets.map((b) => hitRateLimit(db, b.bucket, b.limit, b.windowMs)));
  const retry = Math.max(0, ...hits.map((h) => (h.allowed ? 0 : h.retryAfterSeconds)));
  if (hits.some((h) => !h.allowed)) {
    throw new ApiError("rate_limit_exceeded", "Too many attempts; try again later", {}, { "Retry-After": String(Math.max(1, retry)) });
  }
}

/** The `/api/me` body of a user (throws 401 if the user vanished). */
export async function meBody(db: Db, cfg: Pick<Config, "ORG_MODE">, userId: string) {
  const user = await findPublicUser(db, userId);
  if (!user) throw new ApiError("invalid_api_key", "Sign in first");
  const [memberships, org_mode] = await Promise.all([listMembershipsOfUser(db, userId), getOrgMode(db, cfg)]);
  return { user, memberships, org_mode };
}

/**
 * A fresh single-use token (256 bits, base62) for `purpose`. Returns the plaintext (for the email only) and the
 * statements that retire older tokens of the same purpose and store this one's SHA-256.
 */
export async function issueEmailToken(db: Db, userId: string, purpose: EmailTokenPurpose, now = Date.now()) {
  const token = randomBase62(43);
  const statements = [
    retireEmailTokensStatement(db, userId, purpose, now),
    insertEmailTokenStatement(db, { id: newId("tok"), userId, purpose, tokenHash: await sha256Hex(token), expiresAt: now + EMAIL_TOKEN_TTL_MS[purpose] }),
  ] as const;
  return { token, statements };
}

