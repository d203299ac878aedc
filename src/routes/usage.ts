/**
 * Usage (docs/resources.md, docs/dashboard.md): aggregates and raw cost events from D1 `cost_events` (filled by the
 * OrgGate outbox). Grouping by day, model, key, team, customer, tag, prompt version (`<prompt id>@<version>`,
 * docs/prompts.md) or guardrail (one row per guardrail that acted, docs/guardrails.md); CSV export for admins.
 */
import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { getDb } from "../db/client";
import { aggregateUsage, decodeEventCursor, encodeEventCursor, listCostEvents, traceTotal, type CostEventRow, type UsageAggregate, type UsageGroupBy } from "../db/usage";
import { ApiError, validationHook } from "../errors";
import { orgRoute } from "../lib/route";
import { formatMicrosFixed } from "../lib/usd";

const orgParams = z.object({ orgId: z.string() });
const GROUPS = ["day", "model", "key", "team", "customer", "tag", "prompt", "guardrail"] as const;
const DAY = 86_400_000;
const MAX_SPAN = 400 * DAY;
const CSV_MAX_ROWS = 50_000;

const instant = z
  .string()
  .refine((s) => /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(s) && !Number.isNaN(Date.parse(s)), "expected an ISO-8601 date or date-time")
  .openapi({ example: "2026-11-01" });

const rangeQuery = z.object({
  from: instant.optional().openapi({ description: "Start (inclusive); default 30 days before `to`" }),
  to: instant.optional().openapi({ description: "End (exclusive); default now" }),
  group_by: z.enum(GROUPS).optional(),
});

const aggregateSchema = z.object({
  requests: z.number().int(),
  errors: z.number().int(),
  input_tokens: z.number().int(),
  output_tokens: z.number().int(),
  cached_input_tokens: z.number().int(),
  cost_micros: z.number().int(),
  cost_usd: z.string(),
  avg_latency_ms: z.number().int().nullable(),
  p50_latency_ms: z.number().int().nullable(),
  p95_latency_ms: z.number().int().nullable(),
});

const usageSchema = z
  .object({
    from: z.string(),
    to: z.string(),
    group_by: z.enum(GROUPS).nullable(),
    totals: aggregateSchema,
    groups: z.array(aggregateSchema.extend({ key: z.string().nullable() })),
  })
  .openapi("Usage");

const costEventSchema = z
  .object({
    request_id: z.string(),
    key_id: z.string(),
    team_id: z.string().nullable(),
    customer_id: z.string().nullable(),
    tags: z.record(z.string(), z.string()),
    trace_id: z.string().nullable(),
    provider: z.string(),
    model: z.string(),
    endpoint: z.string(),
    status: z.number().int(),
    input_tokens: z.number().int(),
    cached_input_tokens: z.number().int(),
    cache_write_tokens: z.number().int(),
    output_tokens: z.number().int(),
    reasoning_tokens: z.number().int(),
    cost_micros: z.number().int(),
    cost_usd: z.string(),
    latency_ms: z.number().int(),
    ttfb_ms: z.number().int().nullable(),
    estimated: z.boolean(),
    prompt_id: z.string().nullable(),
    prompt_version: z.number().int().nullable(),
    /** Guardrails that acted on the request (docs/guardrails.md); never the matched text. */
    guardrail_hits: z.array(z.object({ id: z.string(), action: z.string() })),
    created_at: z.string(),
  })
  .openapi("CostEvent");

// Same shapes the proxy accepts (docs/proxy.md, attribution), so a filter can name anything a request stored.
const TRACE_ID = /^[A-Za-z0-9_.:-]{1,128}$/;
const traceId = z.string().regex(TRACE_ID, "trace_id must be 1-128 chars of [A-Za-z0-9_.:-]");

const eventFilters = z.object({
  key_id: z.string().min(1).max(64).regex(/^[A-Za-z0-9_-]+$/, "key_id must be a key id").optional().openapi({ description: "Only this virtual key's events" }),
  customer_id: z.string().min(1).max(256).optional().openapi({ description: "Exact customer id" }),
  model: z.string().min(1).max(200).optional().openapi({ description: "Exact model name as recorded" }),
  status: z
    .string()
    .regex(/^(ok|error|[1-5]\d\d)$/, "status must be ok, error or an HTTP status code")
    .optional()
    .openapi({ description: "`ok` (status < 400), `error` (≥ 400) or one HTTP status code" }),
  trace_id: traceId.optional().openapi({ description: "Exact trace id (X-Tollgate-Trace-Id or traceparent)" }),
});

