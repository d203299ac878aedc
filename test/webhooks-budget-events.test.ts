/**
 * Budget events become webhook deliveries in the same D1 write (trigger `budget_events_webhooks`), so a
 * threshold crossed by 1,000 simultaneous requests is delivered exactly once per endpoint, and a
 * repeated outbox flush (after a crash or eviction) queues nothing twice.
 */
import { env } from "cloudflare:test";
import { describe, expect, inject, it } from "vitest";
import { newId } from "../src/lib/ids";
import { createOrgWithCast, type TestOrg, type TestUser } from "./factories";
import { createBudgetRow, createPriceOverride } from "./factories/gate";
import { createGatewayOrg, flushGate, v1, waitForSettled } from "./factories/gateway";
import { createWebhook } from "./factories/webhooks";
import type { ReceivedWebhook } from "./mock-servers/webhook-receiver";

const receiver = () => inject("mockUrls").webhooks!;

async function endpointWithInbox(org: TestOrg, owner: TestUser, events: string[], opts: { enabled?: boolean } = {}) {
  const inbox = crypto.randomUUID();
  const hook = await createWebhook(org, owner, { url: `${receiver()}/in/${inbox}`, events, ...opts });
  await fetch(`${receiver()}/_configure/${inbox}`, { method: "POST", body: JSON.stringify({ secret: hook.secret, statuses: [200] }) });
  return { ...hook, received: async () => (await (await fetch(`${receiver()}/_received/${inbox}`)).json()) as ReceivedWebhook[] };
}

/** The statement the gate's outbox flush uses for budget events: idempotent on the event id. */
function insertBudgetEvent(e: { id: string; orgId: string; budgetId: string; kind: string; threshold: number; spent: number; limit: number | null; periodStart: number }) {
  return env.DB.prepare(
    "INSERT INTO budget_events (id, org_id, budget_id, scope_id, kind, period_start, threshold, spent_micros, limit_micros, created_at) VALUES (?, ?, ?, NULL, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
  ).bind(e.id, e.orgId, e.budgetId, e.kind, e.periodStart, e.threshold, e.spent, e.limit, Date.now()).run();
}

async function deliveryRows(orgId: string) {
  const { results } = await env.DB.prepare("SELECT * FROM webhook_deliveries WHERE org_id = ? ORDER BY created_at, id").bind(orgId).all<Record<string, any>>();
  return results;
}

