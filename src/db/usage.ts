/**
 * Org-scoped usage queries over `cost_events` (written by the OrgGate outbox). Every statement
 * filters on `org_id`; the grouping expression comes from a fixed table, never from input.
 */
import { and, desc, eq, gte, lt, or, sql } from "drizzle-orm";
import type { Db } from "./client";
import { costEvents } from "./schema";

export type UsageGroupBy = "day" | "model" | "key" | "team" | "customer" | "tag" | "prompt" | "guardrail";
export type CostEventRow = typeof costEvents.$inferSelect;

const GROUP_EXPR: Record<UsageGroupBy | "total", string> = {
  total: "'total'",
  day: "strftime('%Y-%m-%d', ce.created_at / 1000, 'unixepoch')",
  model: "ce.model",
  key: "ce.key_id",
  team: "ce.team_id",
  customer: "ce.customer_id",
  tag: "je.key || '=' || je.value",
  // `<prompt id>@<version>`; NULL (requests without a prompt) when the event has none.
  prompt: "ce.prompt_id || '@' || ce.prompt_version",
  guardrail: "json_extract(je.value, '$.id')",
};

/** Aggregates of one group (or of the whole range). Latency percentiles are nearest-rank. */
export type UsageAggregate = {
  group: string | null;
  requests: number;
  errors: number;
  input_tokens: number;
  output_tokens: number;
  cached_input_tokens: number;
  cost_micros: number;
  avg_latency_ms: number | null;
  p50_latency_ms: number | null;
  p95_latency_ms: number | null;
};

/** Usage in `[from, to)` grouped by `groupBy` (or one "total" row). At most `maxGroups` groups. */
export async function aggregateUsage(db: Db, orgId: string, range: { from: number; to: number }, groupBy: UsageGroupBy | "total", maxGroups = 1000): Promise<UsageAggregate[]> {
  // A request counts once under each guardrail that acted on it; requests no guardrail touched are left out.
  const tagJoin = groupBy === "tag" ? sql.raw(", json_each(ce.tags) je") : groupBy === "guardrail" ? sql.raw(", json_each(COALESCE(ce.guardrail_hits, '[]')) je") : sql.raw("");
  const order = groupBy === "day" ? sql.raw("g ASC") : sql.raw("cost_micros DESC, g ASC");
  const rows = await db.all<Record<string, number | string | null>>(sql`
    WITH base AS (
      SELECT ${sql.raw(GROUP_EXPR[groupBy])} AS g, ce.status, ce.input_tokens, ce.output_tokens, ce.cached_input_tokens, ce.cost_micros, ce.latency_ms
      FROM cost_events ce${tagJoin}
      WHERE ce.org_id = ${orgId} AND ce.created_at >= ${range.from} AND ce.created_at < ${range.to}
    ),
    ranked AS (
      SELECT *, ROW_NUMBER() OVER (PARTITION BY g ORDER BY latency_ms) AS rn, COUNT(*) OVER (PARTITION BY g) AS n FROM base
    )
    SELECT g, COUNT(*) AS requests, SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END) AS errors,
      SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens, SUM(cached_input_tokens) AS cached_input_tokens,
      SUM(cost_micros) AS cost_micros, AVG(latency_ms) AS avg_latency_ms,
      MIN(CASE WHEN rn * 100 >= n * 50 THEN latency_ms END) AS p50_latency_ms,
      MIN(CASE WHEN rn * 100 >= n * 95 THEN latency_ms END) AS p95_latency_ms
    FROM ranked GROUP BY g ORDER BY ${order} LIMIT ${maxGroups}`);
  return rows.map((r) => ({
    group: r.g === null ? null : String(r.g),
    requests: Number(r.requests ?? 0),
    errors: Number(r.errors ?? 0),
    input_tokens: Number(r.input_tokens ?? 0),
    output_tokens: Number(r.output_tokens ?? 0),
    cached_input_tokens: Number(r.cached_input_tokens ?? 0),
    cost_micros: Number(r.cost_micros ?? 0),
    avg_latency_ms: r.avg_latency_ms === null ? null : Math.round(Number(r.avg_latency_ms)),
    p50_latency_ms: r.p50_latency_ms === null ? null : Number(r.p50_latency_ms),
    p95_latency_ms: r.p95_latency_ms === null ? null : Number(r.p95_latency_ms),
  }));
}

