/**
 * Accounts and sessions: signup, login, logout, `/me` (docs/auth.md). Passwords are PBKDF2-SHA256 with a
 * per-user salt and a per-user stored iteration count ({@link PBKDF2_ITERATIONS} for new hashes).
 * Email verification and password reset live in `auth-email.ts`.
 */
import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { BatchItem } from "drizzle-orm/batch";
import type { AppEnv } from "../app-env";
import { auditInsert } from "../db/audit";
import { getDb } from "../db/client";
import { signupCreditStmts } from "../db/credits";
import { recordOrgMode } from "../db/system";
import { findUserByEmail, insertPersonalOrgStatements, insertUserStatement, revokeSession, updatePasswordStatement } from "../db/users";
import { ApiError, validationHook } from "../errors";
import { hashPassword, newSalt, PBKDF2_ITERATIONS, timingSafeEqual } from "../lib/crypto";
import { randomBase62 } from "../lib/encoding";
import { newId } from "../lib/ids";
import { publicRoute, userRoute } from "../lib/route";
import { userActor } from "../middleware/auth";
import { verificationEmail } from "../services/email-templates";
import { signupClaimKey } from "../services/credits";
import { sendEmail } from "../services/mailer";
import { clearSessionCookie, clientIp, prepareSession, setSessionCookie } from "../services/sessions";
import { emailSchema, enforceRateLimits, errorResponses, issueEmailToken, meBody, meSchema, newPasswordSchema, okSchema, refuseForeignOrigin } from "./auth-shared";

/** Login attempts allowed per window, per email and per client IP. */
export const LOGIN_LIMITS = { windowMs: 15 * 60_000, perEmail: 10, perIp: 50 } as const;

// Hashed on unknown emails so a miss costs the same PBKDF2 work as a wrong password.
const DUMMY_SALT = "00000000000000000000000000000000";
const DUMMY_HASH = "0".repeat(64);

const json = <T extends z.ZodType>(schema: T) => ({ content: { "application/json": { schema } } });
const body = <T extends z.ZodType>(schema: T) => ({ body: { ...json(schema), required: true } });

function personalOrgSlug(name: string): string {
  const base = name.toLowerCase().normalize("NFKD").replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 30);
  return `${base || "workspace"}-${randomBase62(8).toLowerCase()}`;
}

const signupBody = z.object({ email: emailSchema, password: newPasswordSchema, name: z.string().trim().min(1).max(100) });
const loginBody = z.object({ email: emailSchema, password: z.string().min(1).max(256) });

export const authRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
authRoutes.use("/auth/*", refuseForeignOrigin);

