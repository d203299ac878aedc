/**
 * The Worker's Cron Trigger (`[triggers] crons` in wrangler.toml, hourly): housekeeping of the control
 * plane's own tables. Bounded per run (src/db/system.ts); see docs/security.md.
 */
import type { Env } from "./env";
import { pruneExpired } from "./db/system";

/** Prunes expired sessions, email tokens and rate-limit windows; logs what it removed. */
export async function scheduled(_controller: ScheduledController, env: Env, _ctx: ExecutionContext): Promise<void> {
  const pruned = await pruneExpired(env.DB);
  console.log(`housekeeping: pruned ${pruned.sessions} sessions, ${pruned.emailTokens} email tokens, ${pruned.rateLimits} rate-limit windows`);
}
