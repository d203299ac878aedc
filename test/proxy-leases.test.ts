/**
 * Leases through the Worker (docs/budgets.md "Leases"): an org in `lease` mode is admitted by the
 * isolate's lease client, its settles are batched, the spend lands exactly, and a revoked key is
 * refused once the lease TTL has passed.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { orgGate } from "../src/durable-objects/org-gate-client";
import { LEASE_TTL_MS } from "../src/durable-objects/gate-protocol";
import { createBudgetRow } from "./factories/gate";
import { createGatewayOrg, flushGate, v1 } from "./factories/gateway";

const chat = { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], max_tokens: 20 };

async function leaseOrg() {
  const fx = await createGatewayOrg();
  await env.DB.prepare("UPDATE orgs SET settings = json_set(settings, '$.admission', 'lease') WHERE id = ?").bind(fx.org.id).run();
  await orgGate(env, fx.org.id).refresh(fx.org.id, ["org"]);
  return fx;
}

async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, ms = 5_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("proxy with leases", () => {
  it("requests of a lease org are answered, settled in batches, and charged exactly what they cost", async () => {
    const { org, owner, key } = await leaseOrg();
    const budgetId = await createBudgetRow(org, owner, { limitMicros: 100_000_000 });
    const gate = orgGate(env, org.id);
    let total = 0;
    for (let i = 0; i < 20; i++) {
      const res = await v1(key, "/chat/completions", chat);
      expect(res.status).toBe(200);
      total += Number(res.headers.get("X-Tollgate-Cost-Micros"));
      await res.arrayBuffer();
    }
    expect(total).toBeGreaterThan(0);
    const c = await until(() => gate.counters(), (v) => v.reservations === 0 && v.counters.find((x) => x.budgetId === budgetId)?.spent === total);
    expect(c.reservations).toBe(0);
    expect(c.counters.find((x) => x.budgetId === budgetId)?.spent).toBe(total);
    await flushGate(org.id);
    const d1 = await env.DB.prepare("SELECT COUNT(*) AS n, SUM(cost_micros) AS s FROM cost_events WHERE org_id = ?").bind(org.id).first<{ n: number; s: number }>();
    expect(d1).toEqual({ n: 20, s: total });
  });

  it("a revoked key of a lease org is refused once the lease TTL has passed", async () => {
    const { org, key } = await leaseOrg();
    expect((await v1(key, "/chat/completions", chat)).status).toBe(200);
    expect((await v1(key, "/chat/completions", chat)).status).toBe(200);
    await env.DB.prepare("UPDATE api_keys SET revoked_at = ? WHERE id = ?").bind(Date.now(), key.id).run();
    await orgGate(env, org.id).revokeKeys(org.id, [key.id]);
    await new Promise((r) => setTimeout(r, LEASE_TTL_MS + 50));
    const res = await v1(key, "/chat/completions", chat);
    expect(res.status).toBe(401);
    expect(((await res.json()) as any).error).toMatchObject({ code: "invalid_api_key", reason: "revoked" });
  });
});
