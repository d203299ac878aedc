import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../src/lib/crypto";
import { EMAIL_LIMITS } from "../src/routes/auth-email";
import { call, createUser } from "./factories";
import { emailedToken, logIn, outboxFor, randomIp, signUp, uniqueEmail } from "./factories/identity";

const tokenRow = async (token: string) => env.DB.prepare("SELECT * FROM email_tokens WHERE token_hash = ?").bind(await sha256Hex(token)).first<Record<string, any>>();
const expire = async (token: string) => env.DB.prepare("UPDATE email_tokens SET expires_at = ? WHERE token_hash = ?").bind(Date.now() - 1, await sha256Hex(token)).run();
const userRow = (id: string) => env.DB.prepare("SELECT * FROM users WHERE id = ?").bind(id).first<Record<string, any>>();
const requestReset = (email: string, ip = randomIp()) => call(null, "POST", "/api/auth/password-reset/request", { email }, { headers: { "cf-connecting-ip": ip } });

describe("email verification", () => {
  it("verifies with the emailed token once; the token is stored only as its SHA-256 and expires in 48 h", async () => {
    const s = await signUp();
    const token = await emailedToken(s.email, "verify-email");
    expect(token).toMatch(/^[0-9A-Za-z]{43}$/);
    const row = (await tokenRow(token))!;
    expect(row).toMatchObject({ purpose: "verify_email", used_at: null, user_id: s.body.user.id });
    expect(row.expires_at - row.created_at).toBeGreaterThan(47.9 * 3_600_000);
    expect(row.expires_at - row.created_at).toBeLessThanOrEqual(48 * 3_600_000 + 1000);
    const plaintextHits = await env.DB.prepare("SELECT count(*) AS n FROM email_tokens WHERE token_hash = ? OR id = ?").bind(token, token).first<{ n: number }>();
    expect(plaintextHits!.n).toBe(0);

    const res = await call(null, "POST", "/api/auth/verify-email", { token });
    expect(res.status).toBe(200);
    expect((await call(s.user, "GET", "/api/me")).body.user.email_verified).toBe(true);
    const again = await call(null, "POST", "/api/auth/verify-email", { token });
    expect(again.status).toBe(400);
    expect(again.body.error).toMatchObject({ code: "invalid_request", param: "token" });
  });

  it("resends on request, retiring the previous link", async () => {
    const s = await signUp();
    const first = await emailedToken(s.email, "verify-email");
    const res = await call(s.user, "POST", "/api/auth/verify-email/request");
    expect(res.status).toBe(200);
    const second = await emailedToken(s.email, "verify-email");
    expect(second).not.toBe(first);
    expect((await outboxFor(s.email)).length).toBe(2);
    expect((await call(null, "POST", "/api/auth/verify-email", { token: first })).status).toBe(400);
    expect((await call(null, "POST", "/api/auth/verify-email", { token: second })).status).toBe(200);
    // Verified now: asking again is a conflict and sends nothing.
    const done = await call(s.user, "POST", "/api/auth/verify-email/request");
    expect(done.status).toBe(409);
    expect((await outboxFor(s.email)).length).toBe(2);
  });

  it("limits resends per user", async () => {
    const s = await signUp();
    for (let i = 0; i < EMAIL_LIMITS.verifyPerUser; i++) expect((await call(s.user, "POST", "/api/auth/verify-email/request")).status).toBe(200);
    const blocked = await call(s.user, "POST", "/api/auth/verify-email/request");
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get("retry-after")).toMatch(/^\d+$/);
    expect((await outboxFor(s.email)).length).toBe(1 + EMAIL_LIMITS.verifyPerUser);
  });

  it("needs a signed-in user to request a resend", async () => {
    const res = await call(null, "POST", "/api/auth/verify-email/request");
    expect(res.status).toBe(401);
  });

  it("refuses an expired, unknown or malformed token and verifies nothing", async () => {
    const s = await signUp();
    const token = await emailedToken(s.email, "verify-email");
    await expire(token);
    for (const t of [token, "A".repeat(43)]) {
      const res = await call(null, "POST", "/api/auth/verify-email", { token: t });
      expect(res.status).toBe(400);
      expect(res.body.error.param).toBe("token");
    }
    for (const body of [{}, { token: "short" }, { token: "has spaces in it which is not base62" }]) {
      const res = await call(null, "POST", "/api/auth/verify-email", body);
      expect(res.status).toBe(400);
      expect(res.body.error.param).toBe("token");
    }
    expect((await userRow(s.body.user.id))!.email_verified_at).toBeNull();
  });
});

