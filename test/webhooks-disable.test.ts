/**
 * The failing-endpoint rule of docs/webhooks.md: an endpoint (or Slack channel) whose every attempt has
 * failed for 3 days is disabled, its pending deliveries stop, an audit row is written and each owner/admin
 * gets one email. Days pass by calling `deliverDue` with a later "now" (the injected clock).
 */
import { env } from "cloudflare:test";
import { and, eq, inArray } from "drizzle-orm";
import { describe, expect, inject, it } from "vitest";
import { getDb } from "../src/db/client";
import { auditLog, emailOutbox, webhookDeliveries, webhooks } from "../src/db/schema";
import { insertDeliveryStmt } from "../src/db/webhooks";
import { newId } from "../src/lib/ids";
import { deliverDue, DISABLE_AFTER_FAILING_MS, FAILING_DISABLED_REASON } from "../src/services/webhook-delivery";
import { envelope, testPing } from "../src/services/webhook-events";
import { call, createOrgWithCast, type TestOrg, type TestUser } from "./factories";
import { createWebhook } from "./factories/webhooks";
import type { ReceivedWebhook } from "./mock-servers/webhook-receiver";

const receiver = () => inject("mockUrls").webhooks!;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** A receiver inbox answering `statuses` in order (the last one repeats) and a channel of `org` pointing at it. */
async function hookWithInbox(org: TestOrg, owner: TestUser, statuses: number[], kind: "endpoint" | "slack" = "endpoint") {
  const inbox = crypto.randomUUID();
  const hook = await createWebhook(org, owner, { url: `${receiver()}/in/${inbox}`, kind });
  const configure = (s: number[]) => fetch(`${receiver()}/_configure/${inbox}`, { method: "POST", body: JSON.stringify({ secret: hook.secret, statuses: s }) });
  await configure(statuses);
  return { ...hook, configure, received: async () => (await (await fetch(`${receiver()}/_received/${inbox}`)).json()) as ReceivedWebhook[] };
}

/** Queues one test.ping due at `dueAt` without waking the dispatcher (the test drives delivery). */
async function queuePing(orgId: string, webhookId: string, dueAt: number) {
  const event = testPing(webhookId);
  await insertDeliveryStmt(getDb(env.DB), { id: newId("whd"), orgId, webhookId, eventId: event.id, eventType: event.type, payload: envelope(orgId, event), nextAttemptAt: dueAt });
  return event;
}

async function hookRow(id: string) {
  const rows = await getDb(env.DB).select().from(webhooks).where(eq(webhooks.id, id));
  return rows[0]!;
}

async function disableEmails(to: string[]) {
  return getDb(env.DB).select().from(emailOutbox).where(inArray(emailOutbox.toAddress, to)).then((rows) => rows.filter((r) => r.subject.includes("disabled")));
}

/** One failing ping per day from `start` for `days` days (each given up at once: the receiver answers 410). */
async function failDaily(orgId: string, webhookId: string, start: number, days: number) {
  for (let d = 0; d <= days; d++) {
    const at = start + d * DAY;
    await queuePing(orgId, webhookId, at);
    await deliverDue(env, orgId, at);
  }
}

