import { sql } from "drizzle-orm";
import type { Db } from "./client";
import { rateLimits } from "./schema";

/** Result of one hit on a fixed-window limiter. */
export type RateLimitHit = { allowed: true; remaining: number } | { allowed: false; retryAfterSeconds: number };

/**
 * Counts one hit on `bucket` (e.g. `login:ip:203.0.113.7`, `login:email:a@b.c`) in a fixed window and
 * says whether it is within `limit`. The upsert-and-return is one statement, so concurrent hits count exactly.
 * Control plane only (login, invitation acceptance): the proxy's limits live in the OrgGate DO.
 */
export async function hitRateLimit(db: Db, bucket: string, limit: number, windowMs: number, now = Date.now()): Promise<RateLimitHit> {
  const windowStart = now - (now % windowMs);
  const [row] = await db
    .insert(rateLimits)
    .values({ bucket, windowStart, count: 1 })
    .onConflictDoUpdate({ target: [rateLimits.bucket, rateLimits.windowStart], set: { count: sql`${rateLimits.count} + 1` } })
    .returning({ count: rateLimits.count });
  const count = row?.count ?? 1;
  if (count > limit) return { allowed: false, retryAfterSeconds: Math.ceil((windowStart + windowMs - now) / 1000) };
  return { allowed: true, remaining: limit - count };
}