describe("password reset", () => {
  it("answers 202 for an unknown address and sends nothing", async () => {
    const email = uniqueEmail("ghost");
    const res = await requestReset(email);
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ ok: true });
    expect(await outboxFor(email)).toEqual([]);
  });

  it("emails a 1-hour link; using it sets the password, revokes every session, and works once", async () => {
    const s = await signUp();
    const second = await logIn(s.email, s.password);
    expect(second.status).toBe(200);
    const res = await requestReset(s.email.toUpperCase());
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ ok: true });
    const token = await emailedToken(s.email, "reset-password");
    const mail = (await outboxFor(s.email))[0]!;
    expect(mail.text).toContain(`http://localhost:8787/reset-password?token=${token}`);
    const row = (await tokenRow(token))!;
    expect(row.purpose).toBe("reset_password");
    expect(row.expires_at - row.created_at).toBeLessThanOrEqual(3_600_000 + 1000);
    expect(row.expires_at - row.created_at).toBeGreaterThan(3_590_000);

    const done = await call(null, "POST", "/api/auth/password-reset", { token, password: "my brand new password" });
    expect(done.status).toBe(200);
    const sessions = await env.DB.prepare("SELECT revoked_at FROM sessions WHERE user_id = ?").bind(s.body.user.id).all<{ revoked_at: number | null }>();
    expect(sessions.results.length).toBe(2);
    expect(sessions.results.every((r) => r.revoked_at !== null)).toBe(true);
    expect((await call(s.user, "GET", "/api/me")).status).toBe(401);

    expect((await logIn(s.email, s.password)).status).toBe(401);
    expect((await logIn(s.email, "my brand new password")).status).toBe(200);
    // Following the emailed link proves the mailbox.
    expect((await userRow(s.body.user.id))!.email_verified_at).not.toBeNull();

    const reuse = await call(null, "POST", "/api/auth/password-reset", { token, password: "yet another password" });
    expect(reuse.status).toBe(400);
    expect(reuse.body.error.param).toBe("token");
    expect((await logIn(s.email, "my brand new password")).status).toBe(200);
  });

  it("keeps only the newest link working", async () => {
    const user = await createUser();
    await requestReset(user.email);
    const first = await emailedToken(user.email, "reset-password");
    await requestReset(user.email);
    const second = await emailedToken(user.email, "reset-password");
    expect(second).not.toBe(first);
    expect((await call(null, "POST", "/api/auth/password-reset", { token: first, password: "new password one" })).status).toBe(400);
    expect((await call(null, "POST", "/api/auth/password-reset", { token: second, password: "new password two" })).status).toBe(200);
  });

  it("refuses an expired token and a too-short password, changing nothing (the token stays usable after bad input)", async () => {
    const user = await createUser();
    await requestReset(user.email);
    const token = await emailedToken(user.email, "reset-password");
    const before = await userRow(user.id);

    const short = await call(null, "POST", "/api/auth/password-reset", { token, password: "short" });
    expect(short.status).toBe(400);
    expect(short.body.error.param).toBe("password");
    expect(await userRow(user.id)).toEqual(before);
    expect((await tokenRow(token))!.used_at).toBeNull();
    expect((await call(user, "GET", "/api/me")).status).toBe(200);

    await expire(token);
    const expired = await call(null, "POST", "/api/auth/password-reset", { token, password: "a long enough password" });
    expect(expired.status).toBe(400);
    expect(expired.body.error).toMatchObject({ code: "invalid_request", param: "token" });
    expect(await userRow(user.id)).toEqual(before);
    expect((await call(user, "GET", "/api/me")).status).toBe(200);
  });

  it("does not accept a verification token as a reset token", async () => {
    const s = await signUp();
    const token = await emailedToken(s.email, "verify-email");
    const res = await call(null, "POST", "/api/auth/password-reset", { token, password: "a long enough password" });
    expect(res.status).toBe(400);
    expect((await logIn(s.email, s.password)).status).toBe(200);
  });

  it("rate limits requests per address whether or not it has an account", async () => {
    const email = uniqueEmail("limit");
    for (let i = 0; i < EMAIL_LIMITS.resetPerEmail; i++) expect((await requestReset(email)).status).toBe(202);
    const blocked = await requestReset(email);
    expect(blocked.status).toBe(429);
    expect(blocked.body.error.code).toBe("rate_limit_exceeded");
  });

  it("answers 400 naming the field for a malformed request", async () => {
    const res = await call(null, "POST", "/api/auth/password-reset/request", { email: "nope" });
    expect(res.status).toBe(400);
    expect(res.body.error.param).toBe("email");
    const missing = await call(null, "POST", "/api/auth/password-reset", { password: "a long enough password" });
    expect(missing.status).toBe(400);
    expect(missing.body.error.param).toBe("token");
  });
});

describe("password reset under concurrency", () => {
  it("lets exactly one of two simultaneous uses of a token through", async () => {
    const user = await createUser();
    await requestReset(user.email);
    const token = await emailedToken(user.email, "reset-password");
    const results = await Promise.all([
      call(null, "POST", "/api/auth/password-reset", { token, password: "first new password" }),
      call(null, "POST", "/api/auth/password-reset", { token, password: "second new password" }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 400]);
    const winner = results[0]!.status === 200 ? "first new password" : "second new password";
    const loser = winner === "first new password" ? "second new password" : "first new password";
    expect((await logIn(user.email, winner)).status).toBe(200);
    expect((await logIn(user.email, loser)).status).toBe(401);
  });
});
