/**
 * `GET /v1/models`: the models this key may use, in OpenAI's list shape so `client.models.list()`
 * works unchanged. One DO round trip.
 *
 * Interim (until the gate implements the `listModels` RPC requested in docs/protocol-requests.md):
 * the key is verified by the gate (`verifyKey`), and the list is the key's `allowed_models`
 * (wildcards expanded against the price catalog) or, for an unrestricted key, the price catalog.
 * Org price overrides for custom models and the org's provider set are not reflected yet.
 */
import type { Context } from "hono";
import type { AppEnv } from "../app-env";
import { orgGate } from "../durable-objects/org-gate-client";
import { ApiError } from "../errors";
import { CATALOG } from "../pricing/catalog";
import { presentedKey } from "./authenticate-key";
import { denialToError } from "./denial";
import { proxyErrorResponse, toApiError } from "./error-response";

/** Model ids for a key's allow-list (exact names as given; `prefix*` expanded over the catalog). */
export function modelsFor(allowed: string[] | null): Array<{ id: string; owner: string }> {
  const catalog = Object.entries(CATALOG).map(([id, e]) => ({ id, owner: e.provider as string }));
  if (!allowed) return catalog;
  const out = new Map<string, string>();
  for (const p of allowed) {
    if (p.endsWith("*")) for (const m of catalog) if (m.id.startsWith(p.slice(0, -1))) out.set(m.id, m.owner);
    if (!p.endsWith("*")) out.set(p, CATALOG[p.slice(p.indexOf("/") + 1)]?.provider ?? (p.includes("/") ? p.slice(0, p.indexOf("/")) : "organization"));
  }
  return [...out].map(([id, owner]) => ({ id, owner }));
}

/** Handles `GET /v1/models`. */
export async function listModels(c: Context<AppEnv>): Promise<Response> {
  const requestId = c.var.requestId;
  try {
    const key = await presentedKey(c.req.raw.headers, true);
    let check;
    try {
      check = await orgGate(c.env, key.orgId).verifyKey(key.orgId, key.keyId, key.keyHash);
    } catch {
      throw new ApiError("budget_unavailable", "Budget service unavailable. Retry shortly.");
    }
    if (!check.ok) throw denialToError({ kind: "invalid_key", reason: check.reason });
    const created = Math.floor(Date.now() / 1000);
    const data = modelsFor(check.key.allowedModels).map((m) => ({ id: m.id, object: "model" as const, created, owned_by: m.owner }));
    return new Response(JSON.stringify({ object: "list", data }), { status: 200, headers: { "content-type": "application/json", "X-Request-Id": requestId } });
  } catch (e) {
    return proxyErrorResponse(toApiError(e), "openai", requestId);
  }
}
