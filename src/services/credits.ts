/**
 * Prepaid credits (docs/billing.md#prepaid-credits): granting credit to an org and reading its balance.
 * D1 holds the grants (the system of record); the org's OrgGate holds the balance as the `credits`
 * scope and draws it down at admission and settle, like a hard budget (docs/budgets.md).
 */
import { auditInsert, type AuditActor } from "../db/audit";
import { getDb, type Db } from "../db/client";
import { creditRefTaken, findCreditGrantByRef, insertCreditGrantStmt, type CreditGrantKind, type CreditGrantRow } from "../db/credits";
import { orgGate, refreshGate } from "../durable-objects/org-gate-client";
import type { Env } from "../env";
import { sha256Hex } from "../lib/crypto";
import { newId } from "../lib/ids";

/** Outcome of {@link grantCredits}; expected failures are values, never exceptions. */
export type GrantResult =
  | { ok: true; duplicate: boolean; grant: CreditGrantRow; gateUpdated: boolean }
  | { ok: false; reason: "invalid_amount" | "ref_in_other_org" };

const SYSTEM_ACTOR: AuditActor = { actorType: "system", actorId: "system", actorIp: null, userAgent: null };

/** Largest single grant accepted ($1,000,000): guards against unit mistakes (dollars passed as µ$ × 1e6). */
export const MAX_GRANT_MICROS = 1_000_000_000_000;

/**
 * Adds credit to an org's prepaid balance, idempotently by `ref` (a top-up's Checkout session id, an
 * adjustment's ticket…): a repeated `ref` changes nothing and returns the first grant. The grant and
 * its audit row are one D1 batch; then the org's gate reloads its credit total before this returns,
 * so the next request sees the new balance. `gateUpdated: false` means the push never confirmed (the
 * gate's reconciliation applies it within its window, docs/convergence.md).
 */
export async function grantCredits(
  env: Pick<Env, "DB" | "ORG_GATE">,
  orgId: string,
  g: { kind: CreditGrantKind; amountMicros: number; ref: string },
  actor: AuditActor = SYSTEM_ACTOR,
): Promise<GrantResult> {
  if (!Number.isSafeInteger(g.amountMicros) || g.amountMicros <= 0 || g.amountMicros > MAX_GRANT_MICROS) return { ok: false, reason: "invalid_amount" };
  const db = getDb(env.DB);
  const existing = await findCreditGrantByRef(db, orgId, g.ref);
  if (existing) return { ok: true, duplicate: true, grant: existing, gateUpdated: await refreshGate(env, orgId, ["org"]) };
  const { row, statements } = creditGrantStatements(db, orgId, g, actor);
  try {
    await db.batch(statements);
  } catch (e) {
    // Two grants racing on one ref: the unique index decides; the loser's batch (audit included) changed nothing.
    if (!String(e).includes("credit_grants.ref")) throw e;
    const winner = await findCreditGrantByRef(db, orgId, g.ref);
    if (!winner) return { ok: false, reason: "ref_in_other_org" };
    return { ok: true, duplicate: true, grant: winner, gateUpdated: await refreshGate(env, orgId, ["org"]) };
  }
  return { ok: true, duplicate: false, grant: { ...row, orgId }, gateUpdated: await refreshGate(env, orgId, ["org"]) };
}

/**
 * The D1 statements of one grant (the grant row and its `credits.grant` audit row), for a caller that
 * must commit them in its own batch (a Stripe top-up, with the event id). The caller validates the
 * amount and refreshes the org's gate afterwards; a repeated `ref` fails the batch on the unique index.
 */
export function creditGrantStatements(db: Db, orgId: string, g: { kind: CreditGrantKind; amountMicros: number; ref: string }, actor: AuditActor = SYSTEM_ACTOR) {
  const row = { id: newId("crg"), kind: g.kind, amountMicros: g.amountMicros, ref: g.ref, createdAt: Date.now() };
  const statements = [
    insertCreditGrantStmt(db, orgId, row),
    auditInsert(db, orgId, actor, { action: "credits.grant", targetType: "credit_grant", targetId: row.id, after: { kind: g.kind, amount_micros: g.amountMicros, ref: g.ref } }),
  ] as const;
  return { row, statements };
}

/** True when `ref` is already used by a grant of any org (so a caller can refuse reusing it). */
export function creditRefUsed(env: Pick<Env, "DB">, ref: string): Promise<boolean> {
  return creditRefTaken(getDb(env.DB), ref);
}

/** The live balance from the org's gate, or null when credits are off. */
export async function creditBalance(env: Pick<Env, "ORG_GATE">, orgId: string) {
  return orgGate(env, orgId).creditBalance(orgId);
}

/** The once-per-person key of the signup credit: SHA-256 of the normalised email. */
export function signupClaimKey(email: string): Promise<string> {
  return sha256Hex(`signup-credit:${email.trim().toLowerCase()}`);
}
