import type { Context } from "hono";
import type { AppEnv } from "../app-env";
import { newId } from "../lib/ids";
import type { Db } from "./client";
import { auditLog } from "./schema";

/** Who did it and from where: captured once per request. */
export type AuditActor = { actorType: "user" | "management_token" | "system"; actorId: string; actorIp: string | null; userAgent: string | null };

/** One audit entry: the change, without secrets (see {@link redact}). */
export type AuditEntry = { action: string; targetType: string; targetId?: string | null; before?: unknown; after?: unknown };

/**
 * Field names that hold secrets, compared case-insensitively without `_`/`-` (so `api_key`, `apiKey` and
 * `API-KEY` are one name). Exact names, not substrings: `maxOutputTokens` or `token_count` are data.
 */
const SECRET_FIELDS = new Set([
  "password", "newpassword", "currentpassword", "oldpassword", "passwordhash", "passwordsalt", "salt",
  "secret", "clientsecret", "webhooksecret", "signingsecret",
  "token", "tokenhash", "accesstoken", "refreshtoken", "sessiontoken", "resettoken", "invitetoken", "verificationtoken",
  "apikey", "apikeysealed", "sealed", "keyhash", "virtualkey", "encryptionkey", "signingkey", "privatekey",
  "authorization", "cookie", "setcookie",
]);

/** True when a field of this name holds a secret (see {@link SECRET_FIELDS}). */
export function isSecretField(name: string): boolean {
  return SECRET_FIELDS.has(name.toLowerCase().replace(/[_-]/g, ""));
}

/** Deep-copies `value` dropping every secret field (by name, never by substring). Audit rows and logs use it. */
export function redact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact);
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (!isSecretField(k)) out[k] = redact(v);
    return out;
  }
  return value;
}

/** The audit actor of the current request (user or management token, with IP and user agent). */
export function auditActorOf(c: Context<AppEnv>): AuditActor {
  const a = c.var.actor;
  return {
    actorType: a ? a.type : "system",
    actorId: a ? (a.type === "user" ? a.userId : a.tokenId) : "anonymous",
    actorIp: c.req.header("cf-connecting-ip") ?? null,
    userAgent: c.req.header("user-agent") ?? null,
  };
}

/** The insert of one audit row; put it in the same `db.batch([...])` as the change it records. */
export function auditInsert(db: Db, orgId: string, actor: AuditActor, entry: AuditEntry) {
  return db.insert(auditLog).values({
    id: newId("aud"),
    orgId,
    ...actor,
    action: entry.action,
    targetType: entry.targetType,
    targetId: entry.targetId ?? null,
    before: entry.before === undefined ? null : redact(entry.before),
    after: entry.after === undefined ? null : redact(entry.after),
  });
}
