/**
 * Virtual keys (docs/resources.md): members create keys (inside one of their teams when they have
 * any), narrow the limits of keys they created and revoke them; admins manage every key. The full key appears once, in the create response; only its SHA-256 is stored.
 * Every change is written to D1 (with its audit row) and then pushed to the org's gate before we
 * answer, so the very next proxied request sees it.
 */
import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../app-env";
import { auditActorOf, auditInsert } from "../db/audit";
import { getDb, type Db } from "../db/client";
import {
  countActiveKeys, countBudgets, findKey, insertKeyBudgetStmt, insertKeyWithinLimitStmt, KEY_LIMIT_VIOLATION, listKeyBudgets, listKeys, revokeKeyStmt,
  toGateKey, updateKeyStmt, type BudgetRow, type KeyRow,
} from "../db/keys";
import { findTeam, listUserTeamIds } from "../db/teams";
import { refreshGate, syncGateKey } from "../durable-objects/org-gate-client";
import { ApiError, validationHook } from "../errors";
import { sha256Hex } from "../lib/crypto";
import { newId } from "../lib/ids";
import { decodeCursor, pageQuery } from "../lib/page-cursor";
import { roleAtLeast } from "../lib/roles";
import { orgRoute } from "../lib/route";
import { errorChainText, isoTime, jsonBody, jsonResponse, orgParams, presentPage } from "../lib/route-io";
import { formatMicrosAsUsd, parseUsdToMicros } from "../lib/usd";
import { mintVirtualKey, virtualKeyHint } from "../lib/virtual-key";
import { planOf } from "../plans";
import { planLimitError } from "../services/plan-limits";
import { controlPlaneEvent } from "../services/webhook-events";

const keyParams = orgParams.extend({ keyId: z.string() });

const keyName = z.string().trim().min(1).max(100);
const allowedModels = z.array(z.string().trim().min(1).max(200)).min(1).max(100).nullable()
  .openapi({ description: "Models this key may use (`provider-name/model` or bare names); null = every model" });
const expiresAt = z.iso.datetime({ offset: true }).nullable().openapi({ description: "ISO-8601; null = never expires" });
const perMinute = z.number().int().min(1).max(1_000_000_000).nullable();
const usdAmount = z
  .union([z.string(), z.number()])
  .transform((v, ctx) => {
    const micros = parseUsdToMicros(v);
    if (micros === null) {
      ctx.addIssue({ code: "custom", message: "must be a non-negative dollar amount with at most 6 decimals, e.g. \"25.50\"" });
      return z.NEVER;
    }
    return micros;
  })
  .openapi({ type: "string", example: "25.00", description: "US dollars (string or number, ≤ 6 decimals)" });
const keyBudgetInput = z.object({ limit_usd: usdAmount, period: z.enum(["daily", "weekly", "monthly", "total"]) });

const keyBudgetSchema = z
  .object({ id: z.string(), limit_usd: z.string().nullable(), limit_micros: z.number().int().nullable(), period: z.string(), mode: z.string() })
  .openapi("KeyBudget");
const BYOK_MODES = ["off", "allowed", "required"] as const;
const byokMode = z.enum(BYOK_MODES).openapi({ description: "Caller-supplied provider keys (docs/proxy.md#byok): off, allowed or required" });
const keySchema = z
  .object({
    id: z.string(), name: z.string(), hint: z.string(), status: z.enum(["active", "revoked", "expired"]),
    team_id: z.string().nullable(), created_by: z.string(), allowed_models: z.array(z.string()).nullable(),
    rpm: z.number().int().nullable(), tpm: z.number().int().nullable(), expires_at: z.string().nullable(),
    revoked_at: z.string().nullable(), byok: byokMode, created_at: z.string(), updated_at: z.string(),
  })
  .openapi("VirtualKey");
const keyDetailSchema = keySchema.extend({ budgets: z.array(keyBudgetSchema) }).openapi("VirtualKeyDetail");
const createdKeySchema = keyDetailSchema.extend({ key: z.string().openapi({ description: "The full key. Shown once, never again." }) }).openapi("CreatedVirtualKey");

