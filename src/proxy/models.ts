/**
 * `GET /v1/models`: the models this key may use, from the org gate's hot copy (one DO round trip:
 * the gate verifies the key and intersects its allowed models with the priced models of the org's
 * providers). OpenAI list shape, so `client.models.list()` works unchanged.
 */
import type { Context } from "hono";
import type { AppEnv } from "../app-env";
import { ApiError } from "../errors";
import { presentedKey } from "./authenticate-key";
import { denialToError } from "./denial";
import { proxyErrorResponse, toApiError } from "./error-response";
import { listGateModels } from "./gate-calls";

/** Handles `GET /v1/models`. */
export async function listModels(c: Context<AppEnv>): Promise<Response> {
  const requestId = c.var.requestId;
  try {
    const key = await presentedKey(c.req.raw.headers, true);
    const result = await listGateModels(c.env, { orgId: key.orgId, keyId: key.keyId, keyHash: key.keyHash });
    if (!result.ok) throw denialToError(result.denial);
    const created = Math.floor(Date.now() / 1000);
    const data = result.models.map((m) => ({ id: m.id, object: "model" as const, created, owned_by: m.provider }));
    return new Response(JSON.stringify({ object: "list", data }), {
      status: 200,
      headers: { "content-type": "application/json", "X-Request-Id": requestId },
    });
  } catch (e) {
    return proxyErrorResponse(e instanceof ApiError ? e : toApiError(e), "openai", requestId);
  }
}
