import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { orgGate } from "../src/durable-objects/org-gate-client";
import type { AdmitOk } from "../src/durable-objects/gate-protocol";
import { call, createOrgWithCast, createUser, snapshotTable } from "./factories";
import { admitRequest, auditActions, createProvider } from "./factories/gate";
import { createKey } from "./factories/keys";

const base = (orgId: string) => `/api/orgs/${orgId}/pricing`;

describe("pricing routes", () => {
  it("lists the catalog (viewer+) with USD-per-Mtok strings and max output tokens", async () => {
    const { org, viewer } = await createOrgWithCast();
    const res = await call(viewer, "GET", base(org.id));
    expect(res.status).toBe(200);
    const mini = res.body.data.find((p: { model: string }) => p.model === "gpt-4o-mini");
    expect(mini).toMatchObject({ source: "catalog", provider: "openai", input_usd: "0.150000", cached_input_usd: "0.075000", output_usd: "0.600000", max_output_tokens: 16384 });
    const sonnet = res.body.data.find((p: { model: string }) => p.model === "claude-sonnet-4-5");
    expect(sonnet).toMatchObject({ input_usd: "3.000000", cache_write_usd: "3.750000", cache_write_1h_usd: "6.000000", cached_input_usd: "0.300000" });
  });

  it("an admin prices a model whose name has / and . (URL-encoded); the gate uses it on the next request", async () => {
    const { org, owner, admin, viewer } = await createOrgWithCast();
    await createProvider(org, { name: "groq", type: "openai_compatible", baseUrl: "https://api.groq.com/openai/v1", isDefault: false });
    const key = await createKey(org, owner);
    const gate = orgGate(env, org.id);
    const model = "groq/llama-3.1-70b-versatile";
    expect(await gate.admit(await admitRequest(key, { model }))).toEqual({ ok: false, denial: { kind: "model_not_priced", model } });

    const put = await call(admin, "PUT", `${base(org.id)}/${encodeURIComponent(model)}`, { input_usd: "0.59", output_usd: 0.79, max_output_tokens: 32768 });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ model, source: "override", input_micros_per_mtok: 590_000, output_micros_per_mtok: 790_000, max_output_tokens: 32768 });
    const ok = (await gate.admit(await admitRequest(key, { model }))) as AdmitOk;
    expect(ok.ok).toBe(true);
    expect(ok.route.upstreamModel).toBe("llama-3.1-70b-versatile");
    // 1000 × 590,000 + 1000 × 790,000 = 1,380,000,000 → 1380 µ$
    expect(ok.reservedMicros).toBe(1380);
    const list = await call(viewer, "GET", base(org.id));
    expect(list.body.data.find((p: { model: string }) => p.model === model)).toMatchObject({ source: "override", input_usd: "0.590000" });

    const del = await call(admin, "DELETE", `${base(org.id)}/${encodeURIComponent(model)}`);
    expect(del.status).toBe(200);
    expect(del.body).toMatchObject({ model, deleted: true, price: null });
    expect((await gate.admit(await admitRequest(key, { model }))).ok).toBe(false);
    expect(await auditActions(org.id, model)).toEqual(["pricing.create", "pricing.delete"]);
  });

  it("an override replaces a catalog price and shows the catalog one beside it", async () => {
    const { org, admin } = await createOrgWithCast();
    const put = await call(admin, "PUT", `${base(org.id)}/gpt-4.1`, { input_usd: "1", output_usd: "4", cached_input_usd: "0.25" });
    expect(put.body).toMatchObject({ source: "override", catalog: { input_usd: "2.000000", output_usd: "8.000000" }, cached_input_usd: "0.250000" });
    const again = await call(admin, "PUT", `${base(org.id)}/gpt-4.1`, { input_usd: "1.5", output_usd: "4" });
    expect(again.body.input_usd).toBe("1.500000");
    expect(await auditActions(org.id, "gpt-4.1")).toEqual(["pricing.create", "pricing.update"]);
  });

  it("refuses bad prices (400), members (403), outsiders (404) and missing overrides (404), changing nothing", async () => {
    const { org, member, admin } = await createOrgWithCast();
    const outsider = await createUser();
    const before = await snapshotTable("pricing_overrides", org.id);
    for (const [body, param] of [
      [{ input_usd: "-1", output_usd: "1" }, "input_usd"],
      [{ input_usd: "1", output_usd: "0.0000001" }, "output_usd"],
      [{ input_usd: "1" }, "output_usd"],
      [{ input_usd: "1", output_usd: "1", max_output_tokens: 0 }, "max_output_tokens"],
    ] as const) {
      const res = await call(admin, "PUT", `${base(org.id)}/my-model`, body);
      expect(res.status).toBe(400);
      expect(res.body.error.param).toBe(param);
    }
    expect((await call(admin, "PUT", `${base(org.id)}/${encodeURIComponent("has space")}`, { input_usd: 1, output_usd: 1 })).status).toBe(400);
    expect((await call(member, "PUT", `${base(org.id)}/my-model`, { input_usd: 1, output_usd: 1 })).status).toBe(403);
    expect((await call(outsider, "GET", base(org.id))).status).toBe(404);
    expect((await call(outsider, "PUT", `${base(org.id)}/my-model`, { input_usd: 1, output_usd: 1 })).status).toBe(404);
    expect((await call(admin, "DELETE", `${base(org.id)}/my-model`)).status).toBe(404);
    expect(await snapshotTable("pricing_overrides", org.id)).toEqual(before);
  });
});
