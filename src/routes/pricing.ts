/**
 * Pricing (docs/resources.md): the built-in catalog merged with the org's overrides (viewer+), and
 * overrides set or removed by admins. Prices travel as USD per million tokens (string or number)
 * and are stored as integer micro-dollars per million tokens. Model names may contain `/` and `.`:
 * URL-encode them in the path (`openrouter%2Fmeta-llama%2Fllama-3.1-70b`).
 */
import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { auditActorOf, auditInsert } from "../db/audit";
import { getDb } from "../db/client";
import { deletePriceOverrideStmt, findPriceOverride, listPriceOverrides, upsertPriceOverrideStmt, type PriceOverrideRow } from "../db/pricing";
import { refreshGate } from "../durable-objects/org-gate-client";
import { ApiError, validationHook } from "../errors";
import { orgRoute } from "../lib/route";
import { CATALOG, type CatalogEntry } from "../pricing/catalog";
import { formatMicrosFixed, parseUsdToMicros } from "../lib/usd";

const orgParams = z.object({ orgId: z.string() });
const modelParams = orgParams.extend({
  model: z
    .string()
    .min(1)
    .max(200)
    .regex(/^[^\s\u0000-\u001f]+$/, "model names have no spaces or control characters")
    .openapi({ description: "Model name as clients address it (URL-encoded), e.g. `gpt-4o` or `groq%2Fllama-3.1-70b`" }),
});

const usdPerMtok = z.union([z.string(), z.number()]).openapi({ description: "USD per million tokens", example: "2.50" });

const putBody = z
  .object({
    input_usd: usdPerMtok,
    output_usd: usdPerMtok,
    cached_input_usd: usdPerMtok.nullable().optional(),
    cache_write_usd: usdPerMtok.nullable().optional(),
    cache_write_1h_usd: usdPerMtok.nullable().optional(),
    max_output_tokens: z.number().int().min(1).max(10_000_000).nullable().optional(),
  })
  .openapi("PriceOverrideInput");

const priceSchema = z
  .object({
    model: z.string(),
    source: z.enum(["catalog", "override"]),
    provider: z.string().nullable(),
    input_usd: z.string(),
    cached_input_usd: z.string().nullable(),
    cache_write_usd: z.string().nullable(),
    cache_write_1h_usd: z.string().nullable(),
    output_usd: z.string(),
    input_micros_per_mtok: z.number().int(),
    output_micros_per_mtok: z.number().int(),
    max_output_tokens: z.number().int().nullable(),
    catalog: z.object({ input_usd: z.string(), output_usd: z.string() }).nullable().openapi({ description: "The catalog price an override replaces" }),
  })
  .openapi("ModelPrice");

const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { "application/json": { schema } } });
const usdOrNull = (m: number | null | undefined) => (m === null || m === undefined ? null : formatMicrosFixed(m));

function fromCatalog(model: string, e: CatalogEntry) {
  return {
    model, source: "catalog" as const, provider: e.provider, input_usd: formatMicrosFixed(e.inputPerMtok), cached_input_usd: formatMicrosFixed(e.cachedInputPerMtok),
    cache_write_usd: formatMicrosFixed(e.cacheWritePerMtok), cache_write_1h_usd: formatMicrosFixed(e.cacheWrite1hPerMtok), output_usd: formatMicrosFixed(e.outputPerMtok),
    input_micros_per_mtok: e.inputPerMtok, output_micros_per_mtok: e.outputPerMtok, max_output_tokens: e.maxOutputTokens || null, catalog: null,
  };
}

function fromOverride(o: PriceOverrideRow) {
  const cat = CATALOG[o.model];
  return {
    model: o.model, source: "override" as const, provider: cat?.provider ?? null, input_usd: formatMicrosFixed(o.inputPerMtok),
    cached_input_usd: usdOrNull(o.cachedInputPerMtok), cache_write_usd: usdOrNull(o.cacheWritePerMtok), cache_write_1h_usd: usdOrNull(o.cacheWrite1hPerMtok),
    output_usd: formatMicrosFixed(o.outputPerMtok), input_micros_per_mtok: o.inputPerMtok, output_micros_per_mtok: o.outputPerMtok,
    max_output_tokens: o.maxOutputTokens, catalog: cat ? { input_usd: formatMicrosFixed(cat.inputPerMtok), output_usd: formatMicrosFixed(cat.outputPerMtok) } : null,
  };
}

