/**
 * Cost-event retention by the Cron Trigger: events older than the plan's window go, newer ones and the
 * audit trail stay; the work is bounded per run and resumes where it stopped.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { getDb } from "../src/db/client";
import { auditInsert } from "../src/db/audit";
import { pruneExpiredCostEvents } from "../src/db/retention";
import { costEvents } from "../src/db/schema";
import { scheduled } from "../src/scheduled";
import { createOrg, createUser } from "./factories";
import { auditRows } from "./factories/orgs";

const DAY = 86_400_000;

async function seedEvents(orgId: string, ageDays: number[]) {
  const now = Date.now();
  const rows = ageDays.map((d, i) => ({
    requestId: `req_${orgId}_${i}_${d}`, orgId, keyId: "key_x", provider: "openai", model: "gpt-4o-mini", endpoint: "/v1/chat/completions",
    status: 200, costMicros: 10, createdAt: now - d * DAY,
  }));
  for (let i = 0; i < rows.length; i += 5) await getDb(env.DB).insert(costEvents).values(rows.slice(i, i + 5));
}

async function ages(orgId: string): Promise<number[]> {
  const { results } = await env.DB.prepare("SELECT created_at FROM cost_events WHERE org_id = ? ORDER BY created_at DESC").bind(orgId).all<{ created_at: number }>();
  return results.map((r) => Math.round((Date.now() - r.created_at) / DAY));
}

const runCron = () =>
  scheduled({ cron: "17 * * * *", scheduledTime: Date.now(), noRetry() {} } as ScheduledController, env, { waitUntil() {}, passThroughOnException() {}, props: {} } as unknown as ExecutionContext);

describe("cost-event retention (scheduled handler)", () => {
  it("deletes events older than the plan's window (free 30 days, pro 90, enterprise never) and keeps newer ones and audit rows", async () => {
    const owner = await createUser();
    const free = await createOrg(owner, { plan: "free" });
    const pro = await createOrg(owner, { plan: "pro" });
    const ent = await createOrg(owner, { plan: "enterprise" });
    for (const org of [free, pro, ent]) await seedEvents(org.id, [1, 29, 31, 60, 91, 400]);
    const db = getDb(env.DB);
    await db.batch([auditInsert(db, free.id, { actorType: "system", actorId: "test", actorIp: null, userAgent: null }, { action: "test.old", targetType: "org", targetId: free.id })]);
    await env.DB.prepare("UPDATE audit_log SET created_at = ? WHERE org_id = ? AND action = 'test.old'").bind(Date.now() - 400 * DAY, free.id).run();

    await runCron();

    expect(await ages(free.id)).toEqual([1, 29]);
    expect(await ages(pro.id)).toEqual([1, 29, 31, 60]);
    expect(await ages(ent.id)).toEqual([1, 29, 31, 60, 91, 400]);
    expect(await auditRows(free.id, "test.old")).toHaveLength(1);
  });

  it("is bounded per run and resumes where it stopped until everything expired is gone", async () => {
    const owner = await createUser();
    const org = await createOrg(owner, { plan: "free" });
    await seedEvents(org.id, [...Array.from({ length: 25 }, () => 45), 2]);
    const db = getDb(env.DB);
    let runs = 0;
    while ((await ages(org.id)).length > 1 && runs < 500) {
      const r = await pruneExpiredCostEvents(db, Date.now(), 4, 3);
      expect(r.statements).toBeLessThanOrEqual(3);
      expect(r.deleted).toBeLessThanOrEqual(12);
      runs++;
    }
    expect(runs).toBeGreaterThan(1);
    expect(await ages(org.id)).toEqual([2]);
  });
});
