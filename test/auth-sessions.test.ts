/**
 * A user's own sessions: list (with `current`), revoke one, revoke all others, and password change
 * (current password re-checked; every other session revoked, this one kept).
 */
import { describe, expect, it } from "vitest";
import { call, createSession, createUser, DEFAULT_PASSWORD, type TestUser } from "./factories";
import { logIn } from "./factories/identity";

const as = (u: TestUser, s: { sessionId: string; cookie: string }): TestUser => ({ ...u, ...s });
const alive = async (u: TestUser) => (await call(u, "GET", "/api/me")).status === 200;

describe("GET /api/me/sessions", () => {
  it("lists the caller's live sessions newest first with IP and user agent, marking the current one", async () => {
    const user = await createUser();
    const login = await logIn(user.email, DEFAULT_PASSWORD, "198.51.100.23");
    expect(login.status).toBe(200);
    const other = await createUser();
    const res = await call(user, "GET", "/api/me/sessions");
    expect(res.status).toBe(200);
    const data = res.body.data as Array<{ id: string; current: boolean; ip: string | null; user_agent: string | null; created_at: string; expires_at: string }>;
    expect(data).toHaveLength(2);
    expect(data.filter((s) => s.current).map((s) => s.id)).toEqual([user.sessionId]);
    const viaLogin = data.find((s) => !s.current)!;
    expect(viaLogin).toMatchObject({ ip: "198.51.100.23", user_agent: "tollgate-tests" });
    expect(new Date(viaLogin.expires_at).getTime()).toBeGreaterThan(Date.now());
    expect(data.some((s) => s.id === other.sessionId)).toBe(false);
  });

  it("needs a signed-in user", async () => {
    expect((await call(null, "GET", "/api/me/sessions")).status).toBe(401);
  });
});

describe("DELETE /api/me/sessions/:id and /api/me/sessions", () => {
  it("revokes one session: that browser is signed out at its next request, the caller stays in", async () => {
    const user = await createUser();
    const laptop = as(user, await createSession(user.id));
    expect(await alive(laptop)).toBe(true);
    const res = await call(user, "DELETE", `/api/me/sessions/${laptop.sessionId}`);
    expect(res.status).toBe(200);
    expect(await alive(laptop)).toBe(false);
    expect(await alive(user)).toBe(true);
    expect((await call(user, "GET", "/api/me/sessions")).body.data.map((s: { id: string }) => s.id)).toEqual([user.sessionId]);
  });

  it("answers 404 for another user's session and leaves it alive", async () => {
    const user = await createUser();
    const stranger = await createUser();
    const res = await call(user, "DELETE", `/api/me/sessions/${stranger.sessionId}`);
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe("not_found");
    expect(await alive(stranger)).toBe(true);
  });

  it("revoking the current session signs the caller out and clears the cookie", async () => {
    const user = await createUser();
    const res = await call(user, "DELETE", `/api/me/sessions/${user.sessionId}`);
    expect(res.status).toBe(200);
    expect(res.headers.getSetCookie().join(";")).toMatch(/Max-Age=0/i);
    expect(await alive(user)).toBe(false);
  });

  it("revokes every other session and keeps the current one", async () => {
    const user = await createUser();
    const a = as(user, await createSession(user.id));
    const b = as(user, await createSession(user.id));
    const res = await call(user, "DELETE", "/api/me/sessions");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ revoked: 2 });
    expect([await alive(a), await alive(b), await alive(user)]).toEqual([false, false, true]);
  });
});

describe("POST /api/me/password", () => {
  it("with the right current password: changes it, revokes every other session, keeps this one", async () => {
    const user = await createUser();
    const phone = as(user, await createSession(user.id));
    const res = await call(user, "POST", "/api/me/password", { current_password: DEFAULT_PASSWORD, new_password: "a brand new passphrase" });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ok: true, revoked_sessions: 1 });
    expect(await alive(phone)).toBe(false);
    expect(await alive(user)).toBe(true);
    expect((await logIn(user.email, DEFAULT_PASSWORD)).status).toBe(401);
    expect((await logIn(user.email, "a brand new passphrase")).status).toBe(200);
  });

  it("with a wrong current password: 401 on current_password and nothing changes", async () => {
    const user = await createUser();
    const phone = as(user, await createSession(user.id));
    const res = await call(user, "POST", "/api/me/password", { current_password: "not my password", new_password: "a brand new passphrase" });
    expect(res.status).toBe(401);
    expect(res.body.error).toMatchObject({ code: "invalid_api_key", param: "current_password" });
    expect(await alive(phone)).toBe(true);
    expect((await logIn(user.email, DEFAULT_PASSWORD)).status).toBe(200);
  });

  it("refuses a too-short new password with 400 on new_password", async () => {
    const user = await createUser();
    const res = await call(user, "POST", "/api/me/password", { current_password: DEFAULT_PASSWORD, new_password: "short" });
    expect(res.status).toBe(400);
    expect(res.body.error.param).toBe("new_password");
  });
});
