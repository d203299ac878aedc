/**
 * The gate's side of leases (docs/budgets.md "Leases"): one `lease` call flushes what an isolate
 * reports (requests it admitted from its leases, settles, releases, leases it is done with) and then
 * answers what it needs next — a lease of headroom for requests like one that did not fit, or that
 * request's exact admission when a lease would be too small to be worth it (near a limit), the org is
 * strict, or the request is one leases never cover (velocity budgets, aliases' fallback attempts,
 * unbounded requests). All of it runs in one SQLite transaction (call inside `ledger.transaction`).
 *
 * Why overshoot stays 0: a lease is reserved in every counter and charged to every window like that
 * many reservations, sized within what every limit still allows; the isolate admits only what fits
 * what is left of it. So spent + reserved (reservations and leases) never passes a hard limit.
 */
import { randomBase62 } from "../lib/encoding";
import { admitPrepared, prepareAdmission } from "./gate-admit";
import type { HotCache } from "./gate-hot-cache";
import type { Ledger } from "./gate-ledger";
import type { BudgetIndex } from "./gate-budgets";
import { LEASE_GRACE_MS, LEASE_TTL_MS, type LeaseAnswer, type LeaseNeed, type LeaseReport, type LeaseRequest, type LeaseResult, type LeaseSplit } from "./gate-protocol";
import { snapshotOf, windowStartOf, WINDOW_MS } from "./gate-windows";

/** Each lease takes at most this share of what a limit still allows, so several isolates share it. */
export const LEASE_SHARE = 4;
/** Below this many of the asking request's reservations per lease, admit exactly instead. */
export const MIN_LEASE_REQUESTS = 2;
/** Upper bound on the requests one lease may cover. */
export const MAX_LEASE_REQUESTS = 1024;

/**
 * The attribution parts that choose budget instances in this org (docs/budgets.md "Leases"): the
 * customer when any customer budget exists, and every tag key some tag budget names. Requests that
 * agree on these (and on key and model) charge the same instances, so they may share one lease.
 */
export function leaseSplit(budgets: BudgetIndex): LeaseSplit {
  const tagKeys = new Set<string>();
  for (const id of budgets.tag.keys()) {
    const eq = id.indexOf("=");
    tagKeys.add(eq < 0 ? id : id.slice(0, eq));
  }
  return { customer: budgets.customer.size > 0 || budgets.customerDefault.length > 0, tagKeys: [...tagKeys].sort() };
}

/** Applies one report (see {@link LeaseReport}). */
function applyReport(ledger: Ledger, orgId: string, r: LeaseReport, now: number): void {
  switch (r.kind) {
    case "admitted":
      ledger.materialize(r.admission);
      return;
    case "settle":
      if (r.admission) ledger.settleLeased(orgId, r.admission, r.req, now);
      else ledger.settle(orgId, r.req, now);
      return;
    case "release":
      if (r.admission) ledger.releaseLeased(orgId, r.admission, r.req, now);
      else ledger.release(orgId, r.req, now);
      return;
    case "close":
      ledger.closeLease(r.leaseId);
      return;
  }
}

/** A lease for requests like `need.req`, or its exact admission. */
function answer(hot: HotCache, ledger: Ledger, need: LeaseNeed, now: number): LeaseAnswer {
  const prepared = prepareAdmission(hot, need.req, now);
  if (!("template" in prepared)) return { kind: "exact", result: prepared };
  const exact = (): LeaseAnswer => ({ kind: "exact", result: admitPrepared(ledger, prepared, now) });
  const org = hot.org();
  const l = prepared.ledger;
  if (org.admission !== "lease" || !(need.want >= 1) || need.req.unbounded || need.req.alias !== undefined || l.applied.some((a) => a.budget.velocity)) return exact();

  const want = Math.min(MAX_LEASE_REQUESTS, Math.max(MIN_LEASE_REQUESTS, Number.isFinite(need.want) ? Math.floor(need.want) : 0));
  const h = ledger.headroom(l.applied, l.windows, now);
  const requests = Math.min(want, Math.floor(h.requests / LEASE_SHARE));
  if (requests < MIN_LEASE_REQUESTS) return exact();
  const micros = Math.min(requests * l.micros, Math.floor(h.micros / LEASE_SHARE));
  const tokens = Math.min(requests * l.tokens, Math.floor(h.tokens / LEASE_SHARE));
  if (micros < MIN_LEASE_REQUESTS * l.micros || tokens < MIN_LEASE_REQUESTS * l.tokens) return exact();

  // A lease never outlives the window minute or budget period it was charged to.
  let expiresAt = now + LEASE_TTL_MS;
  if (l.windows.length) expiresAt = Math.min(expiresAt, windowStartOf(now) + WINDOW_MS);
  for (const a of l.applied) if (a.resetsAt !== null) expiresAt = Math.min(expiresAt, a.resetsAt);
  if (expiresAt <= now) return exact();
  const leaseId = `lse_${randomBase62(16)}`;
  const windows = ledger.grantLease(l, { leaseId, micros, tokens, requests, expiresAt }, expiresAt + LEASE_GRACE_MS);
  return {
    kind: "lease",
    grant: { leaseId, expiresAt, micros, tokens, requests, template: { ...prepared.template, admission: "lease" }, rateLimit: snapshotOf(windows, now), splitBy: leaseSplit(hot.budgets()) },
  };
}

/** One `lease` call: expire leases whose grace ended, apply the reports in order, answer the needs. */
export function leaseTx(hot: HotCache, ledger: Ledger, req: LeaseRequest, now: number): LeaseResult {
  ledger.expireLeases(now);
  for (const r of req.reports) applyReport(ledger, req.orgId, r, now);
  const answers = req.needs.map((n) => answer(hot, ledger, n, now));
  return { mode: hot.org().admission, answers };
}
