import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { getDb } from "../src/db/client";
import { users } from "../src/db/schema";
import { hashPassword, newSalt, PBKDF2_ITERATIONS } from "../src/lib/crypto";
import { newId } from "../src/lib/ids";
import { LOGIN_LIMITS } from "../src/routes/auth";
import { call, createOrg, createUser, DEFAULT_PASSWORD } from "./factories";
import { logIn, randomIp, sessionCookieOf, signUp, uniqueEmail } from "./factories/identity";

const asCookie = (cookie: string | null) => ({ id: "", email: "", name: "", sessionId: "", cookie: cookie! });
const sessionsOf = (userId: string) => env.DB.prepare("SELECT * FROM sessions WHERE user_id = ? ORDER BY created_at").bind(userId).all<Record<string, any>>().then((r) => r.results);

describe("login", () => {
  it("opens a new session row and cookie, answering like /api/me", async () => {
    const user = await createUser({ email: uniqueEmail("Login") });
    const org = await createOrg(user, { name: "Login Org" });
    const ip = randomIp();
    const res = await logIn(user.email.toUpperCase(), DEFAULT_PASSWORD, ip);
    expect(res.status).toBe(200);
    expect(res.body.user).toMatchObject({ id: user.id, email: user.email, email_verified: true });
    expect(res.body.memberships).toEqual([{ org: { id: org.id, name: "Login Org", slug: org.slug, kind: "team", plan: "free" }, role: "owner" }]);
    expect(res.cookie).toMatch(/^__Host-tg_session=ey/);
    const rows = await sessionsOf(user.id);
    expect(rows).toHaveLength(2); // the factory's and this one
    expect(rows[1]).toMatchObject({ ip, user_agent: "tollgate-tests", revoked_at: null });
    expect(rows[1]!.expires_at - rows[1]!.created_at).toBeGreaterThan(167 * 3_600_000);
    const me = await call(asCookie(res.cookie), "GET", "/api/me");
    expect(me.status).toBe(200);
    expect(me.body.user.id).toBe(user.id);
  });

  it("answers the same generic 401 for a wrong password and an unknown email, without a cookie", async () => {
    const user = await createUser();
    const wrong = await logIn(user.email, "not the password at all");
    const unknown = await logIn(uniqueEmail("nobody"), DEFAULT_PASSWORD);
    for (const res of [wrong, unknown]) {
      expect(res.status).toBe(401);
      expect(res.body.error).toMatchObject({ code: "invalid_api_key", message: "Invalid email or password", param: null });
      expect(res.cookie).toBeNull();
    }
    expect(await sessionsOf(user.id)).toHaveLength(1);
  });

  it("rate limits attempts per email, even with the right password afterwards", async () => {
    const user = await createUser();
    for (let i = 0; i < LOGIN_LIMITS.perEmail; i++) expect((await logIn(user.email, "wrong password!!")).status).toBe(401);
    const blocked = await logIn(user.email, DEFAULT_PASSWORD);
    expect(blocked.status).toBe(429);
    expect(blocked.body.error.code).toBe("rate_limit_exceeded");
    const retry = Number(blocked.headers.get("retry-after"));
    expect(retry).toBeGreaterThan(0);
    expect(retry).toBeLessThanOrEqual(LOGIN_LIMITS.windowMs / 1000);
    expect(blocked.cookie).toBeNull();
    expect(await sessionsOf(user.id)).toHaveLength(1);
  });

  it("rate limits attempts per client IP across emails", async () => {
    const ip = randomIp();
    for (let i = 0; i < LOGIN_LIMITS.perIp; i++) await logIn(uniqueEmail("spray"), "whatever password", ip);
    const user = await createUser();
    const blocked = await logIn(user.email, DEFAULT_PASSWORD, ip);
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get("retry-after")).toMatch(/^\d+$/);
    expect((await logIn(user.email, DEFAULT_PASSWORD, randomIp())).status).toBe(200);
  });

  it("upgrades a stored hash with an older iteration count", async () => {
    const email = uniqueEmail("legacy");
    const salt = newSalt();
    const id = newId("usr");
    await getDb(env.DB).insert(users).values({ id, email, name: "Legacy", passwordHash: await hashPassword("legacy password 1", salt, 1000), passwordSalt: salt, passwordIterations: 1000 });
    expect((await logIn(email, "legacy password 1")).status).toBe(200);
    const row = await env.DB.prepare("SELECT * FROM users WHERE id = ?").bind(id).first<Record<string, any>>();
    expect(row!.password_iterations).toBe(PBKDF2_ITERATIONS);
    expect(row!.password_salt).not.toBe(salt);
    expect((await logIn(email, "legacy password 1")).status).toBe(200);
    expect((await logIn(email, "wrong password x")).status).toBe(401);
  });

  it.each([
    ["email", { password: "x" }],
    ["email", { email: "nope", password: "x" }],
    ["password", { email: "a@example.com" }],
    ["password", { email: "a@example.com", password: "" }],
  ])("answers 400 naming %s for bad input", async (param, input) => {
    const res = await call(null, "POST", "/api/auth/login", input, { headers: { "cf-connecting-ip": randomIp() } });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: "invalid_request", param });
  });

  it("refuses a login posted from a foreign origin (login CSRF) but accepts one without Origin (API clients)", async () => {
    const user = await createUser();
    const foreign = await call(null, "POST", "/api/auth/login", { email: user.email, password: DEFAULT_PASSWORD }, { headers: { origin: "https://evil.example", "cf-connecting-ip": randomIp() } });
    expect(foreign.status).toBe(403);
    expect(sessionCookieOf(foreign.headers)).toBeNull();
    expect(await sessionsOf(user.id)).toHaveLength(1);
    const { SELF } = await import("cloudflare:test");
    const res = await SELF.fetch("http://localhost/api/auth/login", {
      method: "POST",
      headers: { "content-type": "application/json", "cf-connecting-ip": randomIp() },
      body: JSON.stringify({ email: user.email, password: DEFAULT_PASSWORD }),
    });
    expect(res.status).toBe(200);
  });
});

