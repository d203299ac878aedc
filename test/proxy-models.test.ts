/**
 * `GET /v1/models` lists exactly what the key may send as `model`, from one gate call: a restricted
 * key its allow-list, an unrestricted key the catalog plus the org's own priced models, addressed
 * bare (default provider) and as `provider-name/model`; a bad key is refused like on any /v1 call.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { orgGate } from "../src/durable-objects/org-gate-client";
import { createPriceOverride } from "./factories/gate";
import { createGatewayOrg, v1 } from "./factories/gateway";

async function listIds(key: Parameters<typeof v1>[0]): Promise<{ status: number; body: any }> {
  const res = await v1(key, "/models", undefined, {}, { method: "GET" });
  return { status: res.status, body: await res.json() };
}

describe("GET /v1/models", () => {
  it("a key restricted to two models lists exactly those, in OpenAI's list shape", async () => {
    const { key } = await createGatewayOrg({ keyOpts: { allowedModels: ["gpt-4o-mini", "anthropic/claude-sonnet-4-5"] } });
    const { status, body } = await listIds(key);
    expect(status).toBe(200);
    expect(body.object).toBe("list");
    expect(body.data.map((m: any) => m.id)).toEqual(["anthropic/claude-sonnet-4-5", "gpt-4o-mini"]);
    expect(body.data[0]).toEqual({ id: "anthropic/claude-sonnet-4-5", object: "model", created: expect.any(Number), owned_by: "anthropic" });
    expect(body.data[1].owned_by).toBe("openai");
  });

  it("an unrestricted key lists catalog models per provider and the org's custom priced model", async () => {
    const { org, key } = await createGatewayOrg();
    await createPriceOverride(org, "acme-llm-7b", { input: 100_000, output: 200_000 });
    const { status, body } = await listIds(key);
    expect(status).toBe(200);
    const ids = new Set(body.data.map((m: any) => m.id));
    expect(ids.has("acme-llm-7b")).toBe(true);
    expect(ids.has("openai/acme-llm-7b")).toBe(true);
    expect(ids.has("anthropic/acme-llm-7b")).toBe(false);
    expect(ids.has("gpt-4o-mini")).toBe(true);
    expect(ids.has("openai/gpt-4o-mini")).toBe(true);
    expect(ids.has("anthropic/claude-sonnet-4-5")).toBe(true);
    // The default provider is OpenAI: a bare Claude name would be sent to it, so it is not listed.
    expect(ids.has("claude-sonnet-4-5")).toBe(false);
    expect(ids.has("anthropic/gpt-4o-mini")).toBe(false);
  });

  it("a revoked key gets 401 invalid_api_key", async () => {
    const { org, key } = await createGatewayOrg();
    await orgGate(env, org.id).revokeKeys(org.id, [key.id]);
    const { status, body } = await listIds(key);
    expect(status).toBe(401);
    expect(body.error.code).toBe("invalid_api_key");
  });
});
