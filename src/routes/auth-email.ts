/**
 * Email verification and password reset (docs/auth.md). Tokens: 256 bits of base62, only the SHA-256 stored,
 * single use, 48 h (verify) / 1 h (reset); a new request retires the previous link. Links point at the
 * dashboard pages `${APP_URL}/verify-email?token=…` and `${APP_URL}/reset-password?token=…`.
 */
import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { getDb } from "../db/client";
import { findPublicUser, findUsableEmailToken, findUserByEmail, resetPasswordWithToken, verifyEmailWithToken } from "../db/users";
import { ApiError, validationHook } from "../errors";
import { hashPassword, newSalt, PBKDF2_ITERATIONS, sha256Hex } from "../lib/crypto";
import { publicRoute, userRoute } from "../lib/route";
import { userActor } from "../middleware/auth";
import { passwordResetEmail, verificationEmail } from "../services/email-templates";
import { sendEmail } from "../services/mailer";
import { clearSessionCookie, clientIp } from "../services/sessions";
import { emailSchema, emailTokenSchema, enforceRateLimits, errorResponses, issueEmailToken, newPasswordSchema, okSchema, refuseForeignOrigin } from "./auth-shared";

const HOUR = 3_600_000;
/** Emails a user can trigger per hour (verification resends; reset requests per address and per IP). */
export const EMAIL_LIMITS = { verifyPerUser: 5, resetPerEmail: 5, resetPerIp: 30 } as const;

const json = <T extends z.ZodType>(schema: T) => ({ content: { "application/json": { schema } } });
const body = <T extends z.ZodType>(schema: T) => ({ body: { ...json(schema), required: true } });
const invalidToken = () => new ApiError("invalid_request", "This link is invalid, already used or expired; request a new one", { param: "token" });

export const authEmailRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
authEmailRoutes.use("/auth/*", refuseForeignOrigin);

authEmailRoutes.openapi(
  userRoute({
    method: "post",
    path: "/auth/verify-email/request",
    tags: ["auth"],
    summary: "Send (again) the email-verification link to the signed-in user",
    responses: { 200: { description: "Sent", ...json(okSchema) }, 409: { description: "Already verified" }, 429: errorResponses[429] },
  }),
  async (c) => {
    const { userId } = userActor(c.var.actor);
    const db = getDb(c.env.DB);
    const user = await findPublicUser(db, userId);
    if (!user) throw new ApiError("invalid_api_key", "Sign in first");
    if (user.email_verified) throw new ApiError("conflict", "Your email address is already verified");
    await enforceRateLimits(db, [{ bucket: `verify-email:user:${userId}`, limit: EMAIL_LIMITS.verifyPerUser, windowMs: HOUR }]);
    const { token, statements } = await issueEmailToken(db, userId, "verify_email");
    await db.batch(statements);
    await sendEmail(c.var.config, db, verificationEmail(c.var.config.APP_URL, user.email, user.name, token));
    return c.json({ ok: true as const }, 200);
  },
);

authEmailRoutes.openapi(
  publicRoute({
    method: "post",
    path: "/auth/verify-email",
    tags: ["auth"],
    summary: "Verify an email address with the emailed token (works signed out)",
    request: body(z.object({ token: emailTokenSchema })),
    responses: { 200: { description: "Verified", ...json(okSchema) }, ...errorResponses },
  }),
  async (c) => {
    const db = getDb(c.env.DB);
    const found = await findUsableEmailToken(db, await sha256Hex(c.req.valid("json").token), "verify_email");
    if (!found || !(await verifyEmailWithToken(db, found))) throw invalidToken();
    return c.json({ ok: true as const }, 200);
  },
);

authEmailRoutes.openapi(
  publicRoute({
    method: "post",
    path: "/auth/password-reset/request",
    tags: ["auth"],
    summary: "Email a password-reset link. Answers 202 whether or not the address has an account",
    request: body(z.object({ email: emailSchema })),
    responses: { 202: { description: "If the address has an account, a link is on its way", ...json(okSchema) }, ...errorResponses },
  }),
  async (c) => {
    const { email } = c.req.valid("json");
    const db = getDb(c.env.DB);
    // Counted for every address, known or not, so the limit itself reveals nothing.
    await enforceRateLimits(db, [
      { bucket: `reset:email:${email}`, limit: EMAIL_LIMITS.resetPerEmail, windowMs: HOUR },
      { bucket: `reset:ip:${clientIp(c) ?? "unknown"}`, limit: EMAIL_LIMITS.resetPerIp, windowMs: HOUR },
    ]);
    const user = await findUserByEmail(db, email);
    if (user) {
      const { token, statements } = await issueEmailToken(db, user.id, "reset_password");
      await db.batch(statements);
      await sendEmail(c.var.config, db, passwordResetEmail(c.var.config.APP_URL, user.email, user.name, token));
    }
    return c.json({ ok: true as const }, 202);
  },
);

authEmailRoutes.openapi(
  publicRoute({
    method: "post",
    path: "/auth/password-reset",
    tags: ["auth"],
    summary: "Set a new password with the emailed token; signs the user out everywhere",
    request: body(z.object({ token: emailTokenSchema, password: newPasswordSchema })),
    responses: { 200: { description: "Password changed; every session revoked", ...json(okSchema) }, ...errorResponses },
  }),
  async (c) => {
    const { token, password } = c.req.valid("json");
    const db = getDb(c.env.DB);
    const found = await findUsableEmailToken(db, await sha256Hex(token), "reset_password");
    if (!found) throw invalidToken();
    const salt = newSalt();
    const material = { passwordHash: await hashPassword(password, salt, PBKDF2_ITERATIONS), passwordSalt: salt, passwordIterations: PBKDF2_ITERATIONS };
    if (!(await resetPasswordWithToken(db, found, material))) throw invalidToken();
    clearSessionCookie(c);
    return c.json({ ok: true as const }, 200);
  },
);
