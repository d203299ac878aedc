import { inject } from "vitest";
import { describe, expect, it } from "vitest";
import { call, createOrgWithCast } from "./factories";
import { costEvents, createGatewayOrg, createSealedProvider, flushGate, gateCounters, upstreamRecord, v1, waitForSettled, type GatewayFixture } from "./factories/gateway";
import { createKey } from "./factories/keys";
import { auditRows, createProvider } from "./factories/org-resources";

const aliasesPath = (orgId: string) => `/api/orgs/${orgId}/model-aliases`;
const chat = (model: string, extra: Record<string, unknown> = {}) => ({ model, messages: [{ role: "user", content: "hi" }], max_tokens: 20, ...extra });

/** A gateway org plus a provider `flaky` whose every answer is `status`, and an alias smart → [flaky, openai]. */
async function chainOrg(status: number, keyOpts: Parameters<typeof createKey>[2] = {}): Promise<GatewayFixture> {
  const fx = await createGatewayOrg({ keyOpts });
  await createSealedProvider(fx.org, { name: "flaky", type: "openai", baseUrl: `${inject("mockUrls").openai}/fail-${status}/v1`, apiKey: "sk-flaky-upstream" });
  const res = await call(fx.owner, "POST", aliasesPath(fx.org.id), { name: "smart", targets: [{ provider: "flaky", model: "gpt-4o-mini" }, { provider: "openai", model: "gpt-4o-mini" }] });
  expect(res.status).toBe(201);
  return fx;
}

describe("model aliases: fallbacks", () => {
  it("first target answers 429: the client sees one success, the cost events show both attempts and the first is charged nothing", async () => {
    const { org, key } = await chainOrg(429);
    const res = await v1(key, "/chat/completions", chat("smart"));
    expect(res.status).toBe(200);
    expect(res.headers.get("x-tollgate-fallback-attempts")).toBe("2");
    const body = (await res.json()) as any;
    expect(body.object).toBe("chat.completion");
    const requestId = res.headers.get("x-request-id")!;

    // Both attempts reached a provider, each with its own request id.
    expect((await upstreamRecord("openai", requestId))!.path).toBe("/fail-429/v1/chat/completions");
    expect((await upstreamRecord("openai", `${requestId}.2`))!.path).toBe("/v1/chat/completions");

    await waitForSettled(org.id);
    await flushGate(org.id);
    const events = (await costEvents(org.id)).sort((a, b) => a.request_id.localeCompare(b.request_id));
    expect(events.map((e) => e.request_id)).toEqual([requestId, `${requestId}.2`]);
    expect(events[0]).toMatchObject({ status: 429, cost_micros: 0, provider: "flaky" });
    expect(events[1]).toMatchObject({ status: 200, provider: "openai" });
    expect(events[1]!.cost_micros).toBeGreaterThan(0);
    expect((await gateCounters(org.id)).reservations).toBe(0);
  });

  it("a 5xx falls back too; when every target fails the last error is returned and each attempt is released", async () => {
    const fx = await createGatewayOrg();
    const base = inject("mockUrls").openai;
    await createSealedProvider(fx.org, { name: "down1", type: "openai", baseUrl: `${base}/fail-503/v1`, apiKey: "sk-a" });
    await createSealedProvider(fx.org, { name: "down2", type: "openai", baseUrl: `${base}/fail-500/v1`, apiKey: "sk-b" });
    const created = await call(fx.owner, "POST", aliasesPath(fx.org.id), { name: "both-down", targets: [{ provider: "down1", model: "gpt-4o-mini" }, { provider: "down2", model: "gpt-4o-mini" }] });
    expect(created.status).toBe(201);
    const res = await v1(fx.key, "/chat/completions", chat("both-down"));
    expect(res.status).toBe(502);
    expect(res.headers.get("x-tollgate-fallback-attempts")).toBe("2");
    expect(((await res.json()) as any).error.message).toContain("down2");
    await waitForSettled(fx.org.id);
    await flushGate(fx.org.id);
    const events = await costEvents(fx.org.id);
    expect(events.map((e) => [e.status, e.cost_micros]).sort()).toEqual([[500, 0], [503, 0]]);
  });

  it("a first-byte timeout is charged at its estimate and falls back; an unopened connection is released and falls back", async () => {
    const fx = await createGatewayOrg();
    const base = inject("mockUrls").openai;
    await createSealedProvider(fx.org, { name: "hangs", type: "openai", baseUrl: `${base}/hang/v1`, apiKey: "sk-a" });
    await createSealedProvider(fx.org, { name: "closed", type: "openai", baseUrl: "http://127.0.0.1:1/v1", apiKey: "sk-b" });
    const created = await call(fx.owner, "POST", aliasesPath(fx.org.id), {
      name: "resilient", targets: [{ provider: "hangs", model: "gpt-4o-mini" }, { provider: "closed", model: "gpt-4o-mini" }, { provider: "openai", model: "gpt-4o-mini" }],
    });
    expect(created.status).toBe(201);
    const res = await v1(fx.key, "/chat/completions", chat("resilient", { stream: true }), { "X-Tollgate-Timeout-Ms": "800" });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-tollgate-fallback-attempts")).toBe("3");
    const requestId = res.headers.get("x-request-id")!;
    expect(await res.text()).toContain("[DONE]");
    await waitForSettled(fx.org.id);
    await flushGate(fx.org.id);
    const byId = new Map((await costEvents(fx.org.id)).map((e) => [e.request_id, e]));
    expect(byId.get(requestId)).toMatchObject({ provider: "hangs", status: 504, estimated: 1 });
    expect(byId.get(requestId)!.cost_micros).toBeGreaterThan(0);
    expect(byId.get(`${requestId}.2`)).toMatchObject({ provider: "closed", status: 502, cost_micros: 0 });
    expect(byId.get(`${requestId}.3`)).toMatchObject({ provider: "openai", status: 200, estimated: 0 });
  });

  it("a target whose provider was deleted is refused, never sent to the default provider", async () => {
    const { owner, org, key } = await chainOrg(429);
    const prov = (await call(owner, "GET", `/api/orgs/${org.id}/providers`)).body.data.find((p: any) => p.name === "flaky");
    expect((await call(owner, "DELETE", `/api/orgs/${org.id}/providers/${prov.id}`)).status).toBe(200);
    const res = await v1(key, "/chat/completions", chat("smart"));
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error.message).toContain("flaky/gpt-4o-mini");
    expect(await upstreamRecord("openai", res.headers.get("x-request-id")!)).toBeNull();
    expect((await gateCounters(org.id)).reservations).toBe(0);
  });

  it("a provider 4xx other than 429 is returned as is, without trying the next target", async () => {
    const { org, key } = await chainOrg(400);
    const res = await v1(key, "/chat/completions", chat("smart"));
    expect(res.status).toBe(400);
    expect(res.headers.get("x-tollgate-fallback-attempts")).toBe("1");
    const requestId = res.headers.get("x-request-id")!;
    expect(await upstreamRecord("openai", `${requestId}.2`)).toBeNull();
    await waitForSettled(org.id);
    await flushGate(org.id);
    expect(await costEvents(org.id)).toHaveLength(1);
  });

  it("allowed_models is checked against the alias name, not its targets", async () => {
    const allowed = await chainOrg(429, { allowedModels: ["smart"] });
    const ok = await v1(allowed.key, "/chat/completions", chat("smart"));
    expect(ok.status).toBe(200);
    expect(ok.headers.get("x-tollgate-fallback-attempts")).toBe("2");

    const targetsOnly = await chainOrg(429, { allowedModels: ["gpt-4o-mini", "flaky/gpt-4o-mini", "openai/gpt-4o-mini"] });
    const denied = await v1(targetsOnly.key, "/chat/completions", chat("smart"));
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as any).error.code).toBe("model_not_allowed");
    expect((await gateCounters(targetsOnly.org.id)).reservations).toBe(0);
  });

  it("an alias change reaches the gate before the route answers: a deleted alias is no longer routed", async () => {
    const { owner, org, key } = await chainOrg(429);
    const list = await call(owner, "GET", aliasesPath(org.id));
    const id = list.body.data[0].id as string;
    const patched = await call(owner, "PATCH", `${aliasesPath(org.id)}/${id}`, { targets: [{ provider: "openai", model: "gpt-4o-mini" }] });
    expect(patched.status).toBe(200);
    const one = await v1(key, "/chat/completions", chat("smart"));
    expect(one.status).toBe(200);
    expect(one.headers.get("x-tollgate-fallback-attempts")).toBe("1");
    expect((await call(owner, "DELETE", `${aliasesPath(org.id)}/${id}`)).status).toBe(200);
    // Now "smart" is a bare model name for the default provider, which nobody prices.
    const gone = await v1(key, "/chat/completions", chat("smart"));
    expect(gone.headers.get("x-tollgate-fallback-attempts")).toBeNull();
    expect(gone.status).toBe(403);
    expect(((await gone.json()) as any).error.code).toBe("model_not_priced");
  });
});

