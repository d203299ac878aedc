/** Slack budget alerts: the settings URL becomes a delivery channel; Block Kit messages; the test button. */
import { env } from "cloudflare:test";
import { describe, expect, inject, it } from "vitest";
import { getDb } from "../src/db/client";
import { insertDeliveryStmt } from "../src/db/webhooks";
import { deliverDue } from "../src/services/webhook-delivery";
import { envelope, testPing } from "../src/services/webhook-events";
import { call, createOrgWithCast, snapshotTable, type TestOrg, type TestUser } from "./factories";
import { createBudgetRow } from "./factories/gate";
import { createWebhook } from "./factories/webhooks";
import { newId } from "../src/lib/ids";
import type { ReceivedWebhook } from "./mock-servers/webhook-receiver";
import slackMigration from "../migrations/0010_webhook_slack_channel.sql?raw";

const receiver = () => inject("mockUrls").webhooks!;
const SLACK = "https://hooks.slack.com/services/T000/B000/XXXXsecretXXXXabcd";

/** A Slack channel row pointing at a receiver inbox, written directly (no settings write). */
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

  it("after the Slack channel was disabled for failing, saving the same URL again revives it and the next budget alert reaches Slack", async () => {
    const { org, owner, admin } = await createOrgWithCast();
    // Slack is answered by the webhook receiver; the test env runs with ALLOW_PRIVATE_UPSTREAMS=true, which lets
    // the settings route take its plain-http loopback URL (as it does provider and webhook URLs).
    const inbox = crypto.randomUUID();
    const answer = (status: number) => fetch(`${receiver()}/_configure/${inbox}`, { method: "POST", body: JSON.stringify({ secret: "unused", statuses: [status] }) });
    const posted = async () => ((await (await fetch(`${receiver()}/_received/${inbox}`)).json()) as ReceivedWebhook[]);
    const url = `${receiver()}/in/${inbox}`;
    await answer(500);
    expect((await call(admin, "PATCH", `/api/orgs/${org.id}/settings`, { slack_webhook_url: url })).status).toBe(200);
    const channel = async () => ((await snapshotTable("webhooks", org.id)) as Array<HookRow & { enabled: number; disabled_reason: string | null }>).filter((r) => r.kind === "slack");
    const [first] = await channel();
    const day = 24 * 3_600_000;
    const start = Date.now();
    for (let d = 0; d <= 3; d++) {
      const ping = testPing(first!.id);
      await insertDeliveryStmt(getDb(env.DB), { id: newId("whd"), orgId: org.id, webhookId: first!.id, eventId: ping.id, eventType: ping.type, payload: envelope(org.id, ping), nextAttemptAt: start + d * day });
      await deliverDue(env, org.id, start + d * day);
    }
    const answers = (await posted()).map((r) => r.answered);
    expect(answers.length).toBeGreaterThanOrEqual(4);
    expect(new Set(answers)).toEqual(new Set([500]));
    expect(await channel()).toMatchObject([{ id: first!.id, enabled: 0, disabled_reason: expect.any(String) }]);
    const test = await call(admin, "POST", `/api/orgs/${org.id}/settings/slack/test`);
    expect(test.status).toBe(409);
    expect(test.body.error.message).toContain("save the Slack URL again");
    const shown = await call(admin, "GET", `/api/orgs/${org.id}/settings`);
    expect(shown.body).toMatchObject({ slack_webhook_configured: true, slack_disabled_reason: "every delivery attempt failed for 3 days", slack_disabled_at: expect.any(String) });

    await answer(200);
    const again = await call(admin, "PATCH", `/api/orgs/${org.id}/settings`, { slack_webhook_url: url });
    expect(again.status).toBe(200);
    const revived = await channel();
    expect(revived).toHaveLength(1);
    expect(revived[0]).toMatchObject({ url, enabled: 1, disabled_reason: null });
    expect(again.body).toMatchObject({ slack_disabled_reason: null, slack_disabled_at: null });
    expect((await call(admin, "GET", `/api/orgs/${org.id}/audit-log?action=webhook.slack_reenable`)).body.data).toHaveLength(1);

    const failed = (await posted()).length;
    const budgetId = await createBudgetRow(org, owner, { limitMicros: 2_000_000, period: "monthly" });
    await env.DB.prepare(
      "INSERT INTO budget_events (id, org_id, budget_id, scope_id, kind, period_start, threshold, spent_micros, limit_micros, created_at) VALUES (?, ?, ?, ?, 'threshold', ?, 80, 1600000, 2000000, ?) ON CONFLICT DO NOTHING",
    ).bind(newId("evt"), org.id, budgetId, org.id, Date.UTC(2026, 11, 1), Date.now()).run();
    await deliverDue(env, org.id, Date.now());
    const alerts = (await posted()).slice(failed);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.answered).toBe(200);
    expect(JSON.parse(alerts[0]!.body).blocks[0].text.text).toContain("Budget 80% used");

    // Saving it once more while the channel works changes nothing.
    await call(admin, "PATCH", `/api/orgs/${org.id}/settings`, { slack_webhook_url: url });
    expect((await channel())[0]!.id).toBe(revived[0]!.id);
  });
});