function presentKey(k: KeyRow, now = Date.now()) {
  const status = k.revokedAt !== null ? "revoked" : k.expiresAt !== null && k.expiresAt <= now ? "expired" : "active";
  return {
    id: k.id, name: k.name, hint: k.hint, status: status as "active" | "revoked" | "expired", team_id: k.teamId, created_by: k.createdBy,
    allowed_models: k.allowedModels ?? null, rpm: k.rpm, tpm: k.tpm, expires_at: isoTime(k.expiresAt), revoked_at: isoTime(k.revokedAt),
    byok: k.byok, created_at: isoTime(k.createdAt), updated_at: isoTime(k.updatedAt),
  };
}
const presentBudget = (b: BudgetRow) => ({
  id: b.id, limit_usd: b.limitMicros === null ? null : formatMicrosAsUsd(b.limitMicros), limit_micros: b.limitMicros, period: b.period, mode: b.mode,
});
/** What the audit trail records about a key (metadata only; the key and its hash never). */
const keyAudit = (k: KeyRow) => ({
  name: k.name, team_id: k.teamId, allowed_models: k.allowedModels ?? null, rpm: k.rpm, tpm: k.tpm, expires_at: isoTime(k.expiresAt), revoked_at: isoTime(k.revokedAt),
  byok: k.byok,
});

/** The user the key is attributed to: the signed-in user, or the user who made the management token. */
function creatorIdOf(c: Context<AppEnv>): string {
  const a = c.var.actor!;
  return a.type === "user" ? a.userId : a.createdBy;
}

async function requireKey(db: Db, orgId: string, keyId: string): Promise<KeyRow> {
  const key = await findKey(db, orgId, keyId);
  if (!key) throw new ApiError("not_found", "Key not found", { param: "keyId" });
  return key;
}

/** Admins act on any key; lower roles admitted by `creatorMayAct` only on keys they created. */
function assertMayManage(c: Context<AppEnv>, key: KeyRow, verb: string): void {
  if (roleAtLeast(c.var.org.role, "admin")) return;
  if (key.createdBy === creatorIdOf(c)) return;
  throw new ApiError("permission_denied", `Only admins can ${verb} keys created by someone else`);
}

async function requireTeamOfOrg(db: Db, orgId: string, teamId: string): Promise<void> {
  if (!(await findTeam(db, orgId, teamId))) throw new ApiError("not_found", "Team not found in this org", { param: "team_id" });
}

const parseExpiry = (v: string | null | undefined) => (v === undefined ? undefined : v === null ? null : Date.parse(v));

/**
 * The team of a key created by a member: one of their teams when they have any (their only team when
 * they name none), so team budgets keep binding them. Admins may put a key anywhere.
 */
async function memberKeyTeam(db: Db, orgId: string, userId: string, requested: string | null | undefined): Promise<string | null> {
  const mine = await listUserTeamIds(db, orgId, userId);
  if (requested === undefined) {
    if (mine.length <= 1) return mine[0] ?? null;
    throw new ApiError("invalid_request", "team_id: you are on several teams; choose the one this key belongs to", { param: "team_id" });
  }
  assertMemberTeamChoice(mine, requested);
  return requested;
}

function assertMemberTeamChoice(mine: string[], requested: string | null): void {
  if (requested === null && mine.length) {
    throw new ApiError("permission_denied", "Members on a team must keep their keys in one of their teams (team_id cannot be null)", { param: "team_id" });
  }
  if (requested !== null && !mine.includes(requested)) {
    throw new ApiError("permission_denied", "Members can only put keys in a team they are on", { param: "team_id" });
  }
}

/** `pattern` allows only names that one of `allowed` allows too (a `*` suffix is a prefix wildcard). */
function patternCovered(pattern: string, allowed: string[]): boolean {
  const prefix = pattern.endsWith("*") ? pattern.slice(0, -1) : null;
  return allowed.some((a) => (a.endsWith("*") ? (prefix ?? pattern).startsWith(a.slice(0, -1)) : prefix === null && a === pattern));
}

/** Null means "no limit": a member may set or lower a limit, never raise or remove one. */
const narrowsNumber = (current: number | null, next: number | null) => current === null || (next !== null && next <= current);

/**
 * Below admin, a PATCH may only narrow a key's limits (whoever set them): rpm/tpm lowered or added,
 * expiry earlier or added, allowed models a subset or added. Unchanged values pass.
 */