describe("logout", () => {
  it("revokes the session row and clears the cookie; the old cookie stops working", async () => {
    const s = await signUp();
    const other = await logIn(s.email, s.password);
    const res = await call(s.user, "POST", "/api/auth/logout");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ok: true });
    const cleared = res.headers.getSetCookie().find((c) => c.startsWith("__Host-tg_session="))!;
    expect(cleared).toMatch(/Max-Age=0/);
    const rows = await sessionsOf(s.body.user.id);
    expect(rows.filter((r) => r.revoked_at !== null)).toHaveLength(1);
    expect((await call(s.user, "GET", "/api/me")).status).toBe(401);
    // Only that session: the other device stays signed in.
    expect((await call(asCookie(other.cookie), "GET", "/api/me")).status).toBe(200);
  });

  it("succeeds when already signed out", async () => {
    const res = await call(null, "POST", "/api/auth/logout");
    expect(res.status).toBe(200);
    expect(res.headers.getSetCookie().some((c) => c.startsWith("__Host-tg_session=;"))).toBe(true);
  });
});

describe("/api/me", () => {
  it("lists every membership with the org's kind, plan and the user's role", async () => {
    const s = await signUp({ name: "Multi" });
    const owner = await createUser();
    const team = await createOrg(owner, { name: "Team T", plan: "pro" });
    await env.DB.prepare("INSERT INTO memberships (org_id, user_id, role) VALUES (?, ?, 'viewer')").bind(team.id, s.body.user.id).run();
    const me = await call(s.user, "GET", "/api/me");
    expect(me.status).toBe(200);
    expect(me.body.memberships).toHaveLength(2);
    expect(me.body.memberships[0].org.kind).toBe("personal");
    expect(me.body.memberships[1]).toEqual({ org: { id: team.id, name: "Team T", slug: team.slug, kind: "team", plan: "pro" }, role: "viewer" });
  });

  it("answers 401 when anonymous or with a garbage cookie", async () => {
    expect((await call(null, "GET", "/api/me")).status).toBe(401);
    const garbage = await call(asCookie("__Host-tg_session=not.a.jwt"), "GET", "/api/me");
    expect(garbage.status).toBe(401);
    expect(garbage.body.error.code).toBe("invalid_api_key");
  });
});
