/**
 * Attribution of a proxied request (docs/proxy.md): customer, tags and trace id. All optional.
 * - customer: body `user`, else `metadata.customer_id`, else header `X-Tollgate-Customer`
 * - tags: `metadata.tags` (object of strings) merged over header `X-Tollgate-Tags: team=search,env=prod`
 * - trace: `X-Tollgate-Trace-Id`, else the trace-id of a W3C `traceparent`; forwarded upstream and
 *   returned as `X-Tollgate-Trace-Id`. When absent the request id serves as trace id.
 * Tollgate's own metadata keys (`customer_id`, `tags`) are removed from the body before it is
 * forwarded: providers validate `metadata` (OpenAI: string values only; Anthropic: `user_id` only).
 */
import type { Attribution } from "../durable-objects/gate-protocol";

export type AttributionResult = { ok: true; attribution: Attribution } | { ok: false; param: string; message: string };

const MAX_ID = 256;
const MAX_TAGS = 16;
const TAG_RE = /^[A-Za-z0-9_.:-]{1,64}$/;
const TRACEPARENT_RE = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;
const TRACE_ID_RE = /^[A-Za-z0-9_.:-]{1,128}$/;

/** Reads attribution from the validated body and the request headers. */
export function readAttribution(body: Record<string, unknown>, headers: Headers, userField: "user" | "metadata.user_id"): AttributionResult {
  const metadata = body.metadata && typeof body.metadata === "object" && !Array.isArray(body.metadata) ? (body.metadata as Record<string, unknown>) : null;

  let customerId: string | null = null;
  const fromUser = userField === "user" ? body.user : metadata?.user_id;
  for (const [v, param] of [
    [fromUser, userField],
    [metadata?.customer_id, "metadata.customer_id"],
    [headers.get("x-tollgate-customer"), "X-Tollgate-Customer"],
  ] as const) {
    if (v === undefined || v === null || v === "") continue;
    if (typeof v !== "string" || v.length > MAX_ID) return { ok: false, param, message: `${param} must be a string of at most ${MAX_ID} characters` };
    customerId = v;
    break;
  }

  const tags: Record<string, string> = {};
  const header = headers.get("x-tollgate-tags");
  if (header) {
    for (const pair of header.split(",")) {
      const p = pair.trim();
      if (!p) continue;
      const eq = p.indexOf("=");
      const k = eq < 0 ? "" : p.slice(0, eq).trim();
      const v = eq < 0 ? "" : p.slice(eq + 1).trim();
      if (!TAG_RE.test(k) || !TAG_RE.test(v)) return { ok: false, param: "X-Tollgate-Tags", message: "X-Tollgate-Tags must be name=value pairs separated by commas ([A-Za-z0-9_.:-], ≤ 64 chars each)" };
      tags[k] = v;
    }
  }
  if (metadata?.tags !== undefined && metadata.tags !== null) {
    const t = metadata.tags;
    if (typeof t !== "object" || Array.isArray(t)) return { ok: false, param: "metadata.tags", message: "metadata.tags must be an object of name → string value" };
    for (const [k, v] of Object.entries(t as Record<string, unknown>)) {
      if (!TAG_RE.test(k) || typeof v !== "string" || !TAG_RE.test(v)) return { ok: false, param: `metadata.tags.${k}`, message: "tag names and values must be strings of [A-Za-z0-9_.:-], ≤ 64 chars" };
      tags[k] = v;
    }
  }
  if (Object.keys(tags).length > MAX_TAGS) return { ok: false, param: "metadata.tags", message: `at most ${MAX_TAGS} tags per request` };

  let traceId: string | null = null;
  const explicit = headers.get("x-tollgate-trace-id");
  if (explicit) {
    if (!TRACE_ID_RE.test(explicit)) return { ok: false, param: "X-Tollgate-Trace-Id", message: "X-Tollgate-Trace-Id must be 1-128 chars of [A-Za-z0-9_.:-]" };
    traceId = explicit;
  } else {
    const tp = headers.get("traceparent");
    const m = tp ? TRACEPARENT_RE.exec(tp.trim().toLowerCase()) : null;
    if (m) traceId = m[1]!;
  }
  return { ok: true, attribution: { customerId, tags, traceId } };
}

/** Removes Tollgate's attribution keys from `metadata` (and `metadata` itself when it ends up empty). */
export function stripTollgateMetadata(body: Record<string, unknown>): void {
  const m = body.metadata;
  if (!m || typeof m !== "object" || Array.isArray(m)) return;
  const md = m as Record<string, unknown>;
  if (!("customer_id" in md) && !("tags" in md)) return;
  const { customer_id: _c, tags: _t, ...rest } = md;
  if (Object.keys(rest).length === 0) delete body.metadata;
  else body.metadata = rest;
}
