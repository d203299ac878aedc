/**
 * Guardrails (docs/guardrails.md): PII detection, blocked patterns and model/parameter policy, scoped
 * to the org, a team or a key. Admin+ to change, viewer+ to read and to try text against them
 * (`POST …/guardrails/test` stores nothing). Every change is audited with before/after and pushed to
 * the org's gate before the answer; the count per org is a plan limit.
 */
import { planLimitError } from "../services/plan-limits";
import { OpenAPIHono, z } from "@hono/zod-openapi";
import { RE2JS } from "re2js";
import type { AppEnv } from "../app-env";
import { auditActorOf, auditInsert } from "../db/audit";
import { getDb, type Db } from "../db/client";
import {
  deleteGuardrailStmt, findGuardrail, GUARDRAIL_LIMIT_VIOLATION, insertGuardrailWithinLimitStmt, listGuardrails, updateGuardrailStmt, type GuardrailRow,
} from "../db/guardrails";
import { findKey } from "../db/keys";
import { findTeam } from "../db/teams";
import { refreshGate } from "../durable-objects/org-gate-client";
import { ApiError, validationHook } from "../errors";
import { evaluateRequest } from "../guardrails/evaluate";
import { PII_KINDS } from "../guardrails/pii";
import type { GuardrailSpec, PatternConfig, PiiConfig, PolicyConfig } from "../guardrails/spec";
import { newId } from "../lib/ids";
import { orgRoute } from "../lib/route";
import { errorChainText, isoTime, jsonBody, jsonResponse, orgParams } from "../lib/route-io";
import { planOf } from "../plans";

/** Most patterns one guardrail may list, and the longest pattern (docs/guardrails.md). */
export const MAX_PATTERNS = 50;
export const MAX_PATTERN_CHARS = 500;
/** Longest text `POST …/guardrails/test` evaluates. */
export const MAX_TEST_TEXT_CHARS = 100_000;

const KINDS = ["pii", "pattern", "policy"] as const;
const ACTIONS = ["redact", "block", "flag"] as const;
const SCOPES = ["org", "team", "key"] as const;

const piiConfig = z.object({ detectors: z.array(z.enum(PII_KINDS)).min(1).default([...PII_KINDS]) }).strict();
const patternConfig = z
  .object({
    patterns: z.array(z.object({ pattern: z.string().min(1).max(MAX_PATTERN_CHARS), regex: z.boolean().default(false) }).strict()).min(1).max(MAX_PATTERNS),
    case_insensitive: z.boolean().default(false),
    apply_to: z.array(z.enum(["request", "response"])).min(1).default(["request"]),
  })
  .strict();
const modelList = z.array(z.string().min(1).max(256)).min(1).max(100).nullable().default(null);
const policyConfig = z
  .object({ allowed_models: modelList, denied_models: modelList, max_tokens: z.number().int().positive().nullable().default(null), require_user: z.boolean().default(false) })
  .strict();

const configSchema = z.record(z.string(), z.unknown()).openapi({ description: "Settings of the kind (docs/guardrails.md)", example: { detectors: ["email", "card"] } });

const guardrailSchema = z
  .object({
    id: z.string(), name: z.string(), kind: z.enum(KINDS), action: z.enum(ACTIONS), scope: z.enum(SCOPES), scope_id: z.string().nullable(),
    position: z.number().int(), enabled: z.boolean(), config: configSchema, created_at: z.string(), updated_at: z.string(),
  })
  .openapi("Guardrail");

const name = z.string().trim().min(1).max(80);
const position = z.number().int().min(0).max(10_000);
const createBody = z.object({
  name, kind: z.enum(KINDS), action: z.enum(ACTIONS), scope: z.enum(SCOPES).default("org"), scope_id: z.string().nullable().optional(),
  position: position.default(0), enabled: z.boolean().default(true), config: configSchema.default({}),
});
const patchBody = z.object({
  name: name.optional(), action: z.enum(ACTIONS).optional(), scope: z.enum(SCOPES).optional(), scope_id: z.string().nullable().optional(),
  position: position.optional(), enabled: z.boolean().optional(), config: configSchema.optional(),
});

