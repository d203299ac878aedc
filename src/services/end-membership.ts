import type { Env } from "../env";
import type { Db } from "../db/client";
import type { auditInsert } from "../db/audit";
import { deleteMembershipStatements, revokeKeysCreatedBy } from "../db/members";
import { revokeManagementTokensCreatedByStatement } from "../db/management-tokens";
import { isNotNullViolation } from "../db/orgs";
import { ApiError } from "../errors";
import { revokeGateKeys } from "../durable-objects/org-gate-client";
import type { enqueueEventStmt } from "../db/webhooks";

/**
 * Ends a user's membership (removal or leave) in one D1 batch with its audit row: membership and team
 * memberships gone, the virtual keys and management tokens they created revoked. Then the org's gate
 * revokes the keys before the caller answers, so they fail on the very next request.
 * Returns the ids of the revoked virtual keys.
 */
export async function endMembership(
  env: Pick<Env, "ORG_GATE">,
  db: Db,
  orgId: string,
  userId: string,
  revokedBy: string,
  audit: ReturnType<typeof auditInsert>,
  event?: ReturnType<typeof enqueueEventStmt>,
): Promise<string[]> {
  const now = Date.now();
  const [ownerGuard, deleteTeams, deleteMembership] = deleteMembershipStatements(db, orgId, userId);
  const [, , , , revoked] = await db.batch([
    audit,
    ownerGuard,
    deleteTeams,
    deleteMembership,
    revokeKeysCreatedBy(db, orgId, userId, revokedBy, now),
    revokeManagementTokensCreatedByStatement(db, orgId, userId, now),
    ...(event ? [event] : []),
  ]).catch((err: unknown) => {
    if (isNotNullViolation(err, "memberships.role")) throw new ApiError("conflict", "This member has just become the owner; the owner cannot be removed or leave");
    throw err;
  });
  const ids = revoked.map((k) => k.id);
  if (ids.length) await revokeGateKeys(env, orgId, ids);
  return ids;
}
