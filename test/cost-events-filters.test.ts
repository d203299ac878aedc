/**
 * Cost-event filters (key, customer, model, status, trace id) and the per-trace total
 * (docs/resources.md, "Usage and cost events"). Rows are written straight into D1 `cost_events`
 * so each filter's expected set is exact.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { newId } from "../src/lib/ids";
import { call, createOrgWithCast, createUser } from "./factories";
import { createKey } from "./factories/keys";

type Ev = { key: string; model: string; status: number; cost: number; customer?: string | null; trace?: string | null; at: number; input?: number; output?: number };

async function insertEvents(orgId: string, evs: Ev[]): Promise<string[]> {
  const ids: string[] = [];
  for (const e of evs) {
    const id = newId("req");
    ids.push(id);
    await env.DB.prepare(
      "INSERT INTO cost_events (request_id, org_id, key_id, customer_id, trace_id, provider, model, endpoint, status, input_tokens, output_tokens, cost_micros, latency_ms, created_at) VALUES (?, ?, ?, ?, ?, 'openai', ?, 'chat', ?, ?, ?, ?, 10, ?)",
    ).bind(id, orgId, e.key, e.customer ?? null, e.trace ?? null, e.model, e.status, e.input ?? 10, e.output ?? 5, e.cost, e.at).run();
  }
  return ids;
}

async function seed() {
  const cast = await createOrgWithCast();
  const { org, owner } = cast;
  const keyA = await createKey(org, owner);
  const keyB = await createKey(org, owner);
  const t0 = Date.now() - 60_000;
  const ids = await insertEvents(org.id, [
    { key: keyA.id, model: "gpt-4o-mini", status: 200, cost: 100, customer: "acme", trace: "run-1", at: t0 },
    { key: keyA.id, model: "gpt-4o-mini", status: 200, cost: 200, customer: "acme", trace: "run-1", at: t0 + 1000 },
    { key: keyB.id, model: "gpt-4o", status: 429, cost: 0, customer: "globex", trace: "run-1", at: t0 + 2000 },
    { key: keyB.id, model: "gpt-4o", status: 200, cost: 700, customer: null, trace: "run-2", at: t0 + 3000 },
    { key: keyA.id, model: "gpt-4o", status: 502, cost: 0, customer: "acme", trace: null, at: t0 + 4000 },
  ]);
  return { ...cast, keyA, keyB, ids, t0 };
}

const list = async (as: Parameters<typeof call>[0], orgId: string, q: string) => {
  const res = await call(as, "GET", `/api/orgs/${orgId}/cost-events?${q}`);
  expect(res.status).toBe(200);
  return res.body.data as Array<{ request_id: string; trace_id: string | null; status: number }>;
};

describe("cost-event filters", () => {
  it("filter by key, customer, model, status (ok, error or a code) and trace id, each alone and combined", async () => {
    const { org, viewer, keyA, keyB, ids } = await seed();
    const idsOf = async (q: string) => (await list(viewer, org.id, q)).map((e) => e.request_id).sort();
    const pick = (...i: number[]) => i.map((n) => ids[n]!).sort();
    expect(await idsOf(`key_id=${keyA.id}`)).toEqual(pick(0, 1, 4));
    expect(await idsOf(`key_id=${keyB.id}`)).toEqual(pick(2, 3));
    expect(await idsOf("customer_id=acme")).toEqual(pick(0, 1, 4));
    expect(await idsOf("model=gpt-4o")).toEqual(pick(2, 3, 4));
    expect(await idsOf("status=ok")).toEqual(pick(0, 1, 3));
    expect(await idsOf("status=error")).toEqual(pick(2, 4));
    expect(await idsOf("status=429")).toEqual(pick(2));
    expect(await idsOf("trace_id=run-1")).toEqual(pick(0, 1, 2));
    expect(await idsOf(`trace_id=run-1&model=gpt-4o-mini&key_id=${keyA.id}`)).toEqual(pick(0, 1));
    expect(await idsOf("trace_id=no-such-run")).toEqual([]);
  });

  it("a filtered list pages with the cursor without losing or repeating rows", async () => {
    const { org, viewer, ids } = await seed();
    const first = await call(viewer, "GET", `/api/orgs/${org.id}/cost-events?trace_id=run-1&limit=2`);
    expect(first.body.data.map((e: { request_id: string }) => e.request_id)).toEqual([ids[2], ids[1]]);
    expect(first.body.next_cursor).toEqual(expect.any(String));
    const second = await call(viewer, "GET", `/api/orgs/${org.id}/cost-events?trace_id=run-1&limit=2&cursor=${encodeURIComponent(first.body.next_cursor)}`);
    expect(second.body.data.map((e: { request_id: string }) => e.request_id)).toEqual([ids[0]]);
    expect(second.body.next_cursor).toBeNull();
  });

  it("bad filter values are 400 naming the parameter", async () => {
    const { org, viewer } = await createOrgWithCast();
    for (const [q, param] of [
      ["status=teapot", "status"], ["status=600", "status"], ["status=20", "status"],
      ["trace_id=has%20space", "trace_id"], [`trace_id=${"x".repeat(129)}`, "trace_id"],
      ["key_id=key%3Bdrop", "key_id"], [`customer_id=${"c".repeat(257)}`, "customer_id"], ["model=", "model"],
    ] as const) {
      const res = await call(viewer, "GET", `/api/orgs/${org.id}/cost-events?${q}`);
      expect(res.status, q).toBe(400);
      expect(res.body.error.param, q).toBe(param);
      expect(res.body.error.type, q).toBe("invalid_request");
    }
  });

  it("filters never reach another org's events", async () => {
    const a = await seed();
    const b = await createOrgWithCast();
    const keyB = await createKey(b.org, b.owner);
    await insertEvents(b.org.id, [{ key: keyB.id, model: "gpt-4o", status: 200, cost: 5, trace: "run-1", at: Date.now() }]);
    expect((await list(a.viewer, a.org.id, "trace_id=run-1")).length).toBe(3);
    expect((await list(b.viewer, b.org.id, "trace_id=run-1")).length).toBe(1);
    expect(await list(b.viewer, b.org.id, `key_id=${a.keyA.id}`)).toEqual([]);
    expect((await call(b.viewer, "GET", `/api/orgs/${a.org.id}/cost-events?trace_id=run-1`)).status).toBe(404);
  });
});

describe("per-trace total", () => {
  it("sums cost, requests, errors and tokens of one trace with its first and last time; every role may read it", async () => {
    const { org, viewer, member, t0 } = await seed();
    for (const who of [viewer, member]) {
      const res = await call(who, "GET", `/api/orgs/${org.id}/traces/run-1`);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        trace_id: "run-1", requests: 3, errors: 1, input_tokens: 30, output_tokens: 15, cost_micros: 300, cost_usd: "0.000300",
        first_at: new Date(t0).toISOString(), last_at: new Date(t0 + 2000).toISOString(),
      });
    }
  });

  it("an unknown trace is 404, a malformed one 400, another org's trace 404", async () => {
    const { org, viewer } = await seed();
    const none = await call(viewer, "GET", `/api/orgs/${org.id}/traces/run-9`);
    expect(none.status).toBe(404);
    expect(none.body.error.code).toBe("not_found");
    const bad = await call(viewer, "GET", `/api/orgs/${org.id}/traces/${encodeURIComponent("a b")}`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.param).toBe("traceId");
    const other = await createOrgWithCast();
    expect((await call(other.viewer, "GET", `/api/orgs/${other.org.id}/traces/run-1`)).status).toBe(404);
    const outsider = await createUser();
    expect((await call(outsider, "GET", `/api/orgs/${org.id}/traces/run-1`)).status).toBe(404);
  });
});
