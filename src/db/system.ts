import { sql } from "drizzle-orm";
import type { Db } from "./client";
import { systemSettings } from "./schema";

let recordedMode: string | undefined;

/**
 * Records the deployment's ORG_MODE in D1 so the `memberships_single_org` trigger can enforce it.
 * Once per isolate, control plane only (never on the proxy path).
 */
export async function recordOrgMode(db: Db, mode: string): Promise<void> {
  if (recordedMode === mode) return;
  await db
    .insert(systemSettings)
    .values({ key: "org_mode", value: mode })
    .onConflictDoUpdate({ target: systemSettings.key, set: { value: sql`excluded.value` } });
  recordedMode = mode;
}

/** Forgets the cached mode (tests switch ORG_MODE within one isolate). */
export function resetRecordedOrgMode(): void {
  recordedMode = undefined;
}