type Kind = (typeof KINDS)[number];
type Action = (typeof ACTIONS)[number];
type Config = PiiConfig | PatternConfig | PolicyConfig;

function invalid(message: string, param: string): never {
  throw new ApiError("invalid_request", message, { param });
}

/**
 * The kind's settings, validated and with defaults filled in. Regular expressions are compiled with
 * RE2 (linear time, so no pattern can stall the Worker) and refused when invalid or when they match
 * the empty string.
 */
export function checkConfig(kind: Kind, action: Action, raw: unknown): Config {
  const schema = kind === "pii" ? piiConfig : kind === "pattern" ? patternConfig : policyConfig;
  const parsed = schema.safeParse(raw ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const param = ["config", ...issue.path.map(String)].join(".");
    invalid(`${param}: ${issue.message}`, param);
  }
  if (kind === "pattern") {
    const cfg = parsed.data as PatternConfig;
    cfg.patterns.forEach((p, i) => {
      if (!p.regex) return;
      let re: RE2JS;
      try {
        re = RE2JS.compile(p.pattern, cfg.case_insensitive ? RE2JS.CASE_INSENSITIVE : 0);
      } catch (e) {
        invalid(`config.patterns.${i}.pattern is not a valid RE2 regular expression: ${e instanceof Error ? e.message : String(e)}`, `config.patterns.${i}.pattern`);
      }
      if (re.matcher("").find()) invalid(`config.patterns.${i}.pattern matches the empty string, so it would match every request`, `config.patterns.${i}.pattern`);
    });
    if (cfg.apply_to.includes("response") && action === "redact") invalid("a pattern guardrail on responses must block or flag (responses are not rewritten)", "action");
  }
  if (kind === "policy") {
    const cfg = parsed.data as PolicyConfig;
    if (action === "redact") invalid("a policy guardrail blocks or flags; it has nothing to redact", "action");
    if (!cfg.allowed_models && !cfg.denied_models && cfg.max_tokens === null && !cfg.require_user) invalid("config: set at least one rule (allowed_models, denied_models, max_tokens, require_user)", "config");
  }
  return parsed.data as Config;
}

async function checkScope(db: Db, orgId: string, scope: (typeof SCOPES)[number], scopeId: string | null | undefined): Promise<string | null> {
  if (scope === "org") {
    if (scopeId) invalid("scope_id must be null for scope 'org'", "scope_id");
    return null;
  }
  if (!scopeId) invalid(`scope_id is required for scope '${scope}'`, "scope_id");
  const found = scope === "team" ? await findTeam(db, orgId, scopeId) : await findKey(db, orgId, scopeId);
  if (!found) invalid(`No ${scope} '${scopeId}' in this org`, "scope_id");
  return scopeId;
}

const present = (g: GuardrailRow) => ({
  id: g.id, name: g.name, kind: g.kind, action: g.action, scope: g.scope, scope_id: g.scopeId, position: g.position, enabled: g.enabled,
  config: JSON.parse(g.config) as Record<string, unknown>, created_at: isoTime(g.createdAt), updated_at: isoTime(g.updatedAt),
});
const auditOf = (g: GuardrailRow) => {
  const { id: _id, created_at: _c, updated_at: _u, ...rest } = present(g);
  return rest;
};
const specOf = (g: Pick<GuardrailRow, "id" | "name" | "kind" | "action" | "config">): GuardrailSpec =>
  ({ id: g.id, name: g.name, kind: g.kind, action: g.action, config: JSON.parse(g.config) }) as GuardrailSpec;

async function requireGuardrail(db: Db, orgId: string, id: string): Promise<GuardrailRow> {
  const g = await findGuardrail(db, orgId, id);
  if (!g) throw new ApiError("not_found", "Guardrail not found", { param: "id" });
  return g;
}

