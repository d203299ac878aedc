import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { PBKDF2_ITERATIONS } from "../src/lib/crypto";
import { call } from "./factories";
import { callWithEnv, outboxFor, randomIp, signUp, uniqueEmail } from "./factories/identity";

const userRow = (email: string) => env.DB.prepare("SELECT * FROM users WHERE email = ?").bind(email).first<Record<string, any>>();
const countRows = async (sql: string, ...binds: unknown[]) => (await env.DB.prepare(sql).bind(...binds).first<{ n: number }>())!.n;

describe("signup", () => {
  it("creates the user, a personal org they own (multi-org mode), a session and a verification email", async () => {
    const email = uniqueEmail("Signup").toUpperCase();
    const res = await signUp({ email: `  ${email} `, name: "Grace Hopper" });
    expect(res.status).toBe(201);
    const normalised = email.toLowerCase();
    expect(res.body.user).toMatchObject({ email: normalised, name: "Grace Hopper", email_verified: false });
    expect(res.body.user.id).toMatch(/^usr_/);
    expect(new Date(res.body.user.created_at).toISOString()).toBe(res.body.user.created_at);
    expect(res.body.memberships).toHaveLength(1);
    const [m] = res.body.memberships;
    expect(m.role).toBe("owner");
    expect(m.org).toMatchObject({ name: "Grace Hopper's workspace", kind: "personal", plan: "free" });
    expect(m.org.slug).toMatch(/^grace-hopper-[a-z0-9]{8}$/);

    const row = (await userRow(normalised))!;
    expect(row.password_iterations).toBe(PBKDF2_ITERATIONS);
    expect(row.password_salt).toMatch(/^[0-9a-f]{32}$/);
    expect(row.password_hash).toMatch(/^[0-9a-f]{64}$/);

    // Cookie flags as the design pins them.
    const setCookie = res.headers.getSetCookie().find((c) => c.startsWith("__Host-tg_session="))!;
    expect(setCookie).toMatch(/; Path=\//);
    expect(setCookie).toMatch(/; HttpOnly/);
    expect(setCookie).toMatch(/; Secure/);
    expect(setCookie).toMatch(/; SameSite=Lax/);
    const maxAge = Number(/Max-Age=(\d+)/.exec(setCookie)![1]);
    expect(maxAge).toBeGreaterThan(168 * 3600 - 60);
    expect(maxAge).toBeLessThanOrEqual(168 * 3600);

    // The cookie is a working session, backed by a row with IP and user agent.
    const me = await call(res.user, "GET", "/api/me");
    expect(me.status).toBe(200);
    expect(me.body).toEqual(res.body);
    const session = await env.DB.prepare("SELECT * FROM sessions WHERE user_id = ?").bind(row.id).first<Record<string, any>>();
    expect(session).toMatchObject({ user_agent: "tollgate-tests", revoked_at: null });
    expect(session!.ip).toMatch(/^198\.51\./);

    // One audit row for the personal org, attributed to the new user.
    const audit = await env.DB.prepare("SELECT * FROM audit_log WHERE org_id = ?").bind(m.org.id).all<Record<string, any>>();
    expect(audit.results).toHaveLength(1);
    expect(audit.results[0]).toMatchObject({ action: "org.create", actor_type: "user", actor_id: row.id, target_id: m.org.id });

    const mails = await outboxFor(normalised);
    expect(mails).toHaveLength(1);
    expect(mails[0]!.subject).toMatch(/verify/i);
    expect(mails[0]!.text).toMatch(/^http:\/\/localhost:8787\/verify-email\?token=[0-9A-Za-z]{43}$/m);
  });

  it("creates no personal org in single-org mode", async () => {
    const email = uniqueEmail("single");
    const res = await callWithEnv({ ORG_MODE: "single" }, "POST", "/api/auth/signup", { email, password: "a long enough password", name: "Solo" });
    expect(res.status).toBe(201);
    expect(res.body.memberships).toEqual([]);
    const userId = res.body.user.id;
    expect(await countRows("SELECT count(*) AS n FROM memberships WHERE user_id = ?", userId)).toBe(0);
    expect(await countRows("SELECT count(*) AS n FROM orgs WHERE created_by = ?", userId)).toBe(0);
    expect(res.headers.getSetCookie().some((c) => c.startsWith("__Host-tg_session="))).toBe(true);
    expect(await outboxFor(email)).toHaveLength(1);
  });

  it("refuses a second account for the same email, whatever its case, and changes nothing", async () => {
    const first = await signUp();
    const name = `Dup ${uniqueEmail("name")}`;
    const res = await signUp({ email: first.email.toUpperCase(), password: "another long password", name });
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({ code: "conflict", param: "email" });
    expect(res.cookie).toBeNull();
    expect(await countRows("SELECT count(*) AS n FROM users WHERE email = ?", first.email)).toBe(1);
    expect(await countRows("SELECT count(*) AS n FROM users WHERE name = ?", name)).toBe(0);
    expect(await countRows("SELECT count(*) AS n FROM orgs WHERE name = ?", `${name}'s workspace`)).toBe(0);
    expect(await outboxFor(first.email)).toHaveLength(1);
  });

  it("lets exactly one of two simultaneous signups for one email through", async () => {
    const email = uniqueEmail("race");
    const results = await Promise.all([signUp({ email, name: "Racer A" }), signUp({ email, name: "Racer B" })]);
    expect(results.map((r) => r.status).sort()).toEqual([201, 409]);
    expect(await countRows("SELECT count(*) AS n FROM users WHERE email = ?", email)).toBe(1);
    const winner = results.find((r) => r.status === 201)!;
    expect(await countRows("SELECT count(*) AS n FROM memberships WHERE user_id = ?", winner.body.user.id)).toBe(1);
    expect(await countRows("SELECT count(*) AS n FROM orgs WHERE name IN ('Racer A''s workspace', 'Racer B''s workspace') AND created_by NOT IN (SELECT id FROM users)")).toBe(0);
  });

  it.each([
    ["email", { email: "not-an-email", password: "a long enough password", name: "X" }],
    ["email", { password: "a long enough password", name: "X" }],
    ["password", { email: "EMAIL", password: "short", name: "X" }],
    ["password", { email: "EMAIL", password: "x".repeat(257), name: "X" }],
    ["password", { email: "EMAIL", password: 1234567890123, name: "X" }],
    ["name", { email: "EMAIL", password: "a long enough password" }],
    ["name", { email: "EMAIL", password: "a long enough password", name: "   " }],
  ])("answers 400 naming %s for bad input and writes nothing", async (param, raw) => {
    const email = uniqueEmail("bad");
    const input = { ...raw, ...("email" in raw && raw.email === "EMAIL" ? { email } : {}) };
    const res = await call(null, "POST", "/api/auth/signup", input, { headers: { "cf-connecting-ip": randomIp() } });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: "invalid_request", type: "invalid_request", param });
    expect(res.headers.getSetCookie()).toEqual([]);
    expect(await userRow(email)).toBeNull();
    expect(await outboxFor(email)).toEqual([]);
  });

  it("answers 400 to a body that is not JSON", async () => {
    const res = await call(null, "POST", "/api/auth/signup", undefined, { headers: { "content-type": "application/json" } });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("invalid_request");
  });

  it("refuses a signup posted from a foreign origin (login CSRF) and writes nothing", async () => {
    const email = uniqueEmail("csrf");
    const res = await call(null, "POST", "/api/auth/signup", { email, password: "a long enough password", name: "X" }, { headers: { origin: "https://evil.example" } });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe("permission_denied");
    expect(await userRow(email)).toBeNull();
  });
});