describe("model aliases: routes", () => {
  it("an admin creates, lists, renames and deletes an alias; every change is audited", async () => {
    const { org, admin, viewer } = await createOrgWithCast();
    await createProvider(org, { name: "openai" });
    const created = await call(admin, "POST", aliasesPath(org.id), { name: "fast", targets: [{ provider: "openai", model: "gpt-4o-mini" }] });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: "fast", targets: [{ provider: "openai", model: "gpt-4o-mini" }] });
    const list = await call(viewer, "GET", aliasesPath(org.id));
    expect(list.body.data.map((a: any) => a.name)).toEqual(["fast"]);
    expect((await call(admin, "PATCH", `${aliasesPath(org.id)}/${created.body.id}`, { name: "quick" })).body.name).toBe("quick");
    expect((await call(admin, "DELETE", `${aliasesPath(org.id)}/${created.body.id}`)).status).toBe(200);
    expect((await auditRows(org.id)).map((r: any) => r.action).filter((a: string) => a.startsWith("model_alias."))).toEqual(
      expect.arrayContaining(["model_alias.create", "model_alias.update", "model_alias.delete"]),
    );
  });

  it("refuses a target naming no provider of the org, a duplicate name and a name with '/', changing nothing", async () => {
    const { org, admin } = await createOrgWithCast();
    await createProvider(org, { name: "openai" });
    const bad = await call(admin, "POST", aliasesPath(org.id), { name: "x", targets: [{ provider: "nope", model: "gpt-4o" }] });
    expect(bad.status).toBe(400);
    expect(bad.body.error.param).toBe("targets.0.provider");
    const slash = await call(admin, "POST", aliasesPath(org.id), { name: "a/b", targets: [{ provider: "openai", model: "gpt-4o" }] });
    expect(slash.status).toBe(400);
    expect((await call(admin, "POST", aliasesPath(org.id), { name: "x", targets: [{ provider: "openai", model: "gpt-4o" }] })).status).toBe(201);
    const dup = await call(admin, "POST", aliasesPath(org.id), { name: "x", targets: [{ provider: "openai", model: "gpt-4o" }] });
    expect(dup.status).toBe(409);
    expect((await call(admin, "GET", aliasesPath(org.id))).body.data).toHaveLength(1);
  });
});
