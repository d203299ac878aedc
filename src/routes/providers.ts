/**
 * Upstream provider connections (docs/resources.md, docs/providers.md): OpenAI, Anthropic and any OpenAI-compatible base URL.
 * The API key is sealed with AES-GCM (bound to the provider id) and never returned: responses carry
 * `api_key_hint` (last 4 characters). Exactly one provider per org is the default, which bare model
 * names resolve to. Base URLs go through the private/loopback guard in `src/lib/upstream-url.ts`.
 */
import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../app-env";
import { auditActorOf, auditInsert } from "../db/audit";
import { getDb, type Db } from "../db/client";
import {
  clearOtherDefaultsStmt, countProviders, deleteProviderStmt, findProvider, findProviderByName, findSuccessorDefault,
  insertProviderStmt, listProviders, updateProviderStmt, type ProviderRow,
} from "../db/providers";
import { refreshGate } from "../durable-objects/org-gate-client";
import { ApiError, validationHook } from "../errors";
import { encryptSecret } from "../lib/crypto";
import { newId } from "../lib/ids";
import { decodeCursor, pageQuery } from "../lib/page-cursor";
import { orgRoute } from "../lib/route";
import { errorChainText, isoTime, jsonBody, jsonResponse, orgParams, presentPage } from "../lib/route-io";
import { checkUpstreamUrl } from "../lib/upstream-url";

const PROVIDER_TYPES = ["openai", "anthropic", "openai_compatible", "gemini"] as const;
type ProviderType = (typeof PROVIDER_TYPES)[number];

/** Where `openai`, `anthropic` and `gemini` providers point unless told otherwise. */
export const DEFAULT_BASE_URLS: Record<Exclude<ProviderType, "openai_compatible">, string> = {
  openai: "https://api.openai.com/v1",
  anthropic: "https://api.anthropic.com",
  gemini: "https://generativelanguage.googleapis.com/v1beta",
};

const providerParams = orgParams.extend({ id: z.string() });
const providerName = z
  .string()
  .regex(/^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$/, "must be 1–64 lowercase letters, digits, '.', '_' or '-' (it is used in 'provider-name/model')")
  .openapi({ example: "groq" });
const baseUrl = z.string().max(2048).openapi({ example: "https://api.groq.com/openai/v1" });
const apiKey = z.string().trim().min(1).max(8192);

const providerSchema = z
  .object({
    id: z.string(), name: z.string(), type: z.enum(PROVIDER_TYPES), base_url: z.string(), api_key_hint: z.string(),
    is_default: z.boolean(), created_at: z.string(), updated_at: z.string(),
  })
  .openapi("Provider");

const presentProvider = (p: ProviderRow) => ({
  id: p.id, name: p.name, type: p.type, base_url: p.baseUrl, api_key_hint: p.apiKeyHint, is_default: p.isDefault,
  created_at: isoTime(p.createdAt), updated_at: isoTime(p.updatedAt),
});
/** Audit snapshot: no credential, not even its hint. */
const providerAudit = (p: ProviderRow) => ({ name: p.name, type: p.type, base_url: p.baseUrl, is_default: p.isDefault });

const hintOf = (key: string) => `…${key.slice(-4)}`;

/** Validates a base URL: the SSRF guard plus "a base, not a full request URL" (no query or fragment). */
function normalizeBaseUrl(c: Context<AppEnv>, raw: string): string {
  const check = checkUpstreamUrl(raw, c.var.config.ALLOW_PRIVATE_UPSTREAMS);
  if (!check.ok) throw new ApiError("invalid_request", `base_url: ${check.message}`, { param: "base_url" });
  if (check.url.search || check.url.hash) throw new ApiError("invalid_request", "base_url: must not have a query string or fragment", { param: "base_url" });
  return check.url.toString().replace(/\/+$/, "");
}

async function requireProvider(db: Db, orgId: string, id: string): Promise<ProviderRow> {
  const p = await findProvider(db, orgId, id);
  if (!p) throw new ApiError("not_found", "Provider not found", { param: "id" });
  return p;
}

