/**
 * Identity test helpers: sign up / log in through the real routes, read the session cookie back,
 * fetch emails from the dev outbox, and run the app under a different configuration (ORG_MODE, ENVIRONMENT).
 */
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import app from "../../src/index";
import type { Env } from "../../src/env";
import { SESSION_JWT } from "../../src/lib/session-jwt";
import { call, ORIGIN, type TestUser } from "../factories";

let n = 0;
/** A fresh address nobody else in the run uses. */
export const uniqueEmail = (tag = "id") => `${tag}-${Date.now().toString(36)}-${(n++).toString(36)}${Math.random().toString(36).slice(2, 7)}@example.com`;

/** A random TEST-NET-2 address, so rate-limit buckets of different tests never collide. */
export const randomIp = () => `198.51.${Math.floor(Math.random() * 256)}.${Math.floor(Math.random() * 256)}`;

/** `name=value` of the session cookie in a response's Set-Cookie, or null. */
export function sessionCookieOf(headers: Headers): string | null {
  for (const c of headers.getSetCookie()) {
    if (c.startsWith(`${SESSION_JWT.cookie}=`)) return c.split(";")[0]!;
  }
  return null;
}

/** Signs up through `POST /api/auth/signup`; `user` is usable as a `call()` caller when it succeeded. */
export async function signUp(opts: { email?: string; password?: string; name?: string; ip?: string } = {}) {
  const email = opts.email ?? uniqueEmail("signup");
  const password = opts.password ?? "a long enough password";
  const res = await call(null, "POST", "/api/auth/signup", { email, password, name: opts.name ?? "Ada Lovelace" }, { headers: { "cf-connecting-ip": opts.ip ?? randomIp() } });
  const cookie = sessionCookieOf(res.headers);
  const user: TestUser | null = cookie && res.body?.user ? { id: res.body.user.id, email: res.body.user.email, name: res.body.user.name, sessionId: "", cookie } : null;
  return { ...res, email, password, cookie, user };
}

/** Logs in through `POST /api/auth/login` from `ip` (random by default). */
export async function logIn(email: string, password: string, ip = randomIp()) {
  const res = await call(null, "POST", "/api/auth/login", { email, password }, { headers: { "cf-connecting-ip": ip } });
  return { ...res, cookie: sessionCookieOf(res.headers) };
}

type OutboxEmail = { id: string; to: string; subject: string; text: string; html: string | null; status: string; transport: string };

/** Emails to `to` in the dev outbox, newest first. */
export async function outboxFor(to: string): Promise<OutboxEmail[]> {
  const res = await call(null, "GET", `/api/dev/outbox?to=${encodeURIComponent(to)}`);
  if (res.status !== 200) throw new Error(`outbox answered ${res.status}`);
  return res.body.data;
}

/** The token in the newest emailed link to `${APP_URL}/<page>?token=…` sent to `to`. */
export async function emailedToken(to: string, page: "verify-email" | "reset-password"): Promise<string> {
  for (const mail of await outboxFor(to)) {
    const m = new RegExp(`/${page}\\?token=([0-9A-Za-z]+)`).exec(mail.text);
    if (m) return m[1]!;
  }
  throw new Error(`no ${page} email to ${to}`);
}

/**
 * Calls the app in-process with configuration overrides (e.g. `{ ORG_MODE: "single" }`): same code, same D1,
 * different deployment settings. Sends the same headers as `call()`.
 */
export async function callWithEnv(overrides: Partial<Env>, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const ctx = createExecutionContext();
  const h: Record<string, string> = { origin: ORIGIN, "cf-connecting-ip": randomIp(), "user-agent": "tollgate-tests", ...headers };
  if (body !== undefined) h["content-type"] = "application/json";
  const req = new Request(`${ORIGIN}${path}`, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  const res = await app.fetch(req, { ...env, ...overrides }, ctx);
  await waitOnExecutionContext(ctx);
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
}