describe("failing webhook endpoints are disabled", () => {
  it("an endpoint failing for less than 3 days stays enabled and no one is emailed", async () => {
    const { org, owner, admin } = await createOrgWithCast();
    const hook = await hookWithInbox(org, owner, [410]);
    const start = Date.now();
    await failDaily(org.id, hook.id, start, 2);
    await queuePing(org.id, hook.id, start + DISABLE_AFTER_FAILING_MS - HOUR);
    await deliverDue(env, org.id, start + DISABLE_AFTER_FAILING_MS - HOUR);
    const row = await hookRow(hook.id);
    expect(row).toMatchObject({ enabled: true, failingSince: start, disabledReason: null, disabledAt: null });
    expect((await hook.received()).length).toBe(4);
    expect(await disableEmails([owner.email, admin.email])).toHaveLength(0);
  });

  it("failing for 3 days disables it: reason and time recorded, pending deliveries stopped, one audit row, each owner/admin emailed once", async () => {
    const { org, owner, admin, member, viewer } = await createOrgWithCast();
    const hook = await hookWithInbox(org, owner, [410]);
    const start = Date.now();
    await failDaily(org.id, hook.id, start, 2);
    // A retried delivery is pending when the disabling failure happens.
    const pending = await queuePing(org.id, hook.id, start + 10 * DAY);
    const end = start + DISABLE_AFTER_FAILING_MS;
    await queuePing(org.id, hook.id, end);
    await deliverDue(env, org.id, end);

    expect(await hookRow(hook.id)).toMatchObject({ enabled: false, disabledReason: FAILING_DISABLED_REASON, disabledAt: end, failingSince: start });
    const db = getDb(env.DB);
    const [stopped] = await db.select().from(webhookDeliveries).where(and(eq(webhookDeliveries.webhookId, hook.id), eq(webhookDeliveries.eventId, pending.id)));
    expect(stopped).toMatchObject({ status: "failed", nextAttemptAt: null, attempts: 0 });
    const audit = await db.select().from(auditLog).where(and(eq(auditLog.orgId, org.id), eq(auditLog.action, "webhook.auto_disable")));
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actorType: "system", targetType: "webhook", targetId: hook.id, after: { enabled: false, disabled_reason: FAILING_DISABLED_REASON } });

    // Further runs, even far later, send nothing and email no one again.
    const sent = (await hook.received()).length;
    expect(sent).toBe(4);
    await deliverDue(env, org.id, start + 20 * DAY);
    expect((await hook.received()).length).toBe(sent);

    const emails = await disableEmails([owner.email, admin.email, member.email, viewer.email]);
    expect(emails.map((e) => e.toAddress).sort()).toEqual([owner.email, admin.email].sort());
    expect(emails[0]!.text).toContain(hook.url);
    expect(emails[0]!.html).toContain("Sent by Tollgate on behalf of");

    // The API shows why.
    const res = await call(viewer, "GET", `/api/orgs/${org.id}/webhooks/${hook.id}`);
    expect(res.body).toMatchObject({ enabled: false, disabled_reason: FAILING_DISABLED_REASON, disabled_at: new Date(end).toISOString() });
  });

  it("two dispatch runs failing at once disable it once: one audit row, one email per admin", async () => {
    const { org, owner, admin } = await createOrgWithCast();
    const hook = await hookWithInbox(org, owner, [410]);
    const start = Date.now();
    await failDaily(org.id, hook.id, start, 2);
    const end = start + DISABLE_AFTER_FAILING_MS;
    for (let i = 0; i < 4; i++) await queuePing(org.id, hook.id, end);
    await Promise.all([deliverDue(env, org.id, end), deliverDue(env, org.id, end)]);
    expect((await hookRow(hook.id)).enabled).toBe(false);
    const audit = await getDb(env.DB).select().from(auditLog).where(and(eq(auditLog.orgId, org.id), eq(auditLog.action, "webhook.auto_disable")));
    expect(audit).toHaveLength(1);
    expect(await disableEmails([owner.email, admin.email])).toHaveLength(2);
  });

  it("a success in between resets the clock: 3 days after the first failure it stays enabled", async () => {
    const { org, owner } = await createOrgWithCast();
    const hook = await hookWithInbox(org, owner, [410]);
    const start = Date.now();
    await failDaily(org.id, hook.id, start, 1);
    await hook.configure([200]);
    await queuePing(org.id, hook.id, start + 2 * DAY);
    await deliverDue(env, org.id, start + 2 * DAY);
    expect((await hookRow(hook.id)).failingSince).toBeNull();
    await hook.configure([410]);
    await failDaily(org.id, hook.id, start + 2 * DAY + HOUR, 2);
    expect(await hookRow(hook.id)).toMatchObject({ enabled: true, failingSince: start + 2 * DAY + HOUR });
  });

  it("re-enabling with PATCH {enabled: true} clears the state; it takes another 3 days of failures to disable it again", async () => {
    const { org, owner, admin } = await createOrgWithCast();
    const hook = await hookWithInbox(org, owner, [410]);
    const start = Date.now();
    await failDaily(org.id, hook.id, start, 3);
    expect((await hookRow(hook.id)).enabled).toBe(false);

    const res = await call(admin, "PATCH", `/api/orgs/${org.id}/webhooks/${hook.id}`, { enabled: true });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ enabled: true, disabled_reason: null, disabled_at: null, failing_since: null });
    expect(await hookRow(hook.id)).toMatchObject({ enabled: true, failingSince: null, disabledReason: null, disabledAt: null });

    // One more failure right after starts a new run instead of disabling it again.
    const again = start + 3 * DAY + HOUR;
    await queuePing(org.id, hook.id, again);
    await deliverDue(env, org.id, again);
    expect(await hookRow(hook.id)).toMatchObject({ enabled: true, failingSince: again });
    expect(await disableEmails([owner.email, admin.email])).toHaveLength(2);
  });

  it("an admin's own PATCH {enabled: false} records disabled_at without a reason and emails no one", async () => {
    const { org, owner, admin } = await createOrgWithCast();
    const hook = await hookWithInbox(org, owner, [200]);
    const res = await call(admin, "PATCH", `/api/orgs/${org.id}/webhooks/${hook.id}`, { enabled: false });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ enabled: false, disabled_reason: null });
    expect(typeof res.body.disabled_at).toBe("string");
    expect(await hookRow(hook.id)).toMatchObject({ enabled: false, disabledReason: null });
    expect(await disableEmails([owner.email, admin.email])).toHaveLength(0);
  });

  it("the org's Slack channel follows the same rule", async () => {
    const { org, owner, admin } = await createOrgWithCast();
    const slack = await hookWithInbox(org, owner, [500], "slack");
    const start = Date.now();
    await failDaily(org.id, slack.id, start, 3);
    expect(await hookRow(slack.id)).toMatchObject({ kind: "slack", enabled: false, disabledReason: FAILING_DISABLED_REASON });
    const emails = await disableEmails([owner.email, admin.email]);
    expect(emails).toHaveLength(2);
    expect(emails[0]!.subject).toContain("Slack alert channel disabled");
    expect(emails[0]!.text).toContain("save the Slack URL again in the org settings");
  });
});
