/**
 * Model aliases with fallback chains (docs/providers.md#fallbacks): an alias name the client sends as
 * `model`, and an ordered list of `provider-name/model` targets the gateway tries in turn when a
 * provider answers 429/5xx or times out before any output. Admin+ to change, viewer+ to read; every
 * change is audited and pushed to the org's gate before the answer.
 */
import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { auditActorOf, auditInsert } from "../db/audit";
import { getDb, type Db } from "../db/client";
import {
  deleteModelAliasStmt, findModelAlias, findModelAliasByName, insertModelAliasStmt, listModelAliases, updateModelAliasStmt, type ModelAliasRow,
} from "../db/model-aliases";
import { findProviderByName } from "../db/providers";
import { refreshGate } from "../durable-objects/org-gate-client";
import { ApiError, validationHook } from "../errors";
import { newId } from "../lib/ids";
import { orgRoute } from "../lib/route";
import { errorChainText, isoTime, jsonBody, jsonResponse, orgParams } from "../lib/route-io";

/** Most targets one alias may list (each is a separate admission and provider call). */
export const MAX_ALIAS_TARGETS = 8;

const aliasParams = orgParams.extend({ id: z.string() });
// No '/': an alias never looks like `provider-name/model`, so the two can never be confused.
const aliasName = z
  .string()
  .regex(/^[A-Za-z0-9](?:[A-Za-z0-9._:-]{0,126}[A-Za-z0-9])?$/, "must be 1–128 letters, digits, '.', '_', ':' or '-' (no '/')")
  .openapi({ example: "smart" });
const target = z.object({
  provider: z.string().min(1).max(64).openapi({ example: "openai" }),
  model: z.string().min(1).max(256).openapi({ example: "gpt-4o" }),
});
const targets = z.array(target).min(1).max(MAX_ALIAS_TARGETS);

const aliasSchema = z
  .object({ id: z.string(), name: z.string(), targets: z.array(target), created_at: z.string(), updated_at: z.string() })
  .openapi("ModelAlias");

type Target = z.infer<typeof target>;
const parseTargets = (json: string) => JSON.parse(json) as Target[];
const present = (a: ModelAliasRow) => ({ id: a.id, name: a.name, targets: parseTargets(a.targets), created_at: isoTime(a.createdAt), updated_at: isoTime(a.updatedAt) });
const auditOf = (a: ModelAliasRow) => ({ name: a.name, targets: parseTargets(a.targets) });

async function requireAlias(db: Db, orgId: string, id: string): Promise<ModelAliasRow> {
  const a = await findModelAlias(db, orgId, id);
  if (!a) throw new ApiError("not_found", "Model alias not found", { param: "id" });
  return a;
}

async function assertNameFree(db: Db, orgId: string, name: string, exceptId?: string) {
  const other = await findModelAliasByName(db, orgId, name);
  if (other && other.id !== exceptId) throw new ApiError("conflict", `A model alias named '${name}' already exists in this org`, { param: "name" });
}

/** Every target must name a provider of this org (a typo would otherwise only show at request time). */
async function assertTargets(db: Db, orgId: string, list: Target[]) {
  for (const [i, t] of list.entries()) {
    if (!(await findProviderByName(db, orgId, t.provider))) {
      throw new ApiError("invalid_request", `targets.${i}.provider: no provider named '${t.provider}' in this org`, { param: `targets.${i}.provider` });
    }
  }
}

async function runBatch(db: Db, stmts: Parameters<Db["batch"]>[0]) {
  try {
    await db.batch(stmts);
  } catch (err) {
    if (errorChainText(err).includes("UNIQUE constraint failed: model_aliases.org_id, model_aliases.name")) {
      throw new ApiError("conflict", "A model alias with this name already exists in this org", { param: "name" });
    }
    throw err;
  }
}

