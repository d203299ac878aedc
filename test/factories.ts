/**
 * Test factories: build users, orgs, members and sessions straight into the real local D1,
 * and a small client that calls routes the way the dashboard does (cookie + same Origin).
 * Area-specific factories (keys, invitations, budgets…) live beside the tests that need them
 * in `test/factories/*.ts` and build on these.
 */
import { env, SELF } from "cloudflare:test";
import { getConfig } from "../src/env";
import { getDb } from "../src/db/client";
import { memberships, orgs, sessions, users, type Role } from "../src/db/schema";
import { hashPassword, newSalt } from "../src/lib/crypto";
import { newId } from "../src/lib/ids";
import { SESSION_JWT, signSessionJwt } from "../src/lib/session-jwt";

export const ORIGIN = "http://localhost";
export const DEFAULT_PASSWORD = "correct horse battery staple";

let seq = 0;
const unique = () => `${Date.now().toString(36)}${(seq++).toString(36)}${Math.random().toString(36).slice(2, 6)}`;

let cachedHash: { salt: string; hash: string } | undefined;
async function defaultPasswordHash() {
  if (!cachedHash) {
    const salt = newSalt();
    cachedHash = { salt, hash: await hashPassword(DEFAULT_PASSWORD, salt) };
  }
  return cachedHash;
}

export type TestUser = { id: string; email: string; name: string; sessionId: string; cookie: string };
export type TestOrg = { id: string; slug: string; name: string; kind: "personal" | "team" };

/** A verified user with a live session; `cookie` is ready for the Cookie header. */
export async function createUser(opts: { email?: string; name?: string; verified?: boolean } = {}): Promise<TestUser> {
  const db = getDb(env.DB);
  const id = newId("usr");
  const email = (opts.email ?? `user-${unique()}@example.com`).toLowerCase();
  const name = opts.name ?? email.split("@")[0]!;
  const { salt, hash } = await defaultPasswordHash();
  await db.insert(users).values({
    id, email, name, passwordHash: hash, passwordSalt: salt, passwordIterations: 100_000,
    emailVerifiedAt: opts.verified === false ? null : Date.now(),
  });
  const session = await createSession(id);
  return { id, email, name, ...session };
}

/** A new session row + signed JWT cookie for an existing user. */
export async function createSession(userId: string, ttlMs = 3_600_000): Promise<{ sessionId: string; cookie: string }> {
  const sessionId = newId("ses");
  const expiresAt = Date.now() + ttlMs;
  await getDb(env.DB).insert(sessions).values({ id: sessionId, userId, expiresAt });
  const jwt = await signSessionJwt(getConfig(env), { userId, sessionId }, expiresAt);
  return { sessionId, cookie: `${SESSION_JWT.cookie}=${jwt}` };
}

/** An org owned by `owner` (a team org unless told otherwise). */
export async function createOrg(owner: TestUser, opts: { name?: string; kind?: "personal" | "team"; plan?: string } = {}): Promise<TestOrg> {
  const db = getDb(env.DB);
  const id = newId("org");
  const name = opts.name ?? `Org ${unique()}`;
  const slug = `org-${unique()}`.toLowerCase();
  const kind = opts.kind ?? "team";
  await db.batch([
    db.insert(orgs).values({ id, name, slug, kind, plan: opts.plan ?? "free", createdBy: owner.id }),
    db.insert(memberships).values({ orgId: id, userId: owner.id, role: "owner" }),
  ]);
  return { id, slug, name, kind };
}

/** A new user who is a member of `org` with `role`. */
export async function createMember(org: TestOrg, role: Exclude<Role, "owner">, opts: { email?: string } = {}): Promise<TestUser> {
  const user = await createUser(opts);
  await getDb(env.DB).insert(memberships).values({ orgId: org.id, userId: user.id, role });
  return user;
}

/** An owner with a team org and one member of each other role: the usual cast of a permission test. */
export async function createOrgWithCast(opts: { plan?: string } = {}) {
  const owner = await createUser();
  const org = await createOrg(owner, { plan: opts.plan ?? "pro" });
  const admin = await createMember(org, "admin");
  const member = await createMember(org, "member");
  const viewer = await createMember(org, "viewer");
  return { org, owner, admin, member, viewer };
}

type Caller = TestUser | { token: string } | null;

/**
 * Calls a route as `as` (a user's session cookie, a management token, or anonymous) with a same-origin
 * `Origin` header, like the dashboard. Returns the response and its parsed JSON body.
 */
export async function call<T = any>(
  as: Caller,
  method: string,
  path: string,
  body?: unknown,
  init: { headers?: Record<string, string> } = {},
): Promise<{ status: number; body: T; headers: Headers }> {
  const headers: Record<string, string> = { origin: ORIGIN, "cf-connecting-ip": "203.0.113.7", "user-agent": "tollgate-tests", ...init.headers };
  if (as && "cookie" in as) headers.cookie = as.cookie;
  if (as && "token" in as) headers.authorization = `Bearer ${as.token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await SELF.fetch(`${ORIGIN}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    /* non-JSON body (CSV, HTML) stays text */
  }
  return { status: res.status, body: parsed as T, headers: res.headers };
}

/** Rows of an org-owned table for one org, for "nothing changed" assertions. */
export async function snapshotTable(table: string, orgId?: string): Promise<unknown[]> {
  const stmt = orgId ? env.DB.prepare(`SELECT * FROM ${table} WHERE org_id = ? ORDER BY rowid`).bind(orgId) : env.DB.prepare(`SELECT * FROM ${table} ORDER BY rowid`);
  return (await stmt.all()).results;
}
