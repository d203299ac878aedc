/**
 * Prompt templates (docs/prompts.md): named prompts with immutable numbered versions (messages with
 * `{{name}}` placeholders and typed declared variables) and labels that move between versions.
 * Admin+ writes, viewer+ reads; keys reference prompts in `/v1` requests. Every change is audited with
 * before/after and pushed to the org's gate before the answer (the data plane resolves prompts there);
 * this isolate's cached resolutions are dropped too, other isolates follow within `LABEL_CACHE_MS`.
 */
import { planLimitError } from "../services/plan-limits";
import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { auditActorOf, auditInsert } from "../db/audit";
import { getDb, type Db } from "../db/client";
import {
  countPrompts, deletePromptStmts, findPrompt, insertPromptVersionStmt, insertPromptWithinLimitStmt, listPrompts, listPromptSummaries, promptDetail,
  PROMPT_LIMIT_VIOLATION, touchPromptStmt, upsertPromptLabelStmt, type PromptLabelRow, type PromptRow, type PromptVersionRow,
} from "../db/prompts";
import { refreshGate } from "../durable-objects/org-gate-client";
import { ApiError, validationHook } from "../errors";
import { newId } from "../lib/ids";
import { checkTemplate, VARIABLE_NAME, VARIABLE_TYPES, type PromptMessage, type PromptVariable } from "../lib/prompt-template";
import { orgRoute } from "../lib/route";
import { errorChainText, isoTime, jsonBody, jsonResponse, orgParams } from "../lib/route-io";
import { planOf } from "../plans";
import { forgetPromptCache } from "../proxy/prompt";

/** Most versions one prompt may have. */
export const MAX_PROMPT_VERSIONS = 200;
/** Most bytes of one version's messages (as JSON). */
export const MAX_PROMPT_BYTES = 65_536;

const promptParams = orgParams.extend({ id: z.string() });
const labelParams = promptParams.extend({ label: z.string() });

// Never `prm_…` (our ids) or `pmpt_…` (OpenAI's stored prompts), so a reference by name cannot be mistaken for either.
const promptName = z
  .string()
  .regex(/^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9])?$/, "must be 1–64 letters, digits, '.', '_' or '-'")
  .refine((s) => !/^(prm|pmpt)_/i.test(s), "must not start with 'prm_' or 'pmpt_'")
  .openapi({ example: "support-reply" });
const labelName = z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, "must be 1–32 lowercase letters, digits, '_' or '-', starting with a letter").openapi({ example: "production" });
const message = z.object({
  role: z.enum(["system", "developer", "user", "assistant"]),
  content: z.string().min(1).max(32_000).openapi({ example: "Hello {{customer_name}}" }),
});
const variable = z.object({
  name: z.string().regex(VARIABLE_NAME, "must be a letter or '_' then letters, digits or '_' (≤ 64)").openapi({ example: "customer_name" }),
  type: z.enum(VARIABLE_TYPES),
  required: z.boolean().default(true),
});
const versionBody = z.object({
  messages: z.array(message).min(1).max(100),
  variables: z.array(variable).max(50).default([]),
});

const versionSchema = z
  .object({ version: z.number().int(), messages: z.array(message), variables: z.array(variable), created_by: z.string(), created_at: z.string() })
  .openapi("PromptVersion");
const promptSchema = z
  .object({
    id: z.string(), name: z.string(), description: z.string(), latest_version: z.number().int().nullable(),
    labels: z.record(z.string(), z.number().int()), created_at: z.string(), updated_at: z.string(),
  })
  .openapi("Prompt");
const promptDetailSchema = promptSchema.extend({ versions: z.array(versionSchema) }).openapi("PromptDetail");

const labelMap = (labels: PromptLabelRow[]) => Object.fromEntries(labels.map((l) => [l.label, l.version]));
const present = (p: PromptRow, latest: number | null, labels: PromptLabelRow[]) => ({
  id: p.id, name: p.name, description: p.description, latest_version: latest, labels: labelMap(labels), created_at: isoTime(p.createdAt), updated_at: isoTime(p.updatedAt),
});
const presentVersion = (v: PromptVersionRow) => ({
  version: v.version, messages: JSON.parse(v.messages) as PromptMessage[], variables: JSON.parse(v.variables) as PromptVariable[], created_by: v.createdBy, created_at: isoTime(v.createdAt),
});

async function requirePrompt(db: Db, orgId: string, id: string): Promise<PromptRow> {
  const p = await findPrompt(db, orgId, id);
  if (!p) throw new ApiError("not_found", "Prompt not found", { param: "id" });
  return p;
}

/** The acting human (or token's root user), recorded as the creator. */
function actorId(c: { var: AppEnv["Variables"] }): string {
  const a = c.var.actor!;
  return a.type === "user" ? a.userId : a.rootUserId;
}