const idParams = orgParams.extend({ id: z.string() });

const testBody = z.object({
  text: z.string().max(MAX_TEST_TEXT_CHARS),
  guardrail_id: z.string().optional().openapi({ description: "Test one saved guardrail (enabled or not)" }),
  draft: z.object({ kind: z.enum(KINDS), action: z.enum(ACTIONS), config: configSchema.default({}) }).optional().openapi({ description: "Test unsaved settings" }),
});
const testResult = z
  .object({
    text: z.string(),
    blocked: z.object({ guardrail_id: z.string(), name: z.string(), reason: z.string() }).nullable(),
    hits: z.array(z.object({ id: z.string(), action: z.enum(ACTIONS) })),
  })
  .openapi("GuardrailTestResult");

/** `/orgs/{orgId}/guardrails…` routes. */
export const guardrailsRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(
    orgRoute("viewer", {
      method: "get",
      path: "/orgs/{orgId}/guardrails",
      tags: ["guardrails"],
      summary: "List guardrails in evaluation order",
      request: { params: orgParams },
      responses: { 200: jsonResponse(z.object({ data: z.array(guardrailSchema) }), "The org's guardrails") },
    }),
    async (c) => {
      const rows = await listGuardrails(getDb(c.env.DB), c.var.org.orgId);
      return c.json({ data: rows.map(present) }, 200);
    },
  )
  .openapi(
    orgRoute("admin", {
      method: "post",
      path: "/orgs/{orgId}/guardrails",
      tags: ["guardrails"],
      summary: "Create a guardrail",
      request: { params: orgParams, body: jsonBody(createBody) },
      responses: { 201: jsonResponse(guardrailSchema, "The new guardrail") },
    }),
    async (c) => {
      const { orgId, orgPlan } = c.var.org;
      const body = c.req.valid("json");
      const db = getDb(c.env.DB);
      const config = checkConfig(body.kind, body.action, body.config);
      const scopeId = await checkScope(db, orgId, body.scope, body.scope_id);
      const plan = planOf(orgPlan);
      const a = c.var.actor!;
      const now = Date.now();
      const row: GuardrailRow = {
        id: newId("grd"), orgId, name: body.name, kind: body.kind, action: body.action, scope: body.scope, scopeId, position: body.position,
        enabled: body.enabled, config: JSON.stringify(config), createdBy: a.type === "user" ? a.userId : a.createdBy, createdAt: now, updatedAt: now,
      };
      try {
        await db.batch([
          insertGuardrailWithinLimitStmt(db, row, plan.guardrails),
          auditInsert(db, orgId, auditActorOf(c), { action: "guardrail.create", targetType: "guardrail", targetId: row.id, after: auditOf(row) }),
        ]);
      } catch (err) {
        if (errorChainText(err).includes(GUARDRAIL_LIMIT_VIOLATION)) {
          throw planLimitError(plan, "guardrails", plan.guardrails ?? 0);
        }
        throw err;
      }
      await refreshGate(c.env, orgId, ["guardrails"]);
      return c.json(present(row), 201);
    },
  )
  .openapi(
    orgRoute("viewer", {
      method: "post",
      path: "/orgs/{orgId}/guardrails/test",
      tags: ["guardrails"],
      summary: "Run text through guardrails (a saved one, unsaved settings, or every enabled one) without storing anything",
      request: { params: orgParams, body: jsonBody(testBody) },
      responses: { 200: jsonResponse(testResult, "What would be redacted, blocked or flagged") },
    }),
    async (c) => {
      const { orgId } = c.var.org;
      const body = c.req.valid("json");
      const db = getDb(c.env.DB);
      let specs: GuardrailSpec[];
      if (body.draft) {
        const config = checkConfig(body.draft.kind, body.draft.action, body.draft.config);
        specs = [{ id: "draft", name: "draft", kind: body.draft.kind, action: body.draft.action, config } as GuardrailSpec];
      } else if (body.guardrail_id) {
        specs = [specOf(await requireGuardrail(db, orgId, body.guardrail_id))];
      } else {
        specs = (await listGuardrails(db, orgId)).filter((g) => g.enabled).map(specOf);
      }
      const holder = { text: body.text };
      const v = evaluateRequest(specs, holder, null);
      return c.json({
        text: v.blocked ? body.text : holder.text,
        blocked: v.blocked ? { guardrail_id: v.blocked.guardrail.id, name: v.blocked.guardrail.name, reason: v.blocked.reason } : null,
        hits: v.hits,
      }, 200);
    },
  )
  .openapi(
    orgRoute("viewer", {
      method: "get",
      path: "/orgs/{orgId}/guardrails/{id}",
      tags: ["guardrails"],
      summary: "Get a guardrail",
      request: { params: idParams },
      responses: { 200: jsonResponse(guardrailSchema, "The guardrail") },
    }),
    async (c) => c.json(present(await requireGuardrail(getDb(c.env.DB), c.var.org.orgId, c.req.valid("param").id)), 200),
  )
  .openapi(
    orgRoute("admin", {
      method: "patch",
      path: "/orgs/{orgId}/guardrails/{id}",
      tags: ["guardrails"],
      summary: "Change a guardrail (name, action, scope, position, enabled, config)",
      request: { params: idParams, body: jsonBody(patchBody) },
      responses: { 200: jsonResponse(guardrailSchema, "The updated guardrail") },
    }),
    async (c) => {
      const { orgId } = c.var.org;
      const body = c.req.valid("json");
      const db = getDb(c.env.DB);
      const g = await requireGuardrail(db, orgId, c.req.valid("param").id);
      if (Object.values(body).every((v) => v === undefined)) throw new ApiError("invalid_request", "Nothing to change");
      const action = body.action ?? g.action;
      const config = body.config !== undefined || body.action !== undefined ? checkConfig(g.kind, action, body.config ?? JSON.parse(g.config)) : undefined;
      const scope = body.scope ?? g.scope;
      const scopeIdIn = body.scope_id !== undefined ? body.scope_id : body.scope === "org" ? null : g.scopeId;
      const scopeId = body.scope !== undefined || body.scope_id !== undefined ? await checkScope(db, orgId, scope, scopeIdIn) : g.scopeId;
      const now = Date.now();
      const patch = {
        ...(body.name !== undefined && { name: body.name }), action, scope, scopeId, ...(body.position !== undefined && { position: body.position }),
        ...(body.enabled !== undefined && { enabled: body.enabled }), ...(config !== undefined && { config: JSON.stringify(config) }), updatedAt: now,
      };
      const updated: GuardrailRow = { ...g, ...patch };
      await db.batch([
        updateGuardrailStmt(db, orgId, g.id, patch),
        auditInsert(db, orgId, auditActorOf(c), { action: "guardrail.update", targetType: "guardrail", targetId: g.id, before: auditOf(g), after: auditOf(updated) }),
      ]);
      await refreshGate(c.env, orgId, ["guardrails"]);
      return c.json(present(updated), 200);
    },
  )
  .openapi(
    orgRoute("admin", {
      method: "delete",
      path: "/orgs/{orgId}/guardrails/{id}",
      tags: ["guardrails"],
      summary: "Delete a guardrail",
      request: { params: idParams },
      responses: { 200: jsonResponse(z.object({ id: z.string(), deleted: z.literal(true) }), "Deleted") },
    }),
    async (c) => {
      const { orgId } = c.var.org;
      const db = getDb(c.env.DB);
      const g = await requireGuardrail(db, orgId, c.req.valid("param").id);
      await db.batch([
        deleteGuardrailStmt(db, orgId, g.id),
        auditInsert(db, orgId, auditActorOf(c), { action: "guardrail.delete", targetType: "guardrail", targetId: g.id, before: auditOf(g) }),
      ]);
      await refreshGate(c.env, orgId, ["guardrails"]);
      return c.json({ id: g.id, deleted: true as const }, 200);
    },
  );