authRoutes.openapi(
  publicRoute({
    method: "post",
    path: "/auth/signup",
    tags: ["auth"],
    summary: "Create an account and sign in (multi-org mode: with a personal org)",
    request: body(signupBody),
    responses: { 201: { description: "Signed up; session cookie set", ...json(meSchema) }, 409: { description: "Email already registered" }, ...errorResponses },
  }),
  async (c) => {
    const input = c.req.valid("json");
    const cfg = c.var.config;
    const db = getDb(c.env.DB);
    if (await findUserByEmail(db, input.email)) throw new ApiError("conflict", "An account with this email already exists", { param: "email" });

    const userId = newId("usr");
    const salt = newSalt();
    const passwordHash = await hashPassword(input.password, salt, PBKDF2_ITERATIONS);
    const session = prepareSession(c, db, userId);
    const verify = await issueEmailToken(db, userId, "verify_email");
    const statements: BatchItem<"sqlite">[] = [
      insertUserStatement(db, { id: userId, email: input.email, name: input.name, passwordHash, passwordSalt: salt, passwordIterations: PBKDF2_ITERATIONS }),
    ];
    if (cfg.ORG_MODE === "multi") {
      await recordOrgMode(db, cfg.ORG_MODE);
      const org = { orgId: newId("org"), userId, name: `${input.name}'s workspace`, slug: personalOrgSlug(input.name) };
      const actor = { actorType: "user" as const, actorId: userId, actorIp: clientIp(c), userAgent: c.req.header("user-agent") ?? null };
      statements.push(
        ...insertPersonalOrgStatements(db, org),
        auditInsert(db, org.orgId, actor, { action: "org.create", targetType: "org", targetId: org.orgId, after: { name: org.name, slug: org.slug, kind: "personal", owner: userId } }),
      );
      // Prepaid credits: the signup credit, once per email address ever (docs/billing.md#prepaid-credits).
      if (cfg.CREDITS_ENABLED && cfg.SIGNUP_CREDIT_MICROS > 0) {
        statements.push(...signupCreditStmts(db, org.orgId, {
          id: newId("crg"), userId, emailHash: await signupClaimKey(input.email), amountMicros: cfg.SIGNUP_CREDIT_MICROS, createdAt: Date.now(),
        }));
      }
    }
    statements.push(session.statement, ...verify.statements);
    try {
      await db.batch(statements as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
    } catch (e) {
      // Two signups racing for one email: the unique index decides, the loser changes nothing.
      if (String(e).includes("users.email")) throw new ApiError("conflict", "An account with this email already exists", { param: "email" });
      throw e;
    }
    await sendEmail(cfg, db, verificationEmail(cfg.APP_URL, input.email, input.name, verify.token));
    await setSessionCookie(c, session);
    return c.json(await meBody(db, cfg, userId), 201);
  },
);

authRoutes.openapi(
  publicRoute({
    method: "post",
    path: "/auth/login",
    tags: ["auth"],
    summary: "Sign in with email and password",
    request: body(loginBody),
    responses: { 200: { description: "Signed in; session cookie set", ...json(meSchema) }, 401: { description: "Invalid email or password" }, ...errorResponses },
  }),
  async (c) => {
    const { email, password } = c.req.valid("json");
    const db = getDb(c.env.DB);
    const { windowMs, perEmail, perIp } = LOGIN_LIMITS;
    await enforceRateLimits(db, [
      { bucket: `login:email:${email}`, limit: perEmail, windowMs },
      { bucket: `login:ip:${clientIp(c) ?? "unknown"}`, limit: perIp, windowMs },
    ]);
    const user = await findUserByEmail(db, email);
    const derived = await hashPassword(password, user?.passwordSalt ?? DUMMY_SALT, user?.passwordIterations ?? PBKDF2_ITERATIONS);
    const matches = timingSafeEqual(derived, user?.passwordHash ?? DUMMY_HASH);
    if (!user || !matches) throw new ApiError("invalid_api_key", "Invalid email or password");

    const session = prepareSession(c, db, user.id);
    if (user.passwordIterations !== PBKDF2_ITERATIONS) {
      // Upgrade stored hashes to the current work factor while we hold the plaintext.
      const salt = newSalt();
      const upgraded = { passwordHash: await hashPassword(password, salt, PBKDF2_ITERATIONS), passwordSalt: salt, passwordIterations: PBKDF2_ITERATIONS };
      await db.batch([session.statement, updatePasswordStatement(db, user.id, upgraded)]);
    } else {
      await session.statement;
    }
    await setSessionCookie(c, session);
    return c.json(await meBody(db, c.var.config, user.id), 200);
  },
);

authRoutes.openapi(
  publicRoute({
    method: "post",
    path: "/auth/logout",
    tags: ["auth"],
    summary: "Sign out: revokes the session and clears the cookie (succeeds when already signed out)",
    responses: { 200: { description: "Signed out", ...json(okSchema) }, 403: errorResponses[403] },
  }),
  async (c) => {
    const actor = c.var.actor;
    if (actor?.type === "user") await revokeSession(getDb(c.env.DB), actor.sessionId, actor.userId);
    clearSessionCookie(c);
    return c.json({ ok: true as const }, 200);
  },
);

authRoutes.openapi(
  userRoute({
    method: "get",
    path: "/me",
    tags: ["auth"],
    summary: "The signed-in user and their memberships",
    responses: { 200: { description: "Current user", ...json(meSchema) }, 401: { description: "Not signed in" } },
  }),
  async (c) => c.json(await meBody(getDb(c.env.DB), c.var.config, userActor(c.var.actor).userId), 200),
);