async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("budget events → webhooks", () => {
  it("a budget event queues one delivery per enabled subscribed endpoint with the documented envelope; the same event again queues nothing", async () => {
    const { org, owner } = await createOrgWithCast();
    const other = await createOrgWithCast();
    const budgetId = await createBudgetRow(org, owner, { scope: "org", limitMicros: 2_000_000 });
    const subscribed = await createWebhook(org, owner, { events: ["budget.threshold"] });
    const alsoSubscribed = await createWebhook(org, owner, { events: ["velocity.tripped", "budget.threshold"] });
    await createWebhook(org, owner, { events: ["budget.exceeded"] });
    await createWebhook(org, owner, { events: ["budget.threshold"], enabled: false });
    await createWebhook(other.org, other.owner, { events: ["budget.threshold"] });
    const periodStart = Date.UTC(2026, 11, 1);
    const event = { id: newId("evt"), orgId: org.id, budgetId, kind: "threshold", threshold: 80, spent: 1_600_000, limit: 2_000_000, periodStart };
    await insertBudgetEvent(event);
    await insertBudgetEvent(event);

    const rows = await deliveryRows(org.id);
    expect(rows.map((r) => r.webhook_id).sort()).toEqual([subscribed.id, alsoSubscribed.id].sort());
    expect(rows.every((r) => r.event_id === event.id && r.event_type === "budget.threshold" && r.status === "pending" && r.attempts === 0)).toBe(true);
    expect(rows.every((r) => /^whd_[0-9a-f]{16}$/.test(r.id))).toBe(true);
    expect(await deliveryRows(other.org.id)).toHaveLength(0);
    const body = JSON.parse(rows[0]!.payload);
    expect(Object.keys(body)).toEqual(["id", "type", "api_version", "created_at", "org_id", "data"]);
    expect(body).toMatchObject({ id: event.id, type: "budget.threshold", api_version: "2026-12-01", org_id: org.id });
    expect(new Date(body.created_at).toISOString()).toBe(body.created_at);
    expect(body.data).toEqual({
      budget_id: budgetId, scope: "org", scope_id: null, threshold: 80, spent_micros: 1_600_000, limit_micros: 2_000_000,
      spent_usd: "1.600000", limit_usd: "2.000000", period_start: "2026-12-01T00:00:00.000Z",
    });
  });

  it("velocity.tripped carries no threshold; a missing limit is null", async () => {
    const { org, owner } = await createOrgWithCast();
    const budgetId = await createBudgetRow(org, owner, { scope: "org", limitMicros: null });
    await createWebhook(org, owner, { events: ["velocity.tripped"] });
    await insertBudgetEvent({ id: newId("evt"), orgId: org.id, budgetId, kind: "velocity_tripped", threshold: 0, spent: 20_000_123, limit: null, periodStart: Date.now() });
    const [row] = await deliveryRows(org.id);
    expect(JSON.parse(row!.payload).data).toMatchObject({ threshold: null, spent_usd: "20.000123", limit_usd: null, limit_micros: null });
  });

  it("1,000 simultaneous requests crossing 50/80/90/100 % give exactly one delivery per threshold (and one 'exceeded') per endpoint, one Slack message each, and one email each", async () => {
    const { org, owner, key } = await createGatewayOrg();
    await createPriceOverride(org, "budget-model", { input: 0, output: 1_000_000, maxOutput: 4_096 });
    // 1,000 µ$ per request: 10 requests reach 100 % of 10,000 µ$; the rest are refused (budget.exceeded).
    await createBudgetRow(org, owner, { scope: "org", limitMicros: 10_000, period: "monthly", mode: "hard" });
    const all = ["budget.threshold", "budget.exceeded", "velocity.tripped"];
    const a = await endpointWithInbox(org, owner, all);
    const b = await endpointWithInbox(org, owner, all);
    const slackBox = crypto.randomUUID();
    await fetch(`${receiver()}/_configure/${slackBox}`, { method: "POST", body: JSON.stringify({ secret: "unused", statuses: [200] }) });
    await createWebhook(org, owner, { kind: "slack", url: `${receiver()}/in/${slackBox}`, events: all });
    const slackMessages = async () => (await (await fetch(`${receiver()}/_received/${slackBox}`)).json()) as ReceivedWebhook[];
    const body = { model: "budget-model", messages: [{ role: "user", content: "#mock:fill" }], max_tokens: 1_000 };
    const statuses = await Promise.all(Array.from({ length: 1_000 }, () => v1(key, "/chat/completions", body).then(async (r) => (await r.arrayBuffer(), r.status))));
    expect(statuses.filter((s) => s === 200)).toHaveLength(10);
    await waitForSettled(org.id, 15_000);
    await flushGate(org.id);
    // Repeat the flush, as after an eviction: nothing new may be queued.
    await flushGate(org.id);

    const expected = ["budget.exceeded:100", "budget.threshold:100", "budget.threshold:50", "budget.threshold:80", "budget.threshold:90"];
    const summary = (got: ReceivedWebhook[]) => got.map((r) => { const e = JSON.parse(r.body); return `${e.type}:${e.data.threshold}`; }).sort();
    for (const hook of [a, b]) {
      const got = await until(hook.received, (r) => r.length >= expected.length);
      expect(got.every((r) => r.verified)).toBe(true);
      expect(summary(got)).toEqual(expected);
    }
    // Give a duplicate time to show up, then look again.
    await new Promise((r) => setTimeout(r, 1_000));
    expect(summary(await a.received())).toEqual(expected);
    expect(summary(await b.received())).toEqual(expected);
    const slackHeaders = (await until(slackMessages, (r) => r.length >= expected.length)).map((r) => JSON.parse(r.body).blocks[0].text.text as string);
    expect(slackHeaders.map((h) => h.split(":")[0]).sort()).toEqual(["Budget 100% used", "Budget 50% used", "Budget 80% used", "Budget 90% used", "Budget exceeded"]);
    const rows = await deliveryRows(org.id);
    expect(rows).toHaveLength(3 * expected.length);
    expect(rows.every((r) => r.status === "succeeded" && r.attempts === 1)).toBe(true);
    const mails = await env.DB.prepare("SELECT subject FROM email_outbox WHERE to_address = ?").bind(owner.email).all<{ subject: string }>();
    expect(mails.results.filter((m) => m.subject.includes("Tollgate:"))).toHaveLength(expected.length);
  }, 120_000);
});