function price(value: string | number, param: string): number {
  const micros = parseUsdToMicros(value);
  if (micros === null) throw new ApiError("invalid_request", `${param}: expected a non-negative USD amount per million tokens (at most 6 decimals)`, { param });
  return micros;
}

const optionalPrice = (value: string | number | null | undefined, param: string) => (value === null || value === undefined ? null : price(value, param));

const auditView = (o: PriceOverrideRow) => ({ ...o, orgId: undefined });

export const pricingRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(
    orgRoute("viewer", {
      method: "get",
      path: "/orgs/{orgId}/pricing",
      tags: ["pricing"],
      summary: "Prices in effect: the built-in catalog merged with the org's overrides",
      request: { params: orgParams },
      responses: { 200: json(z.object({ data: z.array(priceSchema), next_cursor: z.null() }), "Every priced model") },
    }),
    async (c) => {
      const { orgId } = c.var.org;
      const overrides = await listPriceOverrides(getDb(c.env.DB), orgId);
      const byModel = new Map<string, z.infer<typeof priceSchema>>(Object.entries(CATALOG).map(([m, e]) => [m, fromCatalog(m, e)]));
      for (const o of overrides) byModel.set(o.model, fromOverride(o));
      const data = [...byModel.values()].sort((a, b) => a.model.localeCompare(b.model));
      return c.json({ data, next_cursor: null }, 200);
    },
  )
  .openapi(
    orgRoute("admin", {
      method: "put",
      path: "/orgs/{orgId}/pricing/{model}",
      tags: ["pricing"],
      summary: "Set the org's price for a model (overrides the catalog, or prices a model it lacks)",
      request: { params: modelParams, body: { content: { "application/json": { schema: putBody } }, required: true } },
      responses: { 200: json(priceSchema, "The price now in effect") },
    }),
    async (c) => {
      const { orgId } = c.var.org;
      const { model } = c.req.valid("param");
      const input = c.req.valid("json");
      const db = getDb(c.env.DB);
      const row: PriceOverrideRow = {
        orgId, model, inputPerMtok: price(input.input_usd, "input_usd"), outputPerMtok: price(input.output_usd, "output_usd"),
        cachedInputPerMtok: optionalPrice(input.cached_input_usd, "cached_input_usd"), cacheWritePerMtok: optionalPrice(input.cache_write_usd, "cache_write_usd"),
        cacheWrite1hPerMtok: optionalPrice(input.cache_write_1h_usd, "cache_write_1h_usd"), maxOutputTokens: input.max_output_tokens ?? null, updatedAt: Date.now(),
      };
      const before = await findPriceOverride(db, orgId, model);
      await db.batch([
        upsertPriceOverrideStmt(db, row),
        auditInsert(db, orgId, auditActorOf(c), {
          action: before ? "pricing.update" : "pricing.create", targetType: "pricing", targetId: model,
          before: before ? auditView(before) : undefined, after: auditView(row),
        }),
      ]);
      await refreshGate(c.env, orgId, ["pricing"]);
      return c.json(fromOverride(row), 200);
    },
  )
  .openapi(
    orgRoute("admin", {
      method: "delete",
      path: "/orgs/{orgId}/pricing/{model}",
      tags: ["pricing"],
      summary: "Remove the org's override (the catalog price, if any, applies again)",
      request: { params: modelParams },
      responses: { 200: json(z.object({ model: z.string(), deleted: z.literal(true), price: priceSchema.nullable() }), "Override removed; the price now in effect (null: unpriced)") },
    }),
    async (c) => {
      const { orgId } = c.var.org;
      const { model } = c.req.valid("param");
      const db = getDb(c.env.DB);
      const before = await findPriceOverride(db, orgId, model);
      if (!before) throw new ApiError("not_found", `No price override for '${model}'`, { param: "model" });
      await db.batch([
        deletePriceOverrideStmt(db, orgId, model),
        auditInsert(db, orgId, auditActorOf(c), { action: "pricing.delete", targetType: "pricing", targetId: model, before: auditView(before) }),
      ]);
      await refreshGate(c.env, orgId, ["pricing"]);
      const cat = CATALOG[model];
      return c.json({ model, deleted: true as const, price: cat ? fromCatalog(model, cat) : null }, 200);
    },
  );
