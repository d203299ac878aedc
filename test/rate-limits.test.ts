import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { getDb } from "../src/db/client";
import { hitRateLimit } from "../src/db/rate-limits";

const WINDOW = 60_000;
const bucket = () => `test:${crypto.randomUUID()}`;

describe("control-plane rate limiter", () => {
  it("allows exactly `limit` hits in a window, even concurrently", async () => {
    const db = getDb(env.DB);
    const b = bucket();
    const t = 10 * WINDOW + 1_000;
    const hits = await Promise.all(Array.from({ length: 25 }, () => hitRateLimit(db, b, 10, WINDOW, t)));
    expect(hits.filter((h) => h.allowed)).toHaveLength(10);
  });

  it("carries the previous window over a window edge (no double burst)", async () => {
    const db = getDb(env.DB);
    const b = bucket();
    const lastMsOfWindow = 11 * WINDOW - 1;
    for (let i = 0; i < 10; i++) expect((await hitRateLimit(db, b, 10, WINDOW, lastMsOfWindow)).allowed).toBe(true);
    // 2 ms later a new fixed window starts, but the previous one still weighs ~100 %.
    const next = await hitRateLimit(db, b, 10, WINDOW, 11 * WINDOW + 1);
    expect(next.allowed).toBe(false);
    if (!next.allowed) expect(next.retryAfterSeconds).toBeGreaterThan(0);
  });

  it("frees capacity as the previous window slides out", async () => {
    const db = getDb(env.DB);
    const b = bucket();
    for (let i = 0; i < 10; i++) await hitRateLimit(db, b, 10, WINDOW, 20 * WINDOW + 5);
    // Half-way through the next window, half of the previous count still counts: 5 + hits ≤ 10.
    const mid = 21 * WINDOW + WINDOW / 2;
    const results = [];
    for (let i = 0; i < 7; i++) results.push((await hitRateLimit(db, b, 10, WINDOW, mid)).allowed);
    expect(results.filter(Boolean)).toHaveLength(5);
  });
});