async function assertNameFree(db: Db, orgId: string, name: string, exceptId?: string) {
  const other = await findProviderByName(db, orgId, name);
  if (other && other.id !== exceptId) throw new ApiError("conflict", `A provider named '${name}' already exists in this org`, { param: "name" });
}

/** Runs a batch; a unique-index race on the name becomes 409 instead of 500. */
async function runBatch(db: Db, stmts: Parameters<Db["batch"]>[0]) {
  try {
    await db.batch(stmts);
  } catch (err) {
    if (errorChainText(err).includes("UNIQUE constraint failed: providers.org_id, providers.name")) {
      throw new ApiError("conflict", "A provider with this name already exists in this org", { param: "name" });
    }
    throw err;
  }
}

/** `/orgs/{orgId}/providers…` routes. */
export const providersRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(
    orgRoute("viewer", {
      method: "get",
      path: "/orgs/{orgId}/providers",
      tags: ["providers"],
      summary: "List provider connections (the API key is never returned)",
      request: { params: orgParams, query: pageQuery },
      responses: { 200: jsonResponse(z.object({ data: z.array(providerSchema), next_cursor: z.string().nullable() }), "A page of providers") },
    }),
    async (c) => {
      const q = c.req.valid("query");
      const rows = await listProviders(getDb(c.env.DB), c.var.org.orgId, { cursor: decodeCursor(q.cursor), limit: q.limit });
      return c.json(presentPage(rows, q.limit, presentProvider), 200);
    },
  )
  .openapi(
    orgRoute("admin", {
      method: "post",
      path: "/orgs/{orgId}/providers",
      tags: ["providers"],
      summary: "Connect a provider (the org's first provider becomes the default)",
      request: {
        params: orgParams,
        body: jsonBody(z.object({ name: providerName, type: z.enum(PROVIDER_TYPES), base_url: baseUrl.optional(), api_key: apiKey, is_default: z.boolean().optional() })),
      },
      responses: { 201: jsonResponse(providerSchema, "The new provider") },
    }),
    async (c) => {
      const { orgId } = c.var.org;
      const body = c.req.valid("json");
      const db = getDb(c.env.DB);
      if (body.type === "openai_compatible" && !body.base_url) {
        throw new ApiError("invalid_request", "base_url: required for openai_compatible providers", { param: "base_url" });
      }
      const url = normalizeBaseUrl(c, body.base_url ?? DEFAULT_BASE_URLS[body.type as Exclude<ProviderType, "openai_compatible">]);
      await assertNameFree(db, orgId, body.name);
      const isDefault = body.is_default === true || (await countProviders(db, orgId)) === 0;
      const now = Date.now();
      const id = newId("prv");
      const row: ProviderRow = {
        id, orgId, name: body.name, type: body.type, baseUrl: url,
        apiKeySealed: await encryptSecret(c.var.config.ENCRYPTION_KEY, body.api_key, id), apiKeyHint: hintOf(body.api_key),
        isDefault, createdAt: now, updatedAt: now,
      };
      await runBatch(db, [
        insertProviderStmt(db, row),
        ...(isDefault ? [clearOtherDefaultsStmt(db, orgId, id, now)] : []),
        auditInsert(db, orgId, auditActorOf(c), { action: "provider.create", targetType: "provider", targetId: id, after: providerAudit(row) }),
      ]);
      await refreshGate(c.env, orgId, ["providers"]);
      return c.json(presentProvider(row), 201);
    },
  )
  .openapi(
    orgRoute("admin", {
      method: "patch",
      path: "/orgs/{orgId}/providers/{id}",
      tags: ["providers"],
      summary: "Rename, re-point (base_url needs api_key in the same request), rotate the key of, or make default a provider",
      request: {
        params: providerParams,
        body: jsonBody(z.object({ name: providerName.optional(), base_url: baseUrl.nullable().optional(), api_key: apiKey.optional(), is_default: z.boolean().optional() })),
      },
      responses: { 200: jsonResponse(providerSchema, "The updated provider") },
    }),
    async (c) => {
      const { orgId } = c.var.org;
      const body = c.req.valid("json");
      const db = getDb(c.env.DB);
      const p = await requireProvider(db, orgId, c.req.valid("param").id);
      if (Object.values(body).every((v) => v === undefined)) throw new ApiError("invalid_request", "Nothing to change: send name, base_url, api_key or is_default");
      if (body.is_default === false && p.isDefault) {
        throw new ApiError("invalid_request", "is_default: an org always has one default provider; make another provider the default instead", { param: "is_default" });
      }
      let url: string | undefined;
      if (body.base_url === null) {
        if (p.type === "openai_compatible") throw new ApiError("invalid_request", "base_url: required for openai_compatible providers", { param: "base_url" });
        url = DEFAULT_BASE_URLS[p.type];
      } else if (body.base_url !== undefined) url = normalizeBaseUrl(c, body.base_url);
      // The stored key follows the URL: re-pointing it without the key would let an admin send the
      // org's credential to a host of their choosing. An unchanged URL is simply not written.
      if (url === p.baseUrl) url = undefined;
      if (url !== undefined && body.api_key === undefined) {
        throw new ApiError("invalid_request", "api_key: changing base_url requires the provider's API key again in the same request", { param: "api_key" });
      }
      if (body.name !== undefined && body.name !== p.name) await assertNameFree(db, orgId, body.name, p.id);
      const now = Date.now();
      const patch = {
        ...(body.name !== undefined && { name: body.name }),
        ...(url !== undefined && { baseUrl: url }),
        ...(body.api_key !== undefined && { apiKeySealed: await encryptSecret(c.var.config.ENCRYPTION_KEY, body.api_key, p.id), apiKeyHint: hintOf(body.api_key) }),
        ...(body.is_default === true && { isDefault: true }),
      };
      const updated: ProviderRow = { ...p, ...patch, updatedAt: now };
      await runBatch(db, [
        updateProviderStmt(db, orgId, p.id, { ...patch, updatedAt: now }),
        ...(body.is_default === true && !p.isDefault ? [clearOtherDefaultsStmt(db, orgId, p.id, now)] : []),
        auditInsert(db, orgId, auditActorOf(c), {
          action: "provider.update", targetType: "provider", targetId: p.id, before: providerAudit(p),
          after: { ...providerAudit(updated), credential_rotated: body.api_key !== undefined, base_url_changed: url !== undefined },
        }),
      ]);
      await refreshGate(c.env, orgId, ["providers"]);
      return c.json(presentProvider(updated), 200);
    },
  )
  .openapi(
    orgRoute("admin", {
      method: "delete",
      path: "/orgs/{orgId}/providers/{id}",
      tags: ["providers"],
      summary: "Delete a provider (deleting the default promotes the oldest remaining one)",
      request: { params: providerParams },
      responses: { 200: jsonResponse(z.object({ id: z.string(), deleted: z.literal(true), new_default_id: z.string().nullable() }), "Deleted") },
    }),
    async (c) => {
      const { orgId } = c.var.org;
      const db = getDb(c.env.DB);
      const p = await requireProvider(db, orgId, c.req.valid("param").id);
      const successor = p.isDefault ? await findSuccessorDefault(db, orgId, p.id) : undefined;
      const now = Date.now();
      await db.batch([
        deleteProviderStmt(db, orgId, p.id),
        ...(successor ? [updateProviderStmt(db, orgId, successor.id, { isDefault: true, updatedAt: now })] : []),
        auditInsert(db, orgId, auditActorOf(c), {
          action: "provider.delete", targetType: "provider", targetId: p.id, before: providerAudit(p), after: successor ? { new_default_id: successor.id } : undefined,
        }),
      ]);
      await refreshGate(c.env, orgId, ["providers"]);
      return c.json({ id: p.id, deleted: true as const, new_default_id: successor?.id ?? null }, 200);
    },
  );
