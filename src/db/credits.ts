/**
 * Prepaid credit queries (docs/billing.md#prepaid-credits): grants, the once-per-email signup claim,
 * and usage by day from `cost_events`. Org-scoped functions take the org id first.
 */
import { and, asc, eq, sql } from "drizzle-orm";
import type { Db } from "./client";
import { creditGrants, signupCreditClaims } from "./schema";

export type CreditGrantKind = "signup" | "topup" | "adjustment";
export type CreditGrantRow = typeof creditGrants.$inferSelect;

/** Insert of one grant; fails on a `ref` that already exists (the caller treats that as a duplicate). */
export function insertCreditGrantStmt(db: Db, orgId: string, g: { id: string; kind: CreditGrantKind; amountMicros: number; ref: string; createdAt: number }) {
  return db.insert(creditGrants).values({ id: g.id, orgId, kind: g.kind, amountMicros: g.amountMicros, ref: g.ref, createdAt: g.createdAt });
}

/**
 * The signup credit for a new personal org, for the signup batch: the grant is inserted only when this
 * email hash never claimed one, then the claim is recorded (kept when the account is deleted).
 */
export function signupCreditStmts(db: Db, orgId: string, g: { id: string; userId: string; emailHash: string; amountMicros: number; createdAt: number }) {
  return [
    db.insert(creditGrants).select(
      sql`SELECT ${g.id}, ${orgId}, 'signup', ${g.amountMicros}, ${`signup:${g.userId}`}, ${g.createdAt}
          WHERE NOT EXISTS (SELECT 1 FROM ${signupCreditClaims} WHERE ${signupCreditClaims.emailHash} = ${g.emailHash})`,
    ),
    db.insert(signupCreditClaims).values({ emailHash: g.emailHash, grantedAt: g.createdAt }).onConflictDoNothing(),
  ] as const;
}

/** The grant with this idempotency reference in this org, if any. */
export async function findCreditGrantByRef(db: Db, orgId: string, ref: string): Promise<CreditGrantRow | undefined> {
  const rows = await db.select().from(creditGrants).where(and(eq(creditGrants.orgId, orgId), eq(creditGrants.ref, ref))).limit(1);
  return rows[0];
}

/** True when any org holds a grant with this reference (refs are unique across orgs). */
export async function creditRefTaken(db: Db, ref: string): Promise<boolean> {
  const rows = await db.select({ id: creditGrants.id }).from(creditGrants).where(eq(creditGrants.ref, ref)).limit(1);
  return rows.length > 0;
}

/** Every grant of the org, oldest first. */
export function listCreditGrants(db: Db, orgId: string): Promise<CreditGrantRow[]> {
  return db.select().from(creditGrants).where(eq(creditGrants.orgId, orgId)).orderBy(asc(creditGrants.createdAt), asc(creditGrants.id));
}

/** Σ grants of the org (µ$). */
export async function creditGrantTotal(db: Db, orgId: string): Promise<number> {
  const rows = await db.select({ total: sql<number>`COALESCE(SUM(${creditGrants.amountMicros}), 0)` }).from(creditGrants).where(eq(creditGrants.orgId, orgId));
  return Number(rows[0]?.total ?? 0);
}

/** Spend per UTC day since `from` (µ$ and requests), oldest first, from D1 cost events. */
export async function creditUsageByDay(db: Db, orgId: string, from: number): Promise<Array<{ day: string; cost_micros: number; requests: number }>> {
  const rows = await db.all<{ day: string; cost_micros: number; requests: number }>(sql`
    SELECT strftime('%Y-%m-%d', created_at / 1000, 'unixepoch') AS day, COALESCE(SUM(cost_micros), 0) AS cost_micros, COUNT(*) AS requests
    FROM cost_events WHERE org_id = ${orgId} AND created_at >= ${from} GROUP BY 1 ORDER BY 1`);
  return rows.map((r) => ({ day: r.day, cost_micros: Number(r.cost_micros), requests: Number(r.requests) }));
}

/** Σ cost events of the org since `from` (µ$). */
export async function orgSpendSince(db: Db, orgId: string, from: number): Promise<number> {
  const rows = await db.all<{ s: number }>(sql`SELECT COALESCE(SUM(cost_micros), 0) AS s FROM cost_events WHERE org_id = ${orgId} AND created_at >= ${from}`);
  return Number(rows[0]?.s ?? 0);
}
