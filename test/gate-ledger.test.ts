/**
 * The ledger as one owner: its memory view is never handed out mutably (a failed transaction is
 * covered in gate-lifecycle.test.ts), and the hot copy's D1 reads come from typed functions in src/db/gate-source.ts.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { fetchParts, fetchSeedSpend, orgExists } from "../src/db/gate-source";
import { orgGate } from "../src/durable-objects/org-gate-client";
import type { OrgGate } from "../src/durable-objects/org-gate";
import { createOrg, createUser } from "./factories";
import { admitRequest, createBudgetRow, createProvider } from "./factories/gate";
import { createKey } from "./factories/keys";

const ESTIMATE = 750;

async function setup() {
  const owner = await createUser();
  const org = await createOrg(owner, { plan: "pro" });
  await createProvider(org);
  const key = await createKey(org, owner);
  return { owner, org, key, gate: orgGate(env, org.id) };
}

describe("the gate's ledger", () => {
  it("hands out counter copies: writing to one changes nothing the ledger counts", async () => {
    const { owner, org, key, gate } = await setup();
    const budgetId = await createBudgetRow(org, owner, { limitMicros: 2 * ESTIMATE });
    expect((await gate.admit(await admitRequest(key))).ok).toBe(true);
    const { periodStart } = (await gate.counters()).counters.find((c) => c.budgetId === budgetId)!;
    const after = await runInDurableObject(gate, (instance: OrgGate) => {
      const c = instance["ledger"].counter(budgetId, "", periodStart) as { spent: number; reserved: number };
      c.reserved = 0;
      return instance["ledger"].counter(budgetId, "", periodStart);
    });
    expect(after).toEqual({ spent: 0, reserved: ESTIMATE });
    // Had the zero stuck, two more admissions would fit a budget that has room for one.
    expect((await gate.admit(await admitRequest(key))).ok).toBe(true);
    expect(await gate.admit(await admitRequest(key))).toMatchObject({ ok: false, denial: { kind: "budget_exceeded", budgetId } });
  });
});

describe("hot-copy reads from D1 (src/db/gate-source.ts)", () => {
  it("reads typed parts of one org, and tells a present org from a made-up id", async () => {
    const { org, key } = await setup();
    const loaded = await fetchParts(env.DB, org.id, ["keys", "org", "org"]);
    expect(Object.keys(loaded).sort()).toEqual(["keys", "org"]);
    expect(loaded.keys?.map((k) => k.id)).toEqual([key.id]);
    expect(loaded.org?.map((o) => o.plan)).toEqual(["pro"]);
    expect((await fetchParts(env.DB, "org_made_up", ["org"])).org).toEqual([]);
    expect(await orgExists(env.DB, org.id)).toBe(true);
    expect(await orgExists(env.DB, "org_made_up")).toBe(false);
  });

  it("sums seed spend per instance from D1 cost events, scoped to the org and period", async () => {
    const { org, key } = await setup();
    const other = await setup();
    const t0 = Date.UTC(2026, 0, 10);
    const ins = (orgId: string, keyId: string, id: string, at: number, cost: number, customer: string | null) =>
      env.DB.prepare(
        `INSERT INTO cost_events (request_id, org_id, team_id, key_id, customer_id, tags, trace_id, provider, model, endpoint, status, input_tokens,
          cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost_micros, latency_ms, ttfb_ms, estimated, created_at)
         VALUES (?, ?, NULL, ?, ?, '{"env":"prod"}', NULL, 'openai', 'gpt-4o-mini', 'chat.completions', 200, 1, 0, 0, 1, 0, ?, 1, NULL, 0, ?)`,
      ).bind(id, orgId, keyId, customer, cost, at);
    await env.DB.batch([
      ins(org.id, key.id, `r_${org.id}_1`, t0, 100, "c1"),
      ins(org.id, key.id, `r_${org.id}_2`, t0 + 1, 20, "c2"),
      ins(org.id, key.id, `r_${org.id}_3`, t0 - 1, 5_000, "c1"),
      ins(other.org.id, other.key.id, `r_${other.org.id}_1`, t0, 7_000, "c1"),
    ]);
    const [all, perCustomer, tag, byKey] = await fetchSeedSpend(env.DB, org.id, [
      { periodStart: t0, per: "none", filter: { by: "all" } },
      { periodStart: t0, per: "customer", filter: { by: "customer", id: null } },
      { periodStart: t0, per: "none", filter: { by: "tag", name: "env", value: "prod" } },
      { periodStart: t0, per: "none", filter: { by: "key", id: key.id } },
    ]);
    expect(all).toEqual(new Map([["", 120]]));
    expect(perCustomer).toEqual(new Map([["c1", 100], ["c2", 20]]));
    expect(tag).toEqual(new Map([["", 120]]));
    expect(byKey).toEqual(new Map([["", 120]]));
  });
});
