/**
 * Webhook delivery against a local receiver (test/mock-servers/webhook-receiver.ts) that verifies every
 * signature with the algorithm of docs/webhooks.md. Retries are stepped through by calling the
 * dispatcher's `deliverDue` with a later "now" instead of waiting hours.
 */
import { env } from "cloudflare:test";
import { describe, expect, inject, it } from "vitest";
import { getDb } from "../src/db/client";
import { insertDeliveryStmt } from "../src/db/webhooks";
import { newId } from "../src/lib/ids";
import { deliverDue, MAX_ATTEMPTS, RETRY_DELAYS_MS, RETRY_JITTER, retryDelayMs } from "../src/services/webhook-delivery";
import { envelope, testPing } from "../src/services/webhook-events";
import { wakeOverdueWebhooks, WEBHOOK_OVERDUE_MS } from "../src/scheduled";
import { call, createOrgWithCast, type TestOrg, type TestUser } from "./factories";
import { createWebhook } from "./factories/webhooks";
import type { ReceivedWebhook } from "./mock-servers/webhook-receiver";

const receiver = () => inject("mockUrls").webhooks!;
const HOUR = 3_600_000;

/** A receiver inbox answering `statuses` in order, and an endpoint of `org` pointing at it. */
async function endpointWithInbox(org: TestOrg, owner: TestUser, statuses: number[]) {
  const inbox = crypto.randomUUID();
  const hook = await createWebhook(org, owner, { url: `${receiver()}/in/${inbox}` });
  await fetch(`${receiver()}/_configure/${inbox}`, { method: "POST", body: JSON.stringify({ secret: hook.secret, statuses }) });
  return { ...hook, inbox, received: async () => (await (await fetch(`${receiver()}/_received/${inbox}`)).json()) as ReceivedWebhook[] };
}

/** Queues one test.ping for `webhookId` without waking the dispatcher (the test drives delivery). */
async function queuePing(orgId: string, webhookId: string, dueAt = Date.now()) {
  const event = testPing(webhookId);
  const db = getDb(env.DB);
  await insertDeliveryStmt(db, { id: newId("whd"), orgId, webhookId, eventId: event.id, eventType: event.type, payload: envelope(orgId, event), nextAttemptAt: dueAt });
  return event;
}

async function deliveries(as: TestUser, orgId: string, webhookId: string) {
  const res = await call(as, "GET", `/api/orgs/${orgId}/webhooks/${webhookId}/deliveries`);
  expect(res.status).toBe(200);
  return res.body.data as Array<Record<string, any>>;
}

