/**
 * Leases (docs/budgets.md "Leases"): several isolates (several LeaseClient instances) against one
 * real gate. Whatever the isolates admit locally, spend + reservations + leases never pass a hard
 * limit or a window, leases come back after their TTL, and the gate's counters equal the D1 events.
 */
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { orgGate } from "../src/durable-objects/org-gate-client";
import { LEASE_GRACE_MS, LEASE_TTL_MS, type AdmitOk, type AdmitRequest, type AdmitResult, type LeaseAdmission, type LeaseAnswer, type LeaseReport } from "../src/durable-objects/gate-protocol";
import { LeaseClient } from "../src/proxy/lease-client";
import { call, createOrg, createOrgWithCast, createUser } from "./factories";
import { admitRequest, createBudgetRow, createProvider, releaseRequest, settleRequest, usageAtEstimate } from "./factories/gate";
import { createKey } from "./factories/keys";

// gpt-4o-mini: 1000 × $0.15/M + 1000 × $0.60/M = 750 µ$ per request at the default estimate.
const ESTIMATE = 750;

async function setup(admission: "lease" | "strict" = "lease") {
  const owner = await createUser();
  const org = await createOrg(owner, { plan: "pro" });
  await createProvider(org);
  const key = await createKey(org, owner);
  const gate = orgGate(env, org.id);
  if (admission === "lease") {
    await env.DB.prepare("UPDATE orgs SET settings = json_set(settings, '$.admission', 'lease') WHERE id = ?").bind(org.id).run();
    await gate.refresh(org.id, ["org"]);
  }
  return { owner, org, key, gate };
}

async function d1CostSum(orgId: string) {
  return env.DB.prepare("SELECT COUNT(*) AS n, COALESCE(SUM(cost_micros), 0) AS s FROM cost_events WHERE org_id = ?").bind(orgId).first<{ n: number; s: number }>();
}

type Pair = { client: LeaseClient; req: AdmitRequest; ok: AdmitOk };

/** Spreads `reqs` round-robin over `clients`, all at once; returns the admitted ones and every result. */
async function burst(clients: LeaseClient[], reqs: AdmitRequest[]) {
  const results = await Promise.all(reqs.map((r, i) => clients[i % clients.length]!.admit(env, r)));
  const admitted: Pair[] = [];
  results.forEach((r, i) => {
    if ("ok" in r && r.ok) admitted.push({ client: clients[i % clients.length]!, req: reqs[i]!, ok: r });
  });
  return { admitted, results: results as AdmitResult[] };
}

/** Settles every admission at its estimate through the isolate that admitted it, and waits for the flushes. */
async function settleAll(pairs: Pair[]) {
  await Promise.all(pairs.map((p) => p.client.settle(env, settleRequest(p.req, p.ok, usageAtEstimate(p.req)))));
}

/** Lets the gate take back every lease (as if their TTL and grace had passed). */
async function afterLeaseExpiry(gate: ReturnType<typeof orgGate>, orgId: string) {
  await gate.lease({ orgId, reports: [], needs: [] }, Date.now() + LEASE_TTL_MS + LEASE_GRACE_MS + 1);
}

/** Every client learns the org's mode from one admission (the gate's answer says "lease"). */
async function warm(clients: LeaseClient[], key: Awaited<ReturnType<typeof createKey>>) {
  const pairs: Pair[] = [];
  for (const client of clients) {
    const req = await admitRequest(key);
    const r = await client.admit(env, req);
    expect(r.ok).toBe(true);
    pairs.push({ client, req, ok: r as AdmitOk });
  }
  return pairs;
}