function conflictOr(err: unknown, marker: string, message: string, param: string): never {
  if (errorChainText(err).includes(marker)) throw new ApiError("conflict", message, { param });
  throw err;
}

/** `/orgs/{orgId}/prompts…` routes. */
export const promptsRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(
    orgRoute("viewer", {
      method: "get",
      path: "/orgs/{orgId}/prompts",
      tags: ["prompts"],
      summary: "List prompt templates",
      request: { params: orgParams },
      responses: { 200: jsonResponse(z.object({ data: z.array(promptSchema) }), "The org's prompts") },
    }),
    async (c) => {
      const { orgId } = c.var.org;
      const db = getDb(c.env.DB);
      const [rows, summary] = await Promise.all([listPrompts(db, orgId), listPromptSummaries(db, orgId)]);
      return c.json({ data: rows.map((p) => present(p, summary.versions.get(p.id) ?? null, summary.labels.filter((l) => l.promptId === p.id))) }, 200);
    },
  )
  .openapi(
    orgRoute("admin", {
      method: "post",
      path: "/orgs/{orgId}/prompts",
      tags: ["prompts"],
      summary: "Create a prompt (add versions with POST …/versions)",
      request: { params: orgParams, body: jsonBody(z.object({ name: promptName, description: z.string().max(500).default("") })) },
      responses: { 201: jsonResponse(promptDetailSchema, "The new prompt (no versions yet)") },
    }),
    async (c) => {
      const { orgId, orgPlan } = c.var.org;
      const body = c.req.valid("json");
      const db = getDb(c.env.DB);
      const plan = planOf(orgPlan);
      const limitReached = () => planLimitError(plan, "prompts", plan.prompts ?? 0);
      if (plan.prompts !== null && (await countPrompts(db, orgId)) >= plan.prompts) throw limitReached();
      const now = Date.now();
      const row: PromptRow = { id: newId("prm"), orgId, name: body.name, description: body.description, createdBy: actorId(c), createdAt: now, updatedAt: now };
      await db
        .batch([
          insertPromptWithinLimitStmt(db, row, plan.prompts),
          auditInsert(db, orgId, auditActorOf(c), { action: "prompt.create", targetType: "prompt", targetId: row.id, after: { name: row.name, description: row.description } }),
        ])
        .catch((err: unknown) => {
          if (errorChainText(err).includes(PROMPT_LIMIT_VIOLATION)) throw limitReached();
          conflictOr(err, "UNIQUE constraint failed: prompts.org_id, prompts.name", `A prompt named '${body.name}' already exists in this org`, "name");
        });
      await refreshGate(c.env, orgId, ["prompts"]);
      forgetPromptCache(orgId);
      return c.json({ ...present(row, null, []), versions: [] }, 201);
    },
  )
  .openapi(
    orgRoute("viewer", {
      method: "get",
      path: "/orgs/{orgId}/prompts/{id}",
      tags: ["prompts"],
      summary: "A prompt with every version and its labels",
      request: { params: promptParams },
      responses: { 200: jsonResponse(promptDetailSchema, "The prompt") },
    }),
    async (c) => {
      const { orgId } = c.var.org;
      const db = getDb(c.env.DB);
      const p = await requirePrompt(db, orgId, c.req.valid("param").id);
      const d = await promptDetail(db, orgId, p.id);
      return c.json({ ...present(p, d.versions.at(-1)?.version ?? null, d.labels), versions: d.versions.map(presentVersion) }, 200);
    },
  )
  .openapi(
    orgRoute("admin", {
      method: "post",
      path: "/orgs/{orgId}/prompts/{id}/versions",
      tags: ["prompts"],
      summary: "Add an immutable version (messages with {{name}} placeholders and the declared variables)",
      request: { params: promptParams, body: jsonBody(versionBody) },
      responses: { 201: jsonResponse(versionSchema.extend({ warnings: z.array(z.string()) }), "The new version; `warnings` names declared variables no message uses") },
    }),
    async (c) => {
      const { orgId } = c.var.org;
      const body = c.req.valid("json");
      const db = getDb(c.env.DB);
      const p = await requirePrompt(db, orgId, c.req.valid("param").id);
      const seen = new Set<string>();
      for (const [i, v] of body.variables.entries()) {
        if (seen.has(v.name)) throw new ApiError("invalid_request", `variables.${i}.name: '${v.name}' is declared twice`, { param: `variables.${i}.name` });
        seen.add(v.name);
      }
      const checked = checkTemplate(body.messages, body.variables);
      if (!checked.ok) {
        throw new ApiError("invalid_request", `messages use undeclared variable${checked.undeclared.length === 1 ? "" : "s"} ${checked.undeclared.map((n) => `'${n}'`).join(", ")}: declare ${checked.undeclared.length === 1 ? "it" : "them"} in variables`, { param: "variables" });
      }
      const messagesJson = JSON.stringify(body.messages);
      if (new TextEncoder().encode(messagesJson).byteLength > MAX_PROMPT_BYTES) throw new ApiError("invalid_request", `messages may total at most ${MAX_PROMPT_BYTES} bytes`, { param: "messages" });
      const { versions } = await promptDetail(db, orgId, p.id);
      if (versions.length >= MAX_PROMPT_VERSIONS) throw new ApiError("invalid_request", `A prompt may have at most ${MAX_PROMPT_VERSIONS} versions; create a new prompt`, { limit: MAX_PROMPT_VERSIONS });
      const now = Date.now();
      const row: PromptVersionRow = {
        orgId, promptId: p.id, version: (versions.at(-1)?.version ?? 0) + 1, messages: messagesJson, variables: JSON.stringify(body.variables), createdBy: actorId(c), createdAt: now,
      };
      await db
        .batch([
          insertPromptVersionStmt(db, row),
          touchPromptStmt(db, orgId, p.id, { updatedAt: now }),
          auditInsert(db, orgId, auditActorOf(c), { action: "prompt.version.create", targetType: "prompt", targetId: p.id, after: { version: row.version, messages: body.messages, variables: body.variables } }),
        ])
        .catch((err: unknown) => conflictOr(err, "UNIQUE constraint failed: prompt_versions", "Another version of this prompt was created at the same moment; retry", "messages"));
      await refreshGate(c.env, orgId, ["prompts"]);
      forgetPromptCache(orgId);
      return c.json({ ...presentVersion(row), warnings: checked.unused.map((n) => `variable '${n}' is declared but no message uses it`) }, 201);
    },
  )
  .openapi(
    orgRoute("admin", {
      method: "put",
      path: "/orgs/{orgId}/prompts/{id}/labels/{label}",
      tags: ["prompts"],
      summary: "Point a label (production, staging…) at a version; creates the label if new",
      request: { params: labelParams, body: jsonBody(z.object({ version: z.number().int().min(1) })) },
      responses: { 200: jsonResponse(z.object({ prompt_id: z.string(), label: z.string(), version: z.number().int(), previous_version: z.number().int().nullable() }), "The label's new version") },
    }),
    async (c) => {
      const { orgId } = c.var.org;
      const { id, label } = c.req.valid("param");
      const { version } = c.req.valid("json");
      const db = getDb(c.env.DB);
      const p = await requirePrompt(db, orgId, id);
      const parsed = labelName.safeParse(label);
      if (!parsed.success) throw new ApiError("invalid_request", `label ${parsed.error.issues[0]?.message ?? "is invalid"}`, { param: "label" });
      const d = await promptDetail(db, orgId, p.id);
      if (!d.versions.some((v) => v.version === version)) throw new ApiError("invalid_request", `Prompt '${p.name}' has no version ${version}`, { param: "version" });
      const previous = d.labels.find((l) => l.label === label)?.version ?? null;
      const now = Date.now();
      await db.batch([
        upsertPromptLabelStmt(db, orgId, p.id, label, version, now),
        touchPromptStmt(db, orgId, p.id, { updatedAt: now }),
        auditInsert(db, orgId, auditActorOf(c), { action: "prompt.label.move", targetType: "prompt", targetId: p.id, before: { label, version: previous }, after: { label, version } }),
      ]);
      await refreshGate(c.env, orgId, ["prompts"]);
      forgetPromptCache(orgId);
      return c.json({ prompt_id: p.id, label, version, previous_version: previous }, 200);
    },
  )
  .openapi(
    orgRoute("admin", {
      method: "delete",
      path: "/orgs/{orgId}/prompts/{id}",
      tags: ["prompts"],
      summary: "Delete a prompt with all its versions and labels",
      request: { params: promptParams },
      responses: { 200: jsonResponse(z.object({ id: z.string(), deleted: z.literal(true) }), "Deleted") },
    }),
    async (c) => {
      const { orgId } = c.var.org;
      const db = getDb(c.env.DB);
      const p = await requirePrompt(db, orgId, c.req.valid("param").id);
      const d = await promptDetail(db, orgId, p.id);
      await db.batch([
        ...deletePromptStmts(db, orgId, p.id),
        auditInsert(db, orgId, auditActorOf(c), {
          action: "prompt.delete", targetType: "prompt", targetId: p.id,
          before: { name: p.name, description: p.description, versions: d.versions.map((v) => v.version), labels: labelMap(d.labels) },
        }),
      ]);
      await refreshGate(c.env, orgId, ["prompts"]);
      forgetPromptCache(orgId);
      return c.json({ id: p.id, deleted: true as const }, 200);
    },
  );