/** Opaque cost-event cursor: creation time and request id of the last row. */
export function encodeEventCursor(row: { createdAt: number; requestId: string }): string {
  return btoa(`${row.createdAt}:${row.requestId}`).replace(/=+$/, "");
}

export function decodeEventCursor(cursor: string): { createdAt: number; requestId: string } | null {
  try {
    const s = atob(cursor);
    const i = s.indexOf(":");
    const createdAt = Number(s.slice(0, i));
    const requestId = s.slice(i + 1);
    return i > 0 && Number.isSafeInteger(createdAt) && requestId ? { createdAt, requestId } : null;
  } catch {
    return null;
  }
}

/** Exact-match filters of the cost-event list; `status` is `ok` (< 400), `error` (≥ 400) or one HTTP status. */
export type CostEventFilters = { keyId?: string; customerId?: string; model?: string; traceId?: string; status?: "ok" | "error" | number };

function filterConditions(f: CostEventFilters) {
  return [
    f.keyId === undefined ? undefined : eq(costEvents.keyId, f.keyId),
    f.customerId === undefined ? undefined : eq(costEvents.customerId, f.customerId),
    f.model === undefined ? undefined : eq(costEvents.model, f.model),
    f.traceId === undefined ? undefined : eq(costEvents.traceId, f.traceId),
    f.status === undefined ? undefined : f.status === "ok" ? lt(costEvents.status, 400) : f.status === "error" ? gte(costEvents.status, 400) : eq(costEvents.status, f.status),
  ];
}

/** One page of cost events, newest first (`limit + 1` rows to detect a next page), optionally within a range and filtered. */
export async function listCostEvents(
  db: Db,
  orgId: string,
  page: { after: { createdAt: number; requestId: string } | null; limit: number; from?: number; to?: number; filters?: CostEventFilters },
): Promise<CostEventRow[]> {
  const after = page.after
    ? or(lt(costEvents.createdAt, page.after.createdAt), and(eq(costEvents.createdAt, page.after.createdAt), lt(costEvents.requestId, page.after.requestId)))
    : undefined;
  return db
    .select()
    .from(costEvents)
    .where(and(
      eq(costEvents.orgId, orgId), after,
      page.from === undefined ? undefined : gte(costEvents.createdAt, page.from),
      page.to === undefined ? undefined : lt(costEvents.createdAt, page.to),
      ...filterConditions(page.filters ?? {}),
    ))
    .orderBy(desc(costEvents.createdAt), desc(costEvents.requestId))
    .limit(page.limit + 1);
}

/** What one trace (one agent run) cost: every cost event of the org carrying `traceId`. */
export type TraceTotal = {
  requests: number;
  errors: number;
  input_tokens: number;
  output_tokens: number;
  cost_micros: number;
  first_at: number;
  last_at: number;
};

/** Totals of one trace of the org, or null when no event carries it. */
export async function traceTotal(db: Db, orgId: string, traceId: string): Promise<TraceTotal | null> {
  const [r] = await db
    .select({
      requests: sql<number>`COUNT(*)`,
      errors: sql<number>`COALESCE(SUM(CASE WHEN ${costEvents.status} >= 400 THEN 1 ELSE 0 END), 0)`,
      input_tokens: sql<number>`COALESCE(SUM(${costEvents.inputTokens}), 0)`,
      output_tokens: sql<number>`COALESCE(SUM(${costEvents.outputTokens}), 0)`,
      cost_micros: sql<number>`COALESCE(SUM(${costEvents.costMicros}), 0)`,
      first_at: sql<number>`MIN(${costEvents.createdAt})`,
      last_at: sql<number>`MAX(${costEvents.createdAt})`,
    })
    .from(costEvents)
    .where(and(eq(costEvents.orgId, orgId), eq(costEvents.traceId, traceId)));
  if (!r || Number(r.requests) === 0) return null;
  return {
    requests: Number(r.requests), errors: Number(r.errors), input_tokens: Number(r.input_tokens), output_tokens: Number(r.output_tokens),
    cost_micros: Number(r.cost_micros), first_at: Number(r.first_at), last_at: Number(r.last_at),
  };
}
