import type { Db } from "../db/client";
import { ApiError } from "../errors";
import { countSeatsUsed } from "../db/members";
import { planOf, planThatLifts, type Plan } from "../plans";

/** Outcome of a seat check. Returned, not thrown; routes turn a refusal into 403 `plan_limit`. */
export type SeatCheck = { ok: true } | { ok: false; used: number; limit: number; plan: Plan };

/**
 * Whether `adding` more seat-counted people fit the org's plan (docs/membership.md, "Seats"): seats are owner, admin
 * and member memberships plus pending non-viewer invitations. Viewers are free, so callers only ask
 * when the new role is not viewer.
 */
export async function checkSeats(db: Db, orgId: string, planId: string, adding: number, opts: { excludeInvitationId?: string } = {}): Promise<SeatCheck> {
  const plan = planOf(planId);
  if (plan.seats === null || adding <= 0) return { ok: true };
  const used = await countSeatsUsed(db, orgId, opts);
  return used + adding <= plan.seats ? { ok: true } : { ok: false, used, limit: plan.seats, plan };
}

/** The user-facing explanation of a refused seat check. */
export function seatLimitMessage(check: Extract<SeatCheck, { ok: false }>): string {
  return (
    `Seat limit of ${check.limit} reached on the ${check.plan.name} plan (${check.used} of ${check.limit} seats used by ` +
    `owners, admins, members and pending non-viewer invitations). Invite as a viewer (viewers are free), remove a member ` +
    `or revoke a pending invitation, or upgrade the plan.`
  );
}

/** The 403 `plan_limit` for a refused seat check. */
export function seatLimitError(check: Extract<SeatCheck, { ok: false }>): ApiError {
  const lifts = planThatLifts(check.plan, "seats", check.used);
  return new ApiError("plan_limit", seatLimitMessage(check), { limit_name: "seats", limit: check.limit, used: check.used, plan: check.plan.id, upgrade_plan: lifts?.id ?? null });
}

/**
 * The error for a write refused by a seat guard in the database (a concurrent request took the last seat
 * after the pre-check passed): recounts so the message states the numbers as they are now.
 */
export async function seatRaceError(db: Db, orgId: string, planId: string): Promise<ApiError> {
  const plan = planOf(planId);
  const used = await countSeatsUsed(db, orgId);
  return seatLimitError({ ok: false, used: Math.max(used, plan.seats ?? 0), limit: plan.seats ?? used, plan });
}
