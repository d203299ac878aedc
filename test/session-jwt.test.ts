import { env } from "cloudflare:test";
import { SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { getConfig } from "../src/env";
import { base64ToBytes } from "../src/lib/encoding";
import { SESSION_JWT, signSessionJwt, verifySessionJwt } from "../src/lib/session-jwt";
import { call, createUser, type TestUser } from "./factories";

const cfg = getConfig(env);
const [current, rotated] = cfg.SESSION_SIGNING_KEYS;
const b64url = (o: unknown) => btoa(JSON.stringify(o)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
const withJwt = (user: TestUser, jwt: string): TestUser => ({ ...user, cookie: `${SESSION_JWT.cookie}=${jwt}` });
const inOneHour = () => Math.floor(Date.now() / 1000) + 3600;

/** A token like the real one, with any part overridden. */
async function forge(user: TestUser, o: { alg?: string; kid?: string; secret?: Uint8Array; iss?: string; aud?: string; exp?: number; sid?: string } = {}) {
  return new SignJWT({ sid: o.sid ?? user.sessionId })
    .setProtectedHeader({ alg: o.alg ?? "HS256", kid: o.kid ?? current!.kid, typ: "JWT" })
    .setSubject(user.id)
    .setIssuer(o.iss ?? SESSION_JWT.issuer)
    .setAudience(o.aud ?? SESSION_JWT.audience)
    .setIssuedAt()
    .setExpirationTime(o.exp ?? inOneHour())
    .sign(o.secret ?? base64ToBytes(current!.secret));
}

async function expectRefused(user: TestUser, jwt: string) {
  const res = await call(withJwt(user, jwt), "GET", "/api/me");
  expect(res.status).toBe(401);
  expect(res.body.error.code).toBe("invalid_api_key");
  expect(await verifySessionJwt(cfg, jwt)).toBeNull();
}

describe("session JWT hardening", () => {
  it("accepts the genuine token (control)", async () => {
    const user = await createUser();
    expect((await call(user, "GET", "/api/me")).status).toBe(200);
    const jwt = await forge(user);
    expect((await call(withJwt(user, jwt), "GET", "/api/me")).status).toBe(200);
  });

  it("refuses alg: none", async () => {
    const user = await createUser();
    const payload = { sid: user.sessionId, sub: user.id, iss: SESSION_JWT.issuer, aud: SESSION_JWT.audience, iat: Math.floor(Date.now() / 1000), exp: inOneHour() };
    await expectRefused(user, `${b64url({ alg: "none", typ: "JWT", kid: current!.kid })}.${b64url(payload)}.`);
  });

  it("refuses another HMAC algorithm even with the right key", async () => {
    const user = await createUser();
    await expectRefused(user, await forge(user, { alg: "HS512" }));
  });

  it("refuses a token signed with a wrong key", async () => {
    const user = await createUser();
    await expectRefused(user, await forge(user, { secret: new TextEncoder().encode("an-attacker-chosen-secret-of-32-bytes!!") }));
  });

  it("refuses an expired token", async () => {
    const user = await createUser();
    await expectRefused(user, await signSessionJwt(cfg, { userId: user.id, sessionId: user.sessionId }, Date.now() - 60_000));
  });

  it("refuses a wrong audience and a wrong issuer", async () => {
    const user = await createUser();
    await expectRefused(user, await forge(user, { aud: "someone-else" }));
    await expectRefused(user, await forge(user, { iss: "evil" }));
  });

  it("refuses an unknown kid, even when the signature uses a real key", async () => {
    const user = await createUser();
    await expectRefused(user, await forge(user, { kid: "nope" }));
  });

  it("refuses a token whose kid names one key but is signed with the other", async () => {
    const user = await createUser();
    await expectRefused(user, await forge(user, { kid: rotated!.kid, secret: base64ToBytes(current!.secret) }));
  });

  it("accepts a token signed with the second (rotated-out) key, and signs new ones with the first", async () => {
    const user = await createUser();
    const old = await forge(user, { kid: rotated!.kid, secret: base64ToBytes(rotated!.secret) });
    expect((await call(withJwt(user, old), "GET", "/api/me")).status).toBe(200);
    const fresh = await signSessionJwt(cfg, { userId: user.id, sessionId: user.sessionId }, Date.now() + 60_000);
    expect(JSON.parse(atob(fresh.split(".")[0]!))).toEqual({ alg: "HS256", kid: current!.kid, typ: "JWT" });
  });

  it("refuses a valid token whose session row is revoked, expired, or belongs to someone else", async () => {
    const user = await createUser();
    const other = await createUser();
    // Valid signature, but the session id belongs to another user.
    await expectRefusedRoute(user, await forge(user, { sid: other.sessionId }));
    await env.DB.prepare("UPDATE sessions SET expires_at = ? WHERE id = ?").bind(Date.now() - 1, other.sessionId).run();
    await expectRefusedRoute(other, await forge(other));
    await env.DB.prepare("UPDATE sessions SET revoked_at = ? WHERE id = ?").bind(Date.now(), user.sessionId).run();
    await expectRefusedRoute(user, await forge(user));
    expect((await call(user, "GET", "/api/me")).status).toBe(401);
  });
});

/** The JWT itself verifies; only the session row check refuses it. */
async function expectRefusedRoute(user: TestUser, jwt: string) {
  expect(await verifySessionJwt(cfg, jwt)).not.toBeNull();
  const res = await call(withJwt(user, jwt), "GET", "/api/me");
  expect(res.status).toBe(401);
}
