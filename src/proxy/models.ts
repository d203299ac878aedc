/**
 * `GET /v1/models`: the models this key may use, in OpenAI's list shape so `client.models.list()`
 * works unchanged. One DO round trip (`listModels`), zero D1: the gate verifies the key exactly as
 * `admit` does and lists every id it would admit (rules in src/durable-objects/gate-models.ts).
 */
import type { Context } from "hono";
import type { AppEnv } from "../app-env";
import { presentedKey } from "./authenticate-key";
import { denialToError } from "./denial";
import { proxyErrorResponse, toApiError } from "./error-response";
import { listModels as gateListModels } from "./gate-calls";

/** Handles `GET /v1/models`. */
export async function listModels(c: Context<AppEnv>): Promise<Response> {
  const requestId = c.var.requestId;
  try {
    const key = await presentedKey(c.req.raw.headers, true);
    const result = await gateListModels(c.env, { orgId: key.orgId, keyId: key.keyId, keyHash: key.keyHash });
    if (!result.ok) throw denialToError(result.denial);
    const created = Math.floor(Date.now() / 1000);
    const data = result.models.map((m) => ({ id: m.id, object: "model" as const, created, owned_by: m.provider }));
    return new Response(JSON.stringify({ object: "list", data }), { status: 200, headers: { "content-type": "application/json", "X-Request-Id": requestId } });
  } catch (e) {
    return proxyErrorResponse(toApiError(e), "openai", requestId);
  }
}