/** `/orgs/{orgId}/model-aliases…` routes. */
export const modelAliasesRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(
    orgRoute("viewer", {
      method: "get",
      path: "/orgs/{orgId}/model-aliases",
      tags: ["model aliases"],
      summary: "List model aliases (fallback chains)",
      request: { params: orgParams },
      responses: { 200: jsonResponse(z.object({ data: z.array(aliasSchema) }), "The org's model aliases") },
    }),
    async (c) => {
      const rows = await listModelAliases(getDb(c.env.DB), c.var.org.orgId);
      return c.json({ data: rows.map(present) }, 200);
    },
  )
  .openapi(
    orgRoute("admin", {
      method: "post",
      path: "/orgs/{orgId}/model-aliases",
      tags: ["model aliases"],
      summary: "Create a model alias with an ordered list of fallback targets",
      request: { params: orgParams, body: jsonBody(z.object({ name: aliasName, targets })) },
      responses: { 201: jsonResponse(aliasSchema, "The new model alias") },
    }),
    async (c) => {
      const { orgId } = c.var.org;
      const body = c.req.valid("json");
      const db = getDb(c.env.DB);
      await assertNameFree(db, orgId, body.name);
      await assertTargets(db, orgId, body.targets);
      const now = Date.now();
      const row: ModelAliasRow = { id: newId("mal"), orgId, name: body.name, targets: JSON.stringify(body.targets), createdAt: now, updatedAt: now };
      await runBatch(db, [
        insertModelAliasStmt(db, row),
        auditInsert(db, orgId, auditActorOf(c), { action: "model_alias.create", targetType: "model_alias", targetId: row.id, after: auditOf(row) }),
      ]);
      await refreshGate(c.env, orgId, ["aliases"]);
      return c.json(present(row), 201);
    },
  )
  .openapi(
    orgRoute("admin", {
      method: "patch",
      path: "/orgs/{orgId}/model-aliases/{id}",
      tags: ["model aliases"],
      summary: "Rename a model alias or replace its targets",
      request: { params: aliasParams, body: jsonBody(z.object({ name: aliasName.optional(), targets: targets.optional() })) },
      responses: { 200: jsonResponse(aliasSchema, "The updated model alias") },
    }),
    async (c) => {
      const { orgId } = c.var.org;
      const body = c.req.valid("json");
      const db = getDb(c.env.DB);
      const a = await requireAlias(db, orgId, c.req.valid("param").id);
      if (body.name === undefined && body.targets === undefined) throw new ApiError("invalid_request", "Nothing to change: send name or targets");
      if (body.name !== undefined && body.name !== a.name) await assertNameFree(db, orgId, body.name, a.id);
      if (body.targets) await assertTargets(db, orgId, body.targets);
      const now = Date.now();
      const patch = { ...(body.name !== undefined && { name: body.name }), ...(body.targets && { targets: JSON.stringify(body.targets) }) };
      const updated: ModelAliasRow = { ...a, ...patch, updatedAt: now };
      await runBatch(db, [
        updateModelAliasStmt(db, orgId, a.id, { ...patch, updatedAt: now }),
        auditInsert(db, orgId, auditActorOf(c), { action: "model_alias.update", targetType: "model_alias", targetId: a.id, before: auditOf(a), after: auditOf(updated) }),
      ]);
      await refreshGate(c.env, orgId, ["aliases"]);
      return c.json(present(updated), 200);
    },
  )
  .openapi(
    orgRoute("admin", {
      method: "delete",
      path: "/orgs/{orgId}/model-aliases/{id}",
      tags: ["model aliases"],
      summary: "Delete a model alias",
      request: { params: aliasParams },
      responses: { 200: jsonResponse(z.object({ id: z.string(), deleted: z.literal(true) }), "Deleted") },
    }),
    async (c) => {
      const { orgId } = c.var.org;
      const db = getDb(c.env.DB);
      const a = await requireAlias(db, orgId, c.req.valid("param").id);
      await db.batch([
        deleteModelAliasStmt(db, orgId, a.id),
        auditInsert(db, orgId, auditActorOf(c), { action: "model_alias.delete", targetType: "model_alias", targetId: a.id, before: auditOf(a) }),
      ]);
      await refreshGate(c.env, orgId, ["aliases"]);
      return c.json({ id: a.id, deleted: true as const }, 200);
    },
  );
