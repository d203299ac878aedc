/**
 * The hourly Cron Trigger prunes expired/revoked sessions, expired email tokens and stale rate-limit
 * windows, in bounded batches, and leaves live rows alone.
 */
import { createExecutionContext, createScheduledController, env, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../src/index";
import { pruneExpired, RATE_LIMIT_RETENTION_MS } from "../src/db/system";
import { newId } from "../src/lib/ids";
import { createUser } from "./factories";

async function insertSession(userId: string, expiresAt: number, revokedAt: number | null = null): Promise<string> {
  const id = newId("ses");
  await env.DB.prepare("INSERT INTO sessions (id, user_id, created_at, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?)").bind(id, userId, 0, expiresAt, revokedAt).run();
  return id;
}
async function insertEmailToken(userId: string, expiresAt: number): Promise<string> {
  const id = newId("emt" as never);
  await env.DB.prepare("INSERT INTO email_tokens (id, user_id, purpose, token_hash, expires_at, created_at) VALUES (?, ?, 'verify_email', ?, ?, 0)").bind(id, userId, `h-${id}`, expiresAt).run();
  return id;
}
const exists = async (table: string, where: string, ...binds: unknown[]) => (await env.DB.prepare(`SELECT COUNT(*) AS n FROM ${table} WHERE ${where}`).bind(...binds).first<{ n: number }>())!.n;

describe("housekeeping (scheduled handler)", () => {
  it("each run is bounded: at most batch × rounds rows per table, the rest waits for the next run", async () => {
    const user = await createUser();
    const ids = [];
    for (let i = 1; i <= 5; i++) ids.push(await insertSession(user.id, i));
    const first = await pruneExpired(env.DB, 100, 2, 2);
    expect(first.sessions).toBe(4);
    expect(await exists("sessions", "user_id = ? AND expires_at <= 5", user.id)).toBeGreaterThanOrEqual(1);
    await pruneExpired(env.DB, 100, 2, 2);
    expect(await exists("sessions", "user_id = ? AND expires_at <= 5", user.id)).toBe(0);
  });

  it("the cron handler drops expired and revoked sessions, expired email tokens and stale rate-limit windows, and keeps live rows", async () => {
    const user = await createUser();
    const now = Date.now();
    const expired = await insertSession(user.id, now - 1000);
    const revoked = await insertSession(user.id, now + 3_600_000, now - 1000);
    const live = await insertSession(user.id, now + 3_600_000);
    const oldToken = await insertEmailToken(user.id, now - 1000);
    const liveToken = await insertEmailToken(user.id, now + 3_600_000);
    const bucket = `test:${newId("req")}`;
    const stale = now - RATE_LIMIT_RETENTION_MS - 60_000;
    await env.DB.batch([
      env.DB.prepare("INSERT INTO rate_limits (bucket, window_start, count) VALUES (?, ?, 3)").bind(bucket, stale),
      env.DB.prepare("INSERT INTO rate_limits (bucket, window_start, count) VALUES (?, ?, 3)").bind(bucket, now - 60_000),
    ]);

    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ scheduledTime: new Date(now), cron: "17 * * * *" }), env, ctx);
    await waitOnExecutionContext(ctx);

    expect(await exists("sessions", "id = ?", expired)).toBe(0);
    expect(await exists("sessions", "id = ?", revoked)).toBe(0);
    expect(await exists("sessions", "id = ?", live)).toBe(1);
    expect(await exists("sessions", "id = ?", user.sessionId)).toBe(1);
    expect(await exists("email_tokens", "id = ?", oldToken)).toBe(0);
    expect(await exists("email_tokens", "id = ?", liveToken)).toBe(1);
    expect(await exists("rate_limits", "bucket = ? AND window_start = ?", bucket, stale)).toBe(0);
    expect(await exists("rate_limits", "bucket = ? AND window_start = ?", bucket, now - 60_000)).toBe(1);
  });
});