function assertOnlyNarrows(key: KeyRow, patch: { allowedModels?: string[] | null; expiresAt?: number | null; rpm?: number | null; tpm?: number | null; byok?: KeyRow["byok"] }): void {
  const refuse = (param: string, what: string) => {
    throw new ApiError("permission_denied", `Members can only narrow a key's limits: ${what}`, { param });
  };
  // `allowed` is the widest setting: it may become `off` or `required`; nothing else changes below admin.
  if (patch.byok !== undefined && patch.byok !== key.byok && key.byok !== "allowed") refuse("byok", "byok may only go from 'allowed' to 'off' or 'required'");
  if (patch.rpm !== undefined && !narrowsNumber(key.rpm, patch.rpm)) refuse("rpm", "rpm may be lowered, not raised or removed");
  if (patch.tpm !== undefined && !narrowsNumber(key.tpm, patch.tpm)) refuse("tpm", "tpm may be lowered, not raised or removed");
  if (patch.expiresAt !== undefined && !narrowsNumber(key.expiresAt, patch.expiresAt)) refuse("expires_at", "expires_at may be moved earlier, not later or removed");
  if (patch.allowedModels !== undefined && key.allowedModels) {
    const current = key.allowedModels;
    if (patch.allowedModels === null || !patch.allowedModels.every((m) => patternCovered(m, current))) {
      refuse("allowed_models", "allowed_models may only keep or drop models the key already allows");
    }
  }
}