describe("leases", () => {
  it("1,000 simultaneous requests over four isolates against a hard budget: no overshoot, no stuck lease, gate = Σ D1", async () => {
    const { owner, org, key, gate } = await setup();
    const limit = 40 * ESTIMATE + 300;
    const budgetId = await createBudgetRow(org, owner, { limitMicros: limit });
    const clients = Array.from({ length: 4 }, () => new LeaseClient());
    const warmed = await warm(clients, key);
    const reqs = await Promise.all(Array.from({ length: 1000 }, () => admitRequest(key)));
    const { admitted, results } = await burst(clients, reqs);
    const all = [...warmed, ...admitted];
    expect(all.length).toBeLessThanOrEqual(40);
    expect(all.length).toBeGreaterThanOrEqual(20);
    const denied = results.filter((r) => !r.ok) as Array<Extract<AdmitResult, { ok: false }>>;
    expect(denied.length).toBe(1000 - admitted.length);
    expect(denied.every((d) => d.denial.kind === "budget_exceeded" && d.denial.budgetId === budgetId)).toBe(true);

    let c = await gate.counters();
    const counter = () => c.counters.find((x) => x.budgetId === budgetId)!;
    expect(counter().spent + counter().reserved).toBeLessThanOrEqual(limit);

    await settleAll(all);
    await afterLeaseExpiry(gate, org.id);
    c = await gate.counters();
    expect(c.leases).toBe(0);
    expect(c.reservations).toBe(0);
    expect(counter()).toMatchObject({ spent: all.length * ESTIMATE, reserved: 0 });
    expect(counter().spent).toBeLessThanOrEqual(limit);

    expect(await runDurableObjectAlarm(gate)).toBe(true);
    expect((await gate.counters()).outbox).toEqual({ cost: 0, budget: 0 });
    expect(await d1CostSum(org.id)).toEqual({ n: all.length, s: all.length * ESTIMATE });
  }, 90_000);

  it("a lease far from any limit admits locally: one round trip serves many requests", async () => {
    const { key } = await setup();
    const client = new LeaseClient();
    await warm([client], key);
    const before = client.rpcs;
    const reqs = await Promise.all(Array.from({ length: 100 }, () => admitRequest(key)));
    for (const r of reqs) expect((await client.admit(env, r)).ok).toBe(true);
    // Leases grow with the recent rate: 100 sequential requests take a handful of lease calls, not 100.
    expect(client.rpcs - before).toBeLessThanOrEqual(20);
    await client.flushAll();
  });

  it("an RPM window over three isolates never admits more than its limit, and unused leased requests come back", async () => {
    const { owner, org, key, gate } = await setup();
    await createBudgetRow(org, owner, { limitMicros: null, rpm: 25 });
    const clients = Array.from({ length: 3 }, () => new LeaseClient());
    const warmed = await warm(clients, key);
    const reqs = await Promise.all(Array.from({ length: 300 }, () => admitRequest(key)));
    const { admitted, results } = await burst(clients, reqs);
    const leased = warmed.length + admitted.length;
    expect(leased).toBeLessThanOrEqual(25);
    expect(results.filter((r) => !r.ok).every((r) => !r.ok && r.denial.kind === "rate_limited")).toBe(true);
    await settleAll([...warmed, ...admitted]);
    await afterLeaseExpiry(gate, org.id);
    expect((await gate.counters()).leases).toBe(0);
    // What the leases did not use is back in the window: exact admissions fill it up to 25, no more.
    const more = await Promise.all(Array.from({ length: 50 }, () => admitRequest(key)));
    const exact = await Promise.all(more.map((r) => gate.admit(r)));
    expect(exact.filter((r) => r.ok).length).toBe(25 - leased);
  });

  it("a default customer budget holds per customer across isolates", async () => {
    const { owner, org, key, gate } = await setup();
    const limit = 10 * ESTIMATE + 100;
    const budgetId = await createBudgetRow(org, owner, { scope: "customer", scopeId: null, limitMicros: limit });
    const clients = Array.from({ length: 3 }, () => new LeaseClient());
    await warm(clients, key);
    const customers = ["cus_a", "cus_b", "cus_c"];
    const reqs = await Promise.all(Array.from({ length: 600 }, (_, i) => admitRequest(key, { attribution: { customerId: customers[i % 3]!, tags: {}, traceId: null } })));
    const { admitted } = await burst(clients, reqs);
    for (const cus of customers) {
      const n = admitted.filter((p) => p.req.attribution.customerId === cus).length;
      expect(n).toBeLessThanOrEqual(10);
      expect(n).toBeGreaterThan(0);
    }
    let c = await gate.counters();
    for (const cus of customers) {
      const k = c.counters.find((x) => x.budgetId === budgetId && x.subject === cus)!;
      expect(k.spent + k.reserved).toBeLessThanOrEqual(limit);
    }
    await settleAll(admitted);
    await afterLeaseExpiry(gate, org.id);
    c = await gate.counters();
    expect(c.leases).toBe(0);
    for (const cus of customers) {
      const n = admitted.filter((p) => p.req.attribution.customerId === cus).length;
      expect(c.counters.find((x) => x.budgetId === budgetId && x.subject === cus)).toMatchObject({ spent: n * ESTIMATE, reserved: 0 });
    }
  });

  it("without customer or tag budgets, requests of many customers and tags share one lease", async () => {
    const { owner, org, key, gate } = await setup();
    const limit = 100 * ESTIMATE;
    const budgetId = await createBudgetRow(org, owner, { limitMicros: limit });
    const client = new LeaseClient();
    const warmed = await warm([client], key);
    const before = client.rpcs;
    const pairs: Pair[] = [...warmed];
    for (let i = 0; i < 40; i++) {
      const req = await admitRequest(key, { attribution: { customerId: `cus_${i}`, tags: { run: `r${i}` }, traceId: null } });
      const r = await client.admit(env, req);
      expect(r.ok).toBe(true);
      pairs.push({ client, req, ok: r as AdmitOk });
    }
    // One signature for all of them: a handful of lease calls (leases grow with the rate), not one per customer.
    expect(client.leasesHeld(org.id)).toBe(1);
    expect(client.rpcs - before).toBeLessThanOrEqual(8);
    await settleAll(pairs);
    await afterLeaseExpiry(gate, org.id);
    const c = await gate.counters();
    expect(c.leases).toBe(0);
    expect(c.counters.find((x) => x.budgetId === budgetId)).toMatchObject({ spent: pairs.length * ESTIMATE, reserved: 0 });
    // Every customer is still recorded as seen, and the cost events keep each request's own attribution.
    expect(c.customers).toBe(40);
    expect(await runDurableObjectAlarm(gate)).toBe(true);
    const rows = await env.DB.prepare("SELECT COUNT(DISTINCT customer_id) AS n FROM cost_events WHERE org_id = ? AND customer_id IS NOT NULL").bind(org.id).first<{ n: number }>();
    expect(rows?.n).toBe(40);
  });

  it("a tag budget splits leases by its tag's value only, and holds across isolates", async () => {
    const { owner, org, key, gate } = await setup();
    const limit = 10 * ESTIMATE + 100;
    const budgetId = await createBudgetRow(org, owner, { scope: "tag", scopeId: "team=a", limitMicros: limit });
    const clients = Array.from({ length: 3 }, () => new LeaseClient());
    await warm(clients, key);
    // Tagged team=a (charged to the tag budget) or team=b (not), each with a different customer and run tag.
    const reqs = await Promise.all(Array.from({ length: 300 }, (_, i) =>
      admitRequest(key, { attribution: { customerId: `cus_${i}`, tags: { team: i % 2 ? "a" : "b", run: `r${i}` }, traceId: null } })));
    const { admitted } = await burst(clients, reqs);
    const tagged = admitted.filter((p) => p.req.attribution.tags.team === "a");
    expect(tagged.length).toBeLessThanOrEqual(10);
    expect(tagged.length).toBeGreaterThan(0);
    expect(admitted.length - tagged.length).toBe(150);
    for (const client of clients) expect(client.leasesHeld(org.id)).toBeLessThanOrEqual(3); // warm-up's, team=a's, team=b's
    let c = await gate.counters();
    const k = () => c.counters.find((x) => x.budgetId === budgetId)!;
    expect(k().spent + k().reserved).toBeLessThanOrEqual(limit);
    await settleAll(admitted);
    await afterLeaseExpiry(gate, org.id);
    c = await gate.counters();
    expect(k()).toMatchObject({ spent: tagged.length * ESTIMATE, reserved: 0 });
  });

  it("an isolate that dies with an open lease: its headroom comes back after the TTL, settled spend stays, nothing counted twice", async () => {
    const { owner, org, key, gate } = await setup();
    const limit = 100 * ESTIMATE;
    const budgetId = await createBudgetRow(org, owner, { limitMicros: limit });
    const dying = new LeaseClient();
    const pairs = await warm([dying], key);
    for (let i = 0; i < 3; i++) {
      const req = await admitRequest(key);
      pairs.push({ client: dying, req, ok: (await dying.admit(env, req)) as AdmitOk });
    }
    expect(pairs.every((p) => p.ok.ok)).toBe(true);
    // Two settle, the other two stay open; everything is flushed, then the isolate vanishes.
    await settleAll(pairs.slice(0, 2));
    await dying.flushAll();
    dying.abandon();
    let c = await gate.counters();
    const counter = () => c.counters.find((x) => x.budgetId === budgetId)!;
    expect(counter().spent).toBe(2 * ESTIMATE);
    expect(counter().reserved).toBeGreaterThan(2 * ESTIMATE); // the two open ones + the lease's unused rest
    await afterLeaseExpiry(gate, org.id);
    c = await gate.counters();
    expect(c.leases).toBe(0);
    expect(counter()).toMatchObject({ spent: 2 * ESTIMATE, reserved: 2 * ESTIMATE });
    expect(c.reservations).toBe(2);
    // A settle of an open one arriving later (from nowhere: it died) would be a normal settle; a duplicate changes nothing.
    await gate.settle(settleRequest(pairs[0]!.req, pairs[0]!.ok, usageAtEstimate(pairs[0]!.req)));
    c = await gate.counters();
    expect(counter()).toMatchObject({ spent: 2 * ESTIMATE, reserved: 2 * ESTIMATE });
  });

  it("a request admitted and settled within one flush interval reaches the gate as one report in one call", async () => {
    const { owner, org, key, gate } = await setup();
    const budgetId = await createBudgetRow(org, owner, { limitMicros: 100 * ESTIMATE });
    const client = new LeaseClient({ flushIntervalMs: 50 });
    await warm([client], key);
    const req = await admitRequest(key);
    const first = await client.admit(env, req); // asks for a lease: one call
    expect(first.ok).toBe(true);
    await client.flushAll();
    const req2 = await admitRequest(key);
    const ok2 = (await client.admit(env, req2)) as AdmitOk;
    expect(ok2.ok).toBe(true);
    const before = client.rpcs;
    await client.settle(env, settleRequest(req2, ok2, usageAtEstimate(req2)));
    expect(client.rpcs - before).toBe(1);
    await client.settle(env, settleRequest(req, first as AdmitOk, usageAtEstimate(req)));
    const c = await gate.counters();
    expect(c.reservations).toBe(1); // only the warm-up admission is still open
    expect(c.counters.find((x) => x.budgetId === budgetId)!.spent).toBe(2 * ESTIMATE);
  });

  it("a batch of requests reported already settled or released is charged straight from the lease: no reservation row written or deleted", async () => {
    const { owner, org, key, gate } = await setup();
    const budgetId = await createBudgetRow(org, owner, { limitMicros: 1000 * ESTIMATE });
    const asker = await admitRequest(key);
    const granted = await gate.lease({ orgId: org.id, reports: [], needs: [{ req: asker, want: 64 }] });
    expect(granted.answers[0]!.kind).toBe("lease");
    const grant = (granted.answers[0] as Extract<LeaseAnswer, { kind: "lease" }>).grant;
    // Count every write to the reservations table from here on.
    await runInDurableObject(gate, (_o, state: DurableObjectState) => {
      state.storage.sql.exec("CREATE TABLE probe_rsv (op TEXT)");
      state.storage.sql.exec("CREATE TRIGGER probe_rsv_i AFTER INSERT ON reservations BEGIN INSERT INTO probe_rsv VALUES ('i'); END");
      state.storage.sql.exec("CREATE TRIGGER probe_rsv_d AFTER DELETE ON reservations BEGIN INSERT INTO probe_rsv VALUES ('d'); END");
    });
    const outboxBefore = (await gate.counters()).outbox.cost;
    // 30 requests admitted from the lease and finished before the isolate's flush: one call of 30 settle reports.
    const reports: LeaseReport[] = [];
    for (let i = 0; i < 30; i++) {
      const req = await admitRequest(key);
      const ok: AdmitOk = { ...grant.template, reservationId: `rsv_batch${i}`, reservationExpiresAt: Date.now() + 60_000, reservedMicros: ESTIMATE, rateLimit: null };
      const t = grant.template;
      const admission: LeaseAdmission = {
        leaseId: grant.leaseId, reservationId: ok.reservationId, requestId: req.requestId, at: Date.now(), micros: ESTIMATE, tokens: 2000, price: t.price,
        context: { keyId: t.keyId, teamId: t.teamId, endpoint: req.endpoint, providerName: t.route.providerName, model: t.route.upstreamModel, attribution: req.attribution, inputTokens: 1000, outputTokens: 1000 },
      };
      // The last five failed upstream before any output: released, from the lease too.
      if (i >= 25) reports.push({ kind: "release", req: releaseRequest(req, ok), admission });
      else reports.push({ kind: "settle", req: settleRequest(req, ok, usageAtEstimate(req)), admission });
    }
    await gate.lease({ orgId: org.id, reports, needs: [] });
    const writes = await runInDurableObject(gate, (_o, state: DurableObjectState) => state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM probe_rsv").one().n);
    expect(writes).toBe(0);
    let c = await gate.counters();
    expect(c.reservations).toBe(0);
    expect(c.outbox.cost - outboxBefore).toBe(30);
    expect(c.counters.find((x) => x.budgetId === budgetId)).toMatchObject({ spent: 25 * ESTIMATE, reserved: (64 - 30) * ESTIMATE });
    // The same call again (a retry) changes nothing; the lease's rest comes back at expiry.
    await gate.lease({ orgId: org.id, reports, needs: [] });
    await afterLeaseExpiry(gate, org.id);
    c = await gate.counters();
    expect(c.outbox.cost - outboxBefore).toBe(30);
    expect(c.counters.find((x) => x.budgetId === budgetId)).toMatchObject({ spent: 25 * ESTIMATE, reserved: 0 });
  });

  it("an admission reported after its lease was already returned is still recorded and charged once", async () => {
    const { owner, org, key, gate } = await setup();
    const budgetId = await createBudgetRow(org, owner, { limitMicros: 100 * ESTIMATE });
    const client = new LeaseClient({ flushIntervalMs: 60_000, flushMaxReports: 1_000 });
    await warm([client], key);
    await client.flushAll();
    const req = await admitRequest(key);
    const ok = (await client.admit(env, req)) as AdmitOk;
    expect(ok.ok).toBe(true);
    // The gate takes the lease back before the isolate's report arrives (a stall longer than the grace).
    await afterLeaseExpiry(gate, org.id);
    expect((await gate.counters()).leases).toBe(0);
    await client.flushAll();
    let c = await gate.counters();
    const counter = () => c.counters.find((x) => x.budgetId === budgetId)!;
    expect(c.reservations).toBe(2); // the warm-up's and this late one
    const settled = client.settle(env, settleRequest(req, ok, usageAtEstimate(req)));
    await client.flushAll();
    await settled;
    expect((await gate.settle(settleRequest(req, ok, usageAtEstimate(req)))).duplicate).toBe(true);
    c = await gate.counters();
    expect(counter().spent).toBe(ESTIMATE);
    expect(counter().reserved).toBe(ESTIMATE); // the warm-up admission, still open
  });

  it("an isolate holds leases for a bounded number of signatures and gives the rest back", async () => {
    const { owner, org, key, gate } = await setup();
    // A default customer budget makes every customer its own budget instance, hence its own lease.
    await createBudgetRow(org, owner, { scope: "customer", scopeId: null, limitMicros: 100 * ESTIMATE });
    const client = new LeaseClient({ maxSignatures: 3 });
    await warm([client], key);
    for (let i = 0; i < 7; i++) {
      expect((await client.admit(env, await admitRequest(key, { attribution: { customerId: `cus_${i}`, tags: {}, traceId: null } }))).ok).toBe(true);
      expect(client.leasesHeld(org.id)).toBeLessThanOrEqual(3);
    }
    await client.flushAll();
    expect((await gate.counters()).leases).toBeLessThanOrEqual(3);
  });

  it("a revoked key is refused by every isolate once the TTL has passed, and not later", async () => {
    const { org, key, gate } = await setup();
    let t = Date.now();
    const clients = [new LeaseClient({ now: () => t }), new LeaseClient({ now: () => t })];
    await warm(clients, key);
    await gate.revokeKeys(org.id, [key.id]);
    // Within the TTL an isolate may still admit from its lease (the documented window)…
    t += LEASE_TTL_MS;
    // …and once it has passed, every isolate asks the gate, which refuses.
    for (const client of clients) {
      const r = await client.admit(env, await admitRequest(key));
      expect(r).toMatchObject({ ok: false, denial: { kind: "invalid_key", reason: "revoked" } });
    }
    for (const client of clients) await client.flushAll();
  });

  it("in strict mode a revoked key is refused on the very next request, and every request is its own round trip", async () => {
    const { org, key, gate } = await setup("strict");
    const client = new LeaseClient();
    for (let i = 0; i < 3; i++) expect((await client.admit(env, await admitRequest(key))).ok).toBe(true);
    expect(client.rpcs).toBe(3);
    await gate.revokeKeys(org.id, [key.id]);
    expect(await client.admit(env, await admitRequest(key))).toMatchObject({ ok: false, denial: { kind: "invalid_key", reason: "revoked" } });
  });

  it("an org switched back to strict: leases stop at the next lease call, then every admission is exact", async () => {
    const { org, key, gate } = await setup();
    let t = Date.now();
    const client = new LeaseClient({ now: () => t });
    await warm([client], key);
    await env.DB.prepare("UPDATE orgs SET settings = json_set(settings, '$.admission', 'strict') WHERE id = ?").bind(org.id).run();
    await gate.refresh(org.id, ["org"]);
    t += LEASE_TTL_MS;
    expect((await client.admit(env, await admitRequest(key))).ok).toBe(true);
    await client.flushAll();
    const before = client.rpcs;
    await gate.revokeKeys(org.id, [key.id]);
    expect(await client.admit(env, await admitRequest(key))).toMatchObject({ ok: false, denial: { kind: "invalid_key", reason: "revoked" } });
    expect(client.rpcs - before).toBe(1);
  });
});

describe("admission setting", () => {
  it("an admin sets admission to lease; the gate grants leases from then on; a bad value is a 400 that changes nothing", async () => {
    const { org, admin } = await createOrgWithCast();
    const bad = await call(admin, "PATCH", `/api/orgs/${org.id}/settings`, { admission: "fast" });
    expect(bad.status).toBe(400);
    expect(bad.body.error.param).toBe("admission");
    expect((await call(admin, "GET", `/api/orgs/${org.id}/settings`)).body.admission).toBe("strict");
    const res = await call(admin, "PATCH", `/api/orgs/${org.id}/settings`, { admission: "lease" });
    expect(res.status).toBe(200);
    expect(res.body.admission).toBe("lease");
    await createProvider(org);
    const key = await createKey(org, admin);
    const r = await orgGate(env, org.id).lease({ orgId: org.id, reports: [], needs: [{ req: await admitRequest(key), want: 8 }] });
    expect(r.mode).toBe("lease");
    expect(r.answers[0]).toMatchObject({ kind: "lease", grant: { requests: 8, micros: 8 * ESTIMATE } });
  });
});
