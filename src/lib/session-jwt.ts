import { SignJWT, jwtVerify, errors as joseErrors } from "jose";
import type { Config } from "../env";
import { base64ToBytes } from "./encoding";

/** Pinned parameters of the session JWT. */
export const SESSION_JWT = { alg: "HS256", issuer: "tollgate", audience: "tollgate-dashboard", cookie: "__Host-tg_session" } as const;

function keyBytes(secret: string): Uint8Array {
  try {
    return base64ToBytes(secret);
  } catch {
    return new TextEncoder().encode(secret);
  }
}

/** Signs a session token with the first configured key (its `kid` goes in the header). */
export async function signSessionJwt(cfg: Config, claims: { userId: string; sessionId: string }, expiresAt: number): Promise<string> {
  const key = cfg.SESSION_SIGNING_KEYS[0]!;
  return new SignJWT({ sid: claims.sessionId })
    .setProtectedHeader({ alg: SESSION_JWT.alg, kid: key.kid, typ: "JWT" })
    .setSubject(claims.userId)
    .setIssuer(SESSION_JWT.issuer)
    .setAudience(SESSION_JWT.audience)
    .setIssuedAt()
    .setExpirationTime(Math.floor(expiresAt / 1000))
    .sign(keyBytes(key.secret));
}

/** Verifies a session token: pinned alg, known `kid`, `iss`/`aud`/`exp` required. Null when invalid. */
export async function verifySessionJwt(cfg: Config, token: string): Promise<{ userId: string; sessionId: string } | null> {
  try {
    const { payload } = await jwtVerify(
      token,
      async (header) => {
        const key = cfg.SESSION_SIGNING_KEYS.find((k) => k.kid === header.kid);
        if (!key) throw new joseErrors.JWKSNoMatchingKey();
        return keyBytes(key.secret);
      },
      { algorithms: [SESSION_JWT.alg], issuer: SESSION_JWT.issuer, audience: SESSION_JWT.audience, requiredClaims: ["exp", "sub", "sid", "iat"] },
    );
    if (typeof payload.sub !== "string" || typeof payload.sid !== "string") return null;
    return { userId: payload.sub, sessionId: payload.sid };
  } catch {
    return null;
  }
}