async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("webhook delivery", () => {
  it("POST …/test queues a test.ping that the dispatcher delivers signed; the receiver verifies it and the log shows one 200", async () => {
    const { org, owner, viewer } = await createOrgWithCast();
    const hook = await endpointWithInbox(org, owner, [200]);
    const res = await call(owner, "POST", `/api/orgs/${org.id}/webhooks/${hook.id}/test`);
    expect(res.status).toBe(202);
    const got = await until(hook.received, (r) => r.length > 0);
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ verified: true, eventId: res.body.event_id, answered: 200 });
    const body = JSON.parse(got[0]!.body);
    expect(body).toMatchObject({ id: res.body.event_id, type: "test.ping", org_id: org.id, data: { webhook_id: hook.id } });
    expect(Object.keys(body)).toEqual(["id", "type", "api_version", "created_at", "org_id", "data"]);
    const log = await until(() => deliveries(viewer, org.id, hook.id), (d) => d[0]?.status === "succeeded");
    expect(log).toHaveLength(1);
    expect(log[0]).toMatchObject({ event_id: res.body.event_id, event_type: "test.ping", status: "succeeded", attempts: 1, last_status_code: 200 });
    expect(log[0]!.attempt_log).toHaveLength(1);
    expect(log[0]!.attempt_log[0]).toMatchObject({ attempt: 1, status_code: 200, error: null });
    expect(log[0]!.attempt_log[0].response_excerpt).toContain('"received":true');
    expect(log[0]!.attempt_log[0].latency_ms).toBeGreaterThanOrEqual(0);
  });

  it("a receiver answering 500, 500, then 200 gets three signed attempts of the same event, all logged, one success", async () => {
    const { org, owner } = await createOrgWithCast();
    const hook = await endpointWithInbox(org, owner, [500, 500, 200]);
    const event = await queuePing(org.id, hook.id);
    let now = Date.now();
    for (let i = 0; i < 5; i++) {
      await deliverDue(env, org.id, now);
      now += 24 * HOUR;
    }
    const got = await hook.received();
    expect(got.map((r) => r.answered)).toEqual([500, 500, 200]);
    expect(got.every((r) => r.verified && r.eventId === event.id)).toBe(true);
    expect(new Set(got.map((r) => r.body)).size).toBe(1);
    const [d] = await deliveries(owner, org.id, hook.id);
    expect(d).toMatchObject({ status: "succeeded", attempts: 3, last_status_code: 200, next_attempt_at: null });
    expect(d!.attempt_log.map((a: any) => a.status_code)).toEqual([500, 500, 200]);
  });

  it("a 410 is not retried: one attempt, delivery failed", async () => {
    const { org, owner } = await createOrgWithCast();
    const hook = await endpointWithInbox(org, owner, [410, 200]);
    await queuePing(org.id, hook.id);
    expect(await deliverDue(env, org.id, Date.now())).toBeNull();
    await deliverDue(env, org.id, Date.now() + 48 * HOUR);
    expect((await hook.received()).map((r) => r.answered)).toEqual([410]);
    const [d] = await deliveries(owner, org.id, hook.id);
    expect(d).toMatchObject({ status: "failed", attempts: 1, last_status_code: 410 });
  });

  it("429 is retried; a redirect is not followed and not retried", async () => {
    const { org, owner } = await createOrgWithCast();
    const limited = await endpointWithInbox(org, owner, [429, 204]);
    const moved = await endpointWithInbox(org, owner, [302, 200]);
    await queuePing(org.id, limited.id);
    await queuePing(org.id, moved.id);
    await deliverDue(env, org.id, Date.now());
    await deliverDue(env, org.id, Date.now() + 24 * HOUR);
    expect((await limited.received()).map((r) => r.answered)).toEqual([429, 204]);
    expect((await moved.received()).map((r) => r.answered)).toEqual([302]);
    const [m] = await deliveries(owner, org.id, moved.id);
    expect(m).toMatchObject({ status: "failed", attempts: 1, last_status_code: 302 });
    expect(m!.attempt_log[0].error).toContain("redirects are not followed");
  });

  it("network errors are retried on the schedule and the delivery fails after 8 attempts", async () => {
    const { org, owner } = await createOrgWithCast();
    // Port 9 (discard) on loopback: nothing listens there, so every attempt is a connection error.
    const hook = await createWebhook(org, owner, { url: "http://127.0.0.1:9/hook" });
    await queuePing(org.id, hook.id);
    const start = Date.now();
    let now = start;
    const dueTimes: number[] = [];
    for (let i = 0; i < MAX_ATTEMPTS + 2; i++) {
      const next = await deliverDue(env, org.id, now);
      if (next === null) break;
      dueTimes.push(next - now);
      now = next;
    }
    const [d] = await deliveries(owner, org.id, hook.id);
    expect(d).toMatchObject({ status: "failed", attempts: MAX_ATTEMPTS, last_status_code: null });
    expect(d!.attempt_log).toHaveLength(MAX_ATTEMPTS);
    expect(d!.attempt_log.every((a: any) => a.status_code === null && a.error.length > 0)).toBe(true);
    dueTimes.forEach((gap, i) => {
      expect(gap).toBeGreaterThanOrEqual(RETRY_DELAYS_MS[i]! * (1 - RETRY_JITTER) - 1);
      expect(gap).toBeLessThanOrEqual(RETRY_DELAYS_MS[i]! * (1 + RETRY_JITTER) + 1);
    });
  });

  it("the schedule is 8 attempts over about a day, with bounded jitter", () => {
    expect(MAX_ATTEMPTS).toBe(8);
    const total = RETRY_DELAYS_MS.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(18 * HOUR);
    expect(total).toBeLessThan(30 * HOUR);
    expect(retryDelayMs(1, 0)).toBe(Math.round(60_000 * (1 - RETRY_JITTER)));
    expect(retryDelayMs(1, 1)).toBe(Math.round(60_000 * (1 + RETRY_JITTER)));
    expect(retryDelayMs(MAX_ATTEMPTS)).toBeNull();
  });

  it("the URL guard runs again at send: a stored loopback URL is refused in production mode and nothing is sent", async () => {
    const { org, owner } = await createOrgWithCast();
    const hook = await endpointWithInbox(org, owner, [200]);
    await queuePing(org.id, hook.id);
    await deliverDue({ ...env, ALLOW_PRIVATE_UPSTREAMS: "false" }, org.id, Date.now());
    expect(await hook.received()).toHaveLength(0);
    const [d] = await deliveries(owner, org.id, hook.id);
    expect(d).toMatchObject({ status: "failed", attempts: 1 });
    expect(d!.attempt_log[0].error).toContain("https");
  });

  it("two dispatch runs at once send a due delivery once (the attempt is claimed)", async () => {
    const { org, owner } = await createOrgWithCast();
    const hook = await endpointWithInbox(org, owner, [200]);
    await queuePing(org.id, hook.id);
    const now = Date.now();
    await Promise.all([deliverDue(env, org.id, now), deliverDue(env, org.id, now), deliverDue(env, org.id, now)]);
    expect(await hook.received()).toHaveLength(1);
  });

  it("the hourly cron wakes a dispatcher that missed its wake-up: the overdue delivery is then sent", async () => {
    const { org, owner } = await createOrgWithCast();
    const hook = await endpointWithInbox(org, owner, [200]);
    const event = await queuePing(org.id, hook.id, Date.now() - WEBHOOK_OVERDUE_MS - 1_000);
    expect(await wakeOverdueWebhooks(env)).toBeGreaterThanOrEqual(1);
    const got = await until(hook.received, (r) => r.length > 0);
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ verified: true, eventId: event.id });
  });
});