const traceSchema = z
  .object({
    trace_id: z.string(),
    requests: z.number().int(),
    errors: z.number().int(),
    input_tokens: z.number().int(),
    output_tokens: z.number().int(),
    cost_micros: z.number().int(),
    cost_usd: z.string(),
    first_at: z.string(),
    last_at: z.string(),
  })
  .openapi("TraceTotal");

const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { "application/json": { schema } } });

function parseRange(q: { from?: string; to?: string }): { from: number; to: number } {
  const to = q.to ? Date.parse(q.to) : Date.now();
  const from = q.from ? Date.parse(q.from) : to - 30 * DAY;
  if (from >= to) throw new ApiError("invalid_request", "`from` must be before `to`", { param: "from" });
  if (to - from > MAX_SPAN) throw new ApiError("invalid_request", "The range may span at most 400 days", { param: "from" });
  return { from, to };
}

const EMPTY: UsageAggregate = {
  group: null, requests: 0, errors: 0, input_tokens: 0, output_tokens: 0, cached_input_tokens: 0, cost_micros: 0,
  avg_latency_ms: null, p50_latency_ms: null, p95_latency_ms: null,
};

function presentAggregate(a: UsageAggregate) {
  const { group: _g, ...rest } = a;
  return { ...rest, cost_usd: formatMicrosFixed(a.cost_micros) };
}

function presentEvent(e: CostEventRow) {
  return {
    request_id: e.requestId, key_id: e.keyId, team_id: e.teamId, customer_id: e.customerId, tags: e.tags ?? {}, trace_id: e.traceId,
    provider: e.provider, model: e.model, endpoint: e.endpoint, status: e.status, input_tokens: e.inputTokens, cached_input_tokens: e.cachedInputTokens,
    cache_write_tokens: e.cacheWriteTokens, output_tokens: e.outputTokens, reasoning_tokens: e.reasoningTokens, cost_micros: e.costMicros,
    cost_usd: formatMicrosFixed(e.costMicros), latency_ms: e.latencyMs, ttfb_ms: e.ttfbMs, estimated: e.estimated,
    prompt_id: e.promptId ?? null, prompt_version: e.promptVersion ?? null,
    guardrail_hits: e.guardrailHits ? (JSON.parse(e.guardrailHits) as Array<{ id: string; action: string }>) : [], created_at: new Date(e.createdAt).toISOString(),
  };
}

/** One CSV cell: quoted when needed; cells that a spreadsheet would run as a formula are defused. */
export function csvCell(v: unknown): string {
  let s = v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v);
  if (/^[=+\-@\t\r]/.test(s) && !/^-?\d+(\.\d+)?$/.test(s)) s = `'${s}`;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

const csvLine = (cells: unknown[]) => cells.map(csvCell).join(",") + "\r\n";

