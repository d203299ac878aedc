import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../src/lib/crypto";
import { call, createOrg, type TestUser } from "./factories";
import { emailedToken, logIn, signUp } from "./factories/identity";

type Res = { status: number; body: unknown; headers: Headers };
/** Everything a client can see of a response except the session cookie itself (which must carry the JWT). */
const visible = (r: Res) => JSON.stringify(r.body) + JSON.stringify([...r.headers].filter(([k]) => k !== "set-cookie"));

describe("secrets never leak", () => {
  it("no password, hash, salt or token appears in any response or audit row", async () => {
    const seen: Res[] = [];
    const track = async <T extends Res>(p: Promise<T>) => {
      const r = await p;
      seen.push(r);
      return r;
    };
    const s = await track(signUp());
    const user = s.user!;
    const verifyToken = await emailedToken(s.email, "verify-email");
    await track(call(user, "GET", "/api/me"));
    await track(call(user, "POST", "/api/auth/verify-email/request"));
    const verifyToken2 = await emailedToken(s.email, "verify-email");
    await track(call(null, "POST", "/api/auth/verify-email", { token: verifyToken2 }));
    await track(call(null, "POST", "/api/auth/verify-email", { token: verifyToken }));
    await track(logIn(s.email, s.password));
    await track(logIn(s.email, "wrong password here"));

    const team = await createOrg(user as TestUser);
    const created = await call(user, "POST", `/api/orgs/${team.id}/management-tokens`, { name: "bot", role: "admin" });
    expect(created.status).toBe(201);
    const mgmt = created.body.token as string;
    await track(call({ token: mgmt }, "GET", `/api/orgs/${team.id}/management-tokens`));
    await track(call(user, "POST", `/api/orgs/${team.id}/management-tokens/${created.body.id}/revoke`));
    await track(call({ token: mgmt }, "GET", `/api/orgs/${team.id}/management-tokens`));

    await track(call(null, "POST", "/api/auth/password-reset/request", { email: s.email }));
    const resetToken = await emailedToken(s.email, "reset-password");
    const newPassword = "the replacement password";
    await track(call(null, "POST", "/api/auth/password-reset", { token: resetToken, password: newPassword }));
    await track(call(null, "POST", "/api/auth/password-reset", { token: resetToken, password: newPassword }));
    await track(call(null, "POST", "/api/auth/password-reset", { token: resetToken, password: "short" }));
    await track(call(null, "POST", "/api/auth/signup", { email: s.email, password: s.password, name: "again" }));

    const row = (await env.DB.prepare("SELECT password_hash, password_salt FROM users WHERE id = ?").bind(user.id).first<{ password_hash: string; password_salt: string }>())!;
    const secrets = [
      s.password, newPassword, row.password_hash, row.password_salt, verifyToken, verifyToken2, resetToken, mgmt, mgmt.slice(4),
      await sha256Hex(verifyToken), await sha256Hex(resetToken), await sha256Hex(mgmt),
    ];
    const orgIds = (s.body as { memberships: Array<{ org: { id: string } }> }).memberships.map((m) => m.org.id).concat(team.id);
    const audit = await env.DB.prepare(`SELECT * FROM audit_log WHERE org_id IN (${orgIds.map(() => "?").join(",")})`).bind(...orgIds).all();
    expect(audit.results.length).toBe(3); // personal org created, token created, token revoked
    const haystacks = [...seen.map(visible), JSON.stringify(audit.results)];
    for (const secret of secrets) {
      for (const h of haystacks) expect(h.includes(secret), `secret leaked: ${h.slice(0, 200)}`).toBe(false);
    }
  });
});
