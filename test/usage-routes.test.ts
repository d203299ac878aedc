/**
 * Usage reporting end to end: requests go through the gate (admit → settle/release), the alarm
 * flushes the outbox to D1, and the usage routes read it back grouped, as CSV and page by page.
 */
import { env, runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { orgGate } from "../src/durable-objects/org-gate-client";
import type { AdmitOk, Attribution } from "../src/durable-objects/gate-protocol";
import { call, createOrgWithCast, createUser } from "./factories";
import { admitRequest, createProvider, createTeamRow, releaseRequest, settleRequest, usage } from "./factories/gate";
import { createKey, type TestKey } from "./factories/keys";

async function seed() {
  const cast = await createOrgWithCast();
  const { org, owner } = cast;
  await createProvider(org);
  const team = await createTeamRow(org, "search");
  const keyA = await createKey(org, owner, { teamId: team.id });
  const keyB = await createKey(org, owner);
  const gate = orgGate(env, org.id);
  const run = async (key: TestKey, model: string, attribution: Attribution, u: ReturnType<typeof usage> | null, latencyMs: number) => {
    const req = await admitRequest(key, { model, attribution });
    const ok = (await gate.admit(req)) as AdmitOk;
    if (u) await gate.settle({ ...settleRequest(req, ok, u), latencyMs });
    else await gate.release({ ...releaseRequest(req, ok, 502), latencyMs });
  };
  const at = (customerId: string | null, tags: Record<string, string>): Attribution => ({ customerId, tags, traceId: null });
  await run(keyA, "gpt-4o-mini", at("c1", { env: "prod" }), usage({ uncachedInputTokens: 1000, outputTokens: 1000 }), 100); // 750 µ$
  await run(keyA, "gpt-4o-mini", at("c2", { env: "dev" }), usage({ uncachedInputTokens: 1000, outputTokens: 1000 }), 200); // 750 µ$
  await run(keyB, "gpt-4o", at("c1", { env: "prod", team: "search" }), usage({ uncachedInputTokens: 100, outputTokens: 10 }), 300); // 350 µ$
  await run(keyB, "gpt-4o", at(null, {}), null, 50); // released: $0, status 502
  await runDurableObjectAlarm(gate);
  return { ...cast, team, keyA, keyB };
}

const usagePath = (orgId: string, q = "") => `/api/orgs/${orgId}/usage${q}`;

describe("usage routes", () => {
  it("totals and every grouping, with errors and nearest-rank latency percentiles", async () => {
    const { org, viewer, team, keyA, keyB } = await seed();
    const res = await call(viewer, "GET", usagePath(org.id));
    expect(res.status).toBe(200);
    expect(res.body.totals).toEqual({
      requests: 4, errors: 1, input_tokens: 2100, output_tokens: 2010, cached_input_tokens: 0, cost_micros: 1850, cost_usd: "0.001850",
      avg_latency_ms: 163, p50_latency_ms: 100, p95_latency_ms: 300,
    });
    const groups = async (by: string) =>
      Object.fromEntries(((await call(viewer, "GET", usagePath(org.id, `?group_by=${by}`))).body.groups as Array<{ key: string | null; requests: number; cost_micros: number; errors: number }>)
        .map((g) => [String(g.key), [g.requests, g.cost_micros, g.errors]]));
    expect(await groups("model")).toEqual({ "gpt-4o-mini": [2, 1500, 0], "gpt-4o": [2, 350, 1] });
    expect(await groups("key")).toEqual({ [keyA.id]: [2, 1500, 0], [keyB.id]: [2, 350, 1] });
    expect(await groups("team")).toEqual({ [team.id]: [2, 1500, 0], null: [2, 350, 1] });
    expect(await groups("customer")).toEqual({ c1: [2, 1100, 0], c2: [1, 750, 0], null: [1, 0, 1] });
    expect(await groups("tag")).toEqual({ "env=prod": [2, 1100, 0], "env=dev": [1, 750, 0], "team=search": [1, 350, 0] });
    expect(await groups("day")).toEqual({ [new Date().toISOString().slice(0, 10)]: [4, 1850, 1] });
  });

  it("validates the range and grouping (400) and hides other orgs (404)", async () => {
    const { org, viewer } = await createOrgWithCast();
    const outsider = await createUser();
    expect((await call(viewer, "GET", usagePath(org.id, "?group_by=week"))).body.error.param).toBe("group_by");
    expect((await call(viewer, "GET", usagePath(org.id, "?from=2026-11-10&to=2026-11-01"))).status).toBe(400);
    expect((await call(viewer, "GET", usagePath(org.id, "?from=yesterday"))).body.error.param).toBe("from");
    expect((await call(outsider, "GET", usagePath(org.id))).status).toBe(404);
    const empty = await call(viewer, "GET", usagePath(org.id, "?from=2026-01-01&to=2026-02-01&group_by=model"));
    expect(empty.body).toMatchObject({ totals: { requests: 0, cost_micros: 0, p50_latency_ms: null }, groups: [] });
  });

  it("exports CSV for admins only, grouped or per request, with spreadsheet formulas defused", async () => {
    const { org, owner, admin, member } = await createOrgWithCast();
    await createProvider(org);
    const key = await createKey(org, owner);
    const gate = orgGate(env, org.id);
    const req = await admitRequest(key, { attribution: { customerId: "=HYPERLINK(\"http://x\")", tags: { env: "a,b" }, traceId: null } });
    const ok = (await gate.admit(req)) as AdmitOk;
    await gate.settle(settleRequest(req, ok, usage({ uncachedInputTokens: 10, outputTokens: 5 })));
    await runDurableObjectAlarm(gate);

    expect((await call(member, "GET", `/api/orgs/${org.id}/usage.csv`)).status).toBe(403);
    const raw = await call(admin, "GET", `/api/orgs/${org.id}/usage.csv`);
    expect(raw.status).toBe(200);
    expect(raw.headers.get("content-type")).toContain("text/csv");
    expect(raw.headers.get("content-disposition")).toMatch(/attachment; filename="usage-.*\.csv"/);
    const lines = (raw.body as string).trim().split("\r\n");
    expect(lines[0]).toBe("created_at,request_id,key_id,team_id,customer_id,tags,trace_id,provider,model,endpoint,status,input_tokens,cached_input_tokens,cache_write_tokens,output_tokens,reasoning_tokens,cost_micros,cost_usd,latency_ms,ttfb_ms,estimated,prompt_id,prompt_version");
    expect(lines).toHaveLength(2);
    expect(lines[1]).toContain(`${req.requestId},${key.id},,"'=HYPERLINK(""http://x"")","{""env"":""a,b""}",`);
    // 10 × 150,000 + 5 × 600,000 = 4,500,000 → 5 µ$
    expect(lines[1]).toContain(",200,10,0,0,5,0,5,0.000005,");

    const grouped = await call(owner, "GET", `/api/orgs/${org.id}/usage.csv?group_by=model`);
    expect((grouped.body as string).split("\r\n").slice(0, 2)).toEqual([
      "model,requests,errors,input_tokens,output_tokens,cached_input_tokens,cost_micros,cost_usd,avg_latency_ms,p50_latency_ms,p95_latency_ms",
      "gpt-4o-mini,1,0,10,5,0,5,0.000005,42,42,42",
    ]);
  });

  it("pages through cost events newest first", async () => {
    const { org, viewer } = await seed();
    const first = await call(viewer, "GET", `/api/orgs/${org.id}/cost-events?limit=3`);
    expect(first.status).toBe(200);
    expect(first.body.data).toHaveLength(3);
    expect(first.body.next_cursor).toEqual(expect.any(String));
    const second = await call(viewer, "GET", `/api/orgs/${org.id}/cost-events?limit=3&cursor=${encodeURIComponent(first.body.next_cursor)}`);
    expect(second.body.data).toHaveLength(1);
    expect(second.body.next_cursor).toBeNull();
    const all = [...first.body.data, ...second.body.data];
    expect(new Set(all.map((e: { request_id: string }) => e.request_id)).size).toBe(4);
    expect(all.map((e: { cost_micros: number }) => e.cost_micros).sort((a: number, b: number) => a - b)).toEqual([0, 350, 750, 750]);
    expect(all.find((e: { status: number }) => e.status === 502)).toMatchObject({ cost_micros: 0, estimated: false });
    expect((await call(viewer, "GET", `/api/orgs/${org.id}/cost-events?cursor=%%%`)).status).toBe(400);
  });
});