export const usageRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(
    orgRoute("viewer", {
      method: "get",
      path: "/orgs/{orgId}/usage",
      tags: ["usage"],
      summary: "Requests, errors, tokens, cost and latency in a time range, optionally grouped",
      request: { params: orgParams, query: rangeQuery },
      responses: { 200: json(usageSchema, "Usage totals and groups") },
    }),
    async (c) => {
      const { orgId } = c.var.org;
      const q = c.req.valid("query");
      const range = parseRange(q);
      const db = getDb(c.env.DB);
      const [totals] = await aggregateUsage(db, orgId, range, "total");
      const groups = q.group_by ? await aggregateUsage(db, orgId, range, q.group_by as UsageGroupBy) : [];
      return c.json({
        from: new Date(range.from).toISOString(), to: new Date(range.to).toISOString(), group_by: q.group_by ?? null,
        totals: presentAggregate(totals ?? EMPTY), groups: groups.map((g) => ({ key: g.group, ...presentAggregate(g) })),
      }, 200);
    },
  )
  .openapi(
    orgRoute("admin", {
      method: "get",
      path: "/orgs/{orgId}/usage.csv",
      tags: ["usage"],
      summary: "Export usage as CSV: grouped rows with `group_by`, else one row per request (at most 50,000)",
      request: { params: orgParams, query: rangeQuery },
      responses: { 200: { description: "CSV", content: { "text/csv": { schema: z.string() } } } },
    }),
    async (c) => {
      const { orgId } = c.var.org;
      const q = c.req.valid("query");
      const range = parseRange(q);
      const db = getDb(c.env.DB);
      let out = "";
      if (q.group_by) {
        out += csvLine([q.group_by, "requests", "errors", "input_tokens", "output_tokens", "cached_input_tokens", "cost_micros", "cost_usd", "avg_latency_ms", "p50_latency_ms", "p95_latency_ms"]);
        for (const g of await aggregateUsage(db, orgId, range, q.group_by as UsageGroupBy, CSV_MAX_ROWS)) {
          out += csvLine([g.group, g.requests, g.errors, g.input_tokens, g.output_tokens, g.cached_input_tokens, g.cost_micros, formatMicrosFixed(g.cost_micros), g.avg_latency_ms, g.p50_latency_ms, g.p95_latency_ms]);
        }
      } else {
        const cols = ["created_at", "request_id", "key_id", "team_id", "customer_id", "tags", "trace_id", "provider", "model", "endpoint", "status",
          "input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens", "cost_micros", "cost_usd", "latency_ms", "ttfb_ms", "estimated", "prompt_id", "prompt_version"] as const;
        out += csvLine([...cols]);
        let after: { createdAt: number; requestId: string } | null = null;
        let written = 0;
        while (written < CSV_MAX_ROWS) {
          const rows = await listCostEvents(db, orgId, { after, limit: 1000, from: range.from, to: range.to });
          const page = rows.slice(0, 1000);
          for (const e of page) {
            const p = presentEvent(e);
            out += csvLine(cols.map((k) => p[k]));
          }
          written += page.length;
          if (rows.length <= 1000) break;
          const last = page[page.length - 1]!;
          after = { createdAt: last.createdAt, requestId: last.requestId };
        }
      }
      const name = `usage-${new Date(range.from).toISOString().slice(0, 10)}-${new Date(range.to).toISOString().slice(0, 10)}${q.group_by ? `-by-${q.group_by}` : ""}.csv`;
      return c.body(out, 200, { "content-type": "text/csv; charset=utf-8", "content-disposition": `attachment; filename="${name}"` });
    },
  )
  .openapi(
    orgRoute("viewer", {
      method: "get",
      path: "/orgs/{orgId}/cost-events",
      tags: ["usage"],
      summary: "Cost events, newest first",
      request: {
        params: orgParams,
        query: z.object({ cursor: z.string().optional(), limit: z.coerce.number().int().min(1).max(500).default(50), from: instant.optional(), to: instant.optional() }).extend(eventFilters.shape),
      },
      responses: { 200: json(z.object({ data: z.array(costEventSchema), next_cursor: z.string().nullable() }), "A page of cost events") },
    }),
    async (c) => {
      const { orgId } = c.var.org;
      const q = c.req.valid("query");
      const after = q.cursor ? decodeEventCursor(q.cursor) : null;
      if (q.cursor && !after) throw new ApiError("invalid_request", "Malformed cursor", { param: "cursor" });
      const rows = await listCostEvents(getDb(c.env.DB), orgId, {
        after, limit: q.limit, from: q.from ? Date.parse(q.from) : undefined, to: q.to ? Date.parse(q.to) : undefined,
        filters: {
          keyId: q.key_id, customerId: q.customer_id, model: q.model, traceId: q.trace_id,
          status: q.status === undefined || q.status === "ok" || q.status === "error" ? q.status : Number(q.status),
        },
      });
      const page = rows.slice(0, q.limit);
      const last = page[page.length - 1];
      return c.json({ data: page.map(presentEvent), next_cursor: rows.length > q.limit && last ? encodeEventCursor(last) : null }, 200);
    },
  )
  .openapi(
    orgRoute("viewer", {
      method: "get",
      path: "/orgs/{orgId}/traces/{traceId}",
      tags: ["usage"],
      summary: "What one trace (one agent run) cost: total cost, requests, tokens, first and last request time",
      request: { params: orgParams.extend({ traceId }) },
      responses: { 200: json(traceSchema, "The trace's totals"), 404: { description: "No cost event of this org carries the trace id" } },
    }),
    async (c) => {
      const { traceId: id } = c.req.valid("param");
      const t = await traceTotal(getDb(c.env.DB), c.var.org.orgId, id);
      if (!t) throw new ApiError("not_found", "No cost events carry this trace id", { param: "trace_id" });
      return c.json({ trace_id: id, ...t, cost_usd: formatMicrosFixed(t.cost_micros), first_at: new Date(t.first_at).toISOString(), last_at: new Date(t.last_at).toISOString() }, 200);
    },
  );
