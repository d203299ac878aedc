/** Slack budget alerts: the settings URL becomes a delivery channel; Block Kit messages; the test button. */
import { env } from "cloudflare:test";
import { describe, expect, inject, it } from "vitest";
import { deliverDue } from "../src/services/webhook-delivery";
import { call, createOrgWithCast, snapshotTable, type TestOrg, type TestUser } from "./factories";
import { createBudgetRow } from "./factories/gate";
import { createWebhook } from "./factories/webhooks";
import { newId } from "../src/lib/ids";
import type { ReceivedWebhook } from "./mock-servers/webhook-receiver";
import slackMigration from "../migrations/0010_webhook_slack_channel.sql?raw";

const receiver = () => inject("mockUrls").webhooks!;
const SLACK = "https://hooks.slack.com/services/T000/B000/XXXXsecretXXXXabcd";

/** A Slack channel row pointing at a receiver inbox (the settings route only takes https URLs). */
async function slackInbox(org: TestOrg, owner: TestUser, statuses = [200]) {
  const inbox = crypto.randomUUID();
  await fetch(`${receiver()}/_configure/${inbox}`, { method: "POST", body: JSON.stringify({ secret: "unused", statuses }) });
  const hook = await createWebhook(org, owner, { kind: "slack", url: `${receiver()}/in/${inbox}`, events: ["budget.threshold", "budget.exceeded", "velocity.tripped"] });
  return { ...hook, received: async () => (await (await fetch(`${receiver()}/_received/${inbox}`)).json()) as ReceivedWebhook[] };
}

async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

type HookRow = { id: string; kind: string; url: string };

describe("Slack alerts", () => {
  it("setting slack_webhook_url creates the org's Slack channel (not listed or counted as an endpoint); changing replaces it, null removes it", async () => {
    const { org, admin } = await createOrgWithCast({ plan: "free" });
    expect((await call(admin, "PATCH", `/api/orgs/${org.id}/settings`, { slack_webhook_url: SLACK })).status).toBe(200);
    let rows = (await snapshotTable("webhooks", org.id)) as HookRow[];
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ kind: "slack", url: SLACK });
    expect((await call(admin, "GET", `/api/orgs/${org.id}/webhooks`)).body.data).toHaveLength(0);
    expect((await call(admin, "GET", `/api/orgs/${org.id}/webhooks/${rows[0]!.id}`)).status).toBe(404);
    // The free plan's 2 endpoints are still available.
    for (let i = 0; i < 2; i++) expect((await call(admin, "POST", `/api/orgs/${org.id}/webhooks`, { url: "https://example.com/h", events: ["budget.threshold"] })).status).toBe(201);

    const other = "https://hooks.slack.com/services/T000/B000/otherURLwxyz";
    await call(admin, "PATCH", `/api/orgs/${org.id}/settings`, { slack_webhook_url: other });
    rows = ((await snapshotTable("webhooks", org.id)) as HookRow[]).filter((r) => r.kind === "slack");
    expect(rows.map((r) => r.url)).toEqual([other]);
    await call(admin, "PATCH", `/api/orgs/${org.id}/settings`, { slack_webhook_url: null });
    expect(((await snapshotTable("webhooks", org.id)) as HookRow[]).filter((r) => r.kind === "slack")).toHaveLength(0);
  });

  it("'Send test message' posts a Block Kit test message, unsigned; without a Slack URL it is 409; members cannot", async () => {
    const { org, owner, admin, member } = await createOrgWithCast();
    const none = await call(admin, "POST", `/api/orgs/${org.id}/settings/slack/test`);
    expect(none.status).toBe(409);
    expect(none.body.error.param).toBe("slack_webhook_url");
    const slack = await slackInbox(org, owner);
    expect((await call(member, "POST", `/api/orgs/${org.id}/settings/slack/test`)).status).toBe(403);
    const res = await call(admin, "POST", `/api/orgs/${org.id}/settings/slack/test`);
    expect(res.status).toBe(202);
    const got = await until(slack.received, (r) => r.length > 0);
    expect(got).toHaveLength(1);
    expect(got[0]!.signature).toBeNull();
    const msg = JSON.parse(got[0]!.body);
    expect(msg.text).toContain("Test message from Tollgate");
    expect(msg.blocks[0].type).toBe("section");
  });

  it("a budget threshold becomes a Block Kit message naming scope, spend, limit, reset time and linking to the budgets page", async () => {
    const { org, owner } = await createOrgWithCast();
    const slack = await slackInbox(org, owner);
    const budgetId = await createBudgetRow(org, owner, { scope: "tag", scopeId: "team=<ml>", limitMicros: 2_000_000, period: "monthly" });
    await env.DB.prepare(
      "INSERT INTO budget_events (id, org_id, budget_id, scope_id, kind, period_start, threshold, spent_micros, limit_micros, created_at) VALUES (?, ?, ?, ?, 'threshold', ?, 80, 1600000, 2000000, ?) ON CONFLICT DO NOTHING",
    ).bind(newId("evt"), org.id, budgetId, "team=<ml>", Date.UTC(2026, 11, 1), Date.now()).run();
    await deliverDue(env, org.id, Date.now());
    const [got] = await slack.received();
    const msg = JSON.parse(got!.body);
    expect(msg.blocks[0]).toMatchObject({ type: "header", text: { type: "plain_text" } });
    expect(msg.blocks[0].text.text).toContain("Budget 80% used");
    const fields = msg.blocks[1].fields.map((f: any) => f.text);
    expect(fields).toEqual(["*Scope*\ntag team=&lt;ml&gt;", "*Spend*\n$1.60", "*Limit*\n$2.00", "*Resets*\n2027-01-01 00:00 UTC"]);
    expect(msg.blocks[2].elements[0].url).toBe(`${env.APP_URL}/orgs/${org.id}/budgets`);
  });

  it("the migration gives orgs that saved a Slack URL earlier their Slack channel", async () => {
    const { org } = await createOrgWithCast();
    const { org: without } = await createOrgWithCast();
    await env.DB.prepare("UPDATE orgs SET settings = json_set(settings, '$.slack_webhook_url', ?) WHERE id = ?").bind(SLACK, org.id).run();
    const backfill = slackMigration;
    await env.DB.prepare(backfill.replace(/^--.*$/gm, "").trim()).run();
    const rows = (await snapshotTable("webhooks", org.id)) as Array<HookRow & { events: string; enabled: number }>;
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ kind: "slack", url: SLACK, enabled: 1 });
    expect(JSON.parse(rows[0]!.events)).toEqual(["budget.threshold", "budget.exceeded", "velocity.tripped"]);
    expect(await snapshotTable("webhooks", without.id)).toHaveLength(0);
  });
});
