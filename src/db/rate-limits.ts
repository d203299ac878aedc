import { and, eq, sql } from "drizzle-orm";
import type { Db } from "./client";
import { rateLimits } from "./schema";

/** Result of one hit on a limiter. */
export type RateLimitHit = { allowed: true; remaining: number } | { allowed: false; retryAfterSeconds: number };

/**
 * Counts one hit on `bucket` (e.g. `login:ip:203.0.113.7`, `login:email:a@b.c`) and says whether the
 * sliding-window estimate (previous window's count weighted by its remaining overlap + this window's count)
 * is within `limit`. Sliding rather than fixed so a burst cannot double up across a window edge.
 * The upsert and the read of the previous window go in one batch, so concurrent hits count exactly.
 * Control plane only (login, invitation acceptance): the proxy's limits live in the OrgGate DO.
 */
export async function hitRateLimit(db: Db, bucket: string, limit: number, windowMs: number, now = Date.now()): Promise<RateLimitHit> {
  const windowStart = now - (now % windowMs);
  const [current, previous] = await db.batch([
    db
      .insert(rateLimits)
      .values({ bucket, windowStart, count: 1 })
      .onConflictDoUpdate({ target: [rateLimits.bucket, rateLimits.windowStart], set: { count: sql`${rateLimits.count} + 1` } })
      .returning({ count: rateLimits.count }),
    db
      .select({ count: rateLimits.count })
      .from(rateLimits)
      .where(and(eq(rateLimits.bucket, bucket), eq(rateLimits.windowStart, windowStart - windowMs))),
  ]);
  const overlap = 1 - (now - windowStart) / windowMs;
  const estimate = Math.ceil((previous[0]?.count ?? 0) * overlap) + (current[0]?.count ?? 1);
  if (estimate > limit) {
    // Time until the weighted previous window has decayed enough, capped at the end of this window.
    const prev = previous[0]?.count ?? 0;
    const excess = estimate - limit;
    const decayMs = prev > 0 ? Math.ceil((excess / prev) * windowMs) : windowStart + windowMs - now;
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(Math.min(decayMs, windowStart + windowMs - now + windowMs) / 1000)) };
  }
  return { allowed: true, remaining: limit - estimate };
}