/** `/orgs/{orgId}/keys…` routes. */
export const keysRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(
    orgRoute("viewer", {
      method: "get",
      path: "/orgs/{orgId}/keys",
      tags: ["keys"],
      summary: "List virtual keys (metadata and hint only)",
      request: {
        params: orgParams,
        query: pageQuery.extend({
          team_id: z.string().optional(),
          created_by: z.string().optional(),
          include_revoked: z.enum(["true", "false"]).default("true"),
        }),
      },
      responses: { 200: jsonResponse(z.object({ data: z.array(keySchema), next_cursor: z.string().nullable() }), "A page of keys") },
    }),
    async (c) => {
      const { orgId } = c.var.org;
      const q = c.req.valid("query");
      const rows = await listKeys(getDb(c.env.DB), orgId, {
        cursor: decodeCursor(q.cursor), limit: q.limit, teamId: q.team_id, createdBy: q.created_by, includeRevoked: q.include_revoked === "true",
      });
      const now = Date.now();
      return c.json(presentPage(rows, q.limit, (k) => presentKey(k, now)), 200);
    },
  )
  .openapi(
    orgRoute("member", {
      method: "post",
      path: "/orgs/{orgId}/keys",
      tags: ["keys"],
      summary: "Create a virtual key (the full key is returned once)",
      request: {
        params: orgParams,
        body: jsonBody(z.object({
          name: keyName, team_id: z.string().nullable().optional(), allowed_models: allowedModels.optional(), expires_at: expiresAt.optional(),
          budget: keyBudgetInput.nullable().optional(), rpm: perMinute.optional(), tpm: perMinute.optional(), byok: byokMode.optional(),
        })),
      },
      responses: { 201: jsonResponse(createdKeySchema, "The new key, including the full secret (shown once)") },
    }),
    async (c) => {
      const { orgId, orgPlan } = c.var.org;
      const body = c.req.valid("json");
      const db = getDb(c.env.DB);
      const now = Date.now();
      const expiry = parseExpiry(body.expires_at);
      if (expiry != null && expiry <= now) throw new ApiError("invalid_request", "expires_at: must be in the future", { param: "expires_at" });
      if (body.team_id) await requireTeamOfOrg(db, orgId, body.team_id);
      if (body.byok !== undefined && body.byok !== "off" && !roleAtLeast(c.var.org.role, "admin")) {
        throw new ApiError("permission_denied", "Only admins can let a key accept the caller's provider key (byok)", { param: "byok" });
      }
      const createdBy = creatorIdOf(c);
      const teamId = roleAtLeast(c.var.org.role, "admin") ? (body.team_id ?? null) : await memberKeyTeam(db, orgId, createdBy, body.team_id);
      const plan = planOf(orgPlan);
      const keyLimitReached = (used = plan.keys ?? 0) => planLimitError(plan, "keys", used);
      const activeKeys = plan.keys !== null ? await countActiveKeys(db, orgId) : 0;
      if (plan.keys !== null && activeKeys >= plan.keys) throw keyLimitReached(activeKeys);
      const budgetCount = body.budget && plan.budgets !== null ? await countBudgets(db, orgId) : 0;
      if (body.budget && plan.budgets !== null && budgetCount >= plan.budgets) {
        throw planLimitError(plan, "budgets", budgetCount, { extra: { param: "budget" } });
      }

      const id = newId("key");
      const secret = mintVirtualKey(orgId, id);
      const row: KeyRow = {
        id, orgId, teamId, createdBy, name: body.name, hint: virtualKeyHint(secret), keyHash: await sha256Hex(secret),
        allowedModels: body.allowed_models ?? null, rpm: body.rpm ?? null, tpm: body.tpm ?? null, expiresAt: expiry ?? null,
        revokedAt: null, revokedBy: null, byok: body.byok ?? "off", createdAt: now, updatedAt: now,
      };
      const budget: BudgetRow | null = body.budget
        ? {
            id: newId("bud"), orgId, scope: "key", scopeId: id, teamId: null, createdByRole: c.var.org.role, limitMicros: body.budget.limit_usd, period: body.budget.period, mode: "hard",
            rpm: null, tpm: null, alertThresholds: [50, 80, 90, 100], velocityLimitMicros: null, velocityWindowSeconds: null,
            velocityCooldownSeconds: null, createdBy, createdAt: now, updatedAt: now,
          }
        : null;
      const created = controlPlaneEvent(db, orgId, "key.created", { key_id: id, name: row.name, team_id: teamId, created_by: createdBy, hint: row.hint });
      // The early check gives the usual answer; the guarded insert holds the limit under concurrent creates.
      await db.batch([
        insertKeyWithinLimitStmt(db, row, plan.keys),
        ...(budget ? [insertKeyBudgetStmt(db, { ...budget, scope: "key" })] : []),
        auditInsert(db, orgId, auditActorOf(c), {
          action: "key.create", targetType: "key", targetId: id,
          after: { ...keyAudit(row), budget: budget ? { id: budget.id, limit_usd: formatMicrosAsUsd(budget.limitMicros!), period: budget.period, mode: budget.mode } : null },
        }),
        created.stmt,
      ]).catch((err: unknown) => {
        throw errorChainText(err).includes(KEY_LIMIT_VIOLATION) ? keyLimitReached() : err;
      });
      created.wake(c.env, c.executionCtx);
      await syncGateKey(c.env, orgId, toGateKey(row));
      if (budget) await refreshGate(c.env, orgId, ["budgets"]);
      return c.json({ ...presentKey(row, now), budgets: budget ? [presentBudget(budget)] : [], key: secret }, 201);
    },
  )
  .openapi(
    orgRoute("viewer", {
      method: "get",
      path: "/orgs/{orgId}/keys/{keyId}",
      tags: ["keys"],
      summary: "Get a key's metadata (never the secret)",
      request: { params: keyParams },
      responses: { 200: jsonResponse(keyDetailSchema, "The key") },
    }),
    async (c) => {
      const { orgId } = c.var.org;
      const db = getDb(c.env.DB);
      const key = await requireKey(db, orgId, c.req.valid("param").keyId);
      const budgets = await listKeyBudgets(db, orgId, key.id);
      return c.json({ ...presentKey(key), budgets: budgets.map(presentBudget) }, 200);
    },
  )
  .openapi(
    orgRoute(
      "admin",
      {
        method: "patch",
        path: "/orgs/{orgId}/keys/{keyId}",
        tags: ["keys"],
        summary: "Update a key (admins: any key; members: keys they created, only narrowing limits and staying in their teams)",
        request: {
          params: keyParams,
          body: jsonBody(z.object({
            name: keyName.optional(), team_id: z.string().nullable().optional(), allowed_models: allowedModels.optional(),
            expires_at: expiresAt.optional(), rpm: perMinute.optional(), tpm: perMinute.optional(), byok: byokMode.optional(),
          })),
        },
        responses: { 200: jsonResponse(keyDetailSchema, "The updated key") },
      },
      { creatorMayAct: "member" },
    ),
    async (c) => {
      const { orgId } = c.var.org;
      const body = c.req.valid("json");
      const db = getDb(c.env.DB);
      const key = await requireKey(db, orgId, c.req.valid("param").keyId);
      assertMayManage(c, key, "change");
      if (key.revokedAt !== null) throw new ApiError("conflict", "This key is revoked; create a new one instead");
      if (Object.values(body).every((v) => v === undefined)) {
        throw new ApiError("invalid_request", "Nothing to change: send name, team_id, allowed_models, expires_at, rpm, tpm or byok");
      }
      if (body.team_id) await requireTeamOfOrg(db, orgId, body.team_id);
      const now = Date.now();
      const patch = {
        ...(body.name !== undefined && { name: body.name }),
        ...(body.team_id !== undefined && { teamId: body.team_id }),
        ...(body.allowed_models !== undefined && { allowedModels: body.allowed_models }),
        ...(body.expires_at !== undefined && { expiresAt: parseExpiry(body.expires_at)! }),
        ...(body.rpm !== undefined && { rpm: body.rpm }),
        ...(body.tpm !== undefined && { tpm: body.tpm }),
        ...(body.byok !== undefined && { byok: body.byok }),
      };
      if (!roleAtLeast(c.var.org.role, "admin")) {
        if (patch.teamId !== undefined && patch.teamId !== key.teamId) assertMemberTeamChoice(await listUserTeamIds(db, orgId, creatorIdOf(c)), patch.teamId);
        assertOnlyNarrows(key, patch);
      }
      const updated: KeyRow = { ...key, ...patch, updatedAt: now };
      await db.batch([
        updateKeyStmt(db, orgId, key.id, { ...patch, updatedAt: now }),
        auditInsert(db, orgId, auditActorOf(c), { action: "key.update", targetType: "key", targetId: key.id, before: keyAudit(key), after: keyAudit(updated) }),
      ]);
      await syncGateKey(c.env, orgId, toGateKey(updated));
      const budgets = await listKeyBudgets(db, orgId, key.id);
      return c.json({ ...presentKey(updated, now), budgets: budgets.map(presentBudget) }, 200);
    },
  )
  .openapi(
    orgRoute(
      "admin",
      {
        method: "post",
        path: "/orgs/{orgId}/keys/{keyId}/revoke",
        tags: ["keys"],
        summary: "Revoke a key (admins: any key; members: keys they created). Takes effect on the next request; revoking again answers 200.",
        request: { params: keyParams },
        responses: { 200: jsonResponse(keySchema, "The revoked key") },
      },
      { creatorMayAct: "member" },
    ),
    async (c) => {
      const { orgId } = c.var.org;
      const db = getDb(c.env.DB);
      const key = await requireKey(db, orgId, c.req.valid("param").keyId);
      assertMayManage(c, key, "revoke");
      if (key.revokedAt !== null) {
        // Idempotent: same answer, no new audit row, and the revocation is pushed to the gate again in
        // case an earlier push never arrived (a client retrying a revoke is asking for exactly that).
        await syncGateKey(c.env, orgId, toGateKey(key));
        return c.json(presentKey(key), 200);
      }
      const now = Date.now();
      const by = creatorIdOf(c);
      const revoked: KeyRow = { ...key, revokedAt: now, revokedBy: by, updatedAt: now };
      const revokedEvent = controlPlaneEvent(db, orgId, "key.revoked", { key_id: key.id, name: key.name, revoked_by: by });
      await db.batch([
        revokeKeyStmt(db, orgId, key.id, by, now),
        auditInsert(db, orgId, auditActorOf(c), { action: "key.revoke", targetType: "key", targetId: key.id, before: keyAudit(key), after: keyAudit(revoked) }),
        revokedEvent.stmt,
      ]);
      revokedEvent.wake(c.env, c.executionCtx);
      // D1 is the truth from here on: retried, and if the gate never confirms it reconciles from D1 itself.
      await syncGateKey(c.env, orgId, toGateKey(revoked));
      return c.json(presentKey(revoked, now), 200);
    },
  );
