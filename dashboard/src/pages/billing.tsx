/**
 * Billing: the current plan, its limits and usage against them. Plan limits come from `src/plans.ts`
 * (the same data the Worker enforces). There is no self-serve plan change yet, so the page offers no
 * checkout or subscription-management buttons.
 */
import { PLANS, planOf, type PlanId } from "../../../src/plans";
import { useOrg } from "../lib/session";
import { useBudgets, useInvitations, useKeys, useMembers, useUsage } from "../lib/queries";
import { roleAtLeast } from "../lib/permissions";
import { formatInt, formatMicros, isoDay } from "../lib/format";
import { Card, PageHeader, SpendBar } from "../components/ui";

function LimitRow({ label, used, limit, money }: { label: string; used: number | null; limit: number | null; money?: boolean }) {
  const fmt = money ? formatMicros : formatInt;
  return (
    <div className="stack-sm" style={{ padding: "12px 0", borderBottom: "1px solid var(--border)" }}>
      <div className="spread"><span className="cell-title">{label}</span><span className="small">{used === null ? "…" : fmt(used)} <span className="muted">/ {limit === null ? "unlimited" : fmt(limit)}</span></span></div>
      {limit !== null && used !== null ? <SpendBar spent={used} reserved={0} limit={limit} label={`${label} used of plan limit`} /> : null}
    </div>
  );
}

export function BillingPage() {
  const { org, role } = useOrg();
  const plan = planOf(org.plan);
  const members = useMembers(org.id);
  const invitations = useInvitations(org.id, roleAtLeast(role, "admin"));
  const keys = useKeys(org.id);
  const budgets = useBudgets(org.id);
  const usage = useUsage(org.id, { from: `${isoDay(new Date()).slice(0, 8)}01` });
  const seats = members.data
    ? members.data.data.filter((m) => m.role !== "viewer").length + (invitations.data?.data.filter((i) => i.status === "pending" && i.role !== "viewer").length ?? 0)
    : null;
  const over = plan.keys !== null && keys.data && keys.data.data.filter((k) => k.status === "active").length > plan.keys;
  return (
    <div className="stack">
      <PageHeader title="Billing" description="Your plan, its limits, and how much of them you use." />
      {over ? <div className="banner" role="status">You're above the {plan.name} plan's limits. Existing resources keep working; creating new ones is blocked until the plan changes or you clean up.</div> : null}
      <div className="grid grid-2">
        <Card title="Current plan">
          <div className="stack-sm">
            <div className="row"><h2 style={{ fontSize: 24 }}>{plan.name}</h2></div>
            <div className="muted">{plan.priceUsdMonthly === null ? "Custom pricing" : plan.priceUsdMonthly === 0 ? "Free forever" : `$${plan.priceUsdMonthly} / month`}</div>
            <ul className="small" style={{ margin: 0, paddingLeft: 18 }}>
              <li>Org rate limit: {plan.orgRpm === null ? "custom" : `${formatInt(plan.orgRpm)} RPM / ${formatInt(plan.orgTpm)} TPM`}</li>
              <li>Bulk CSV invite: {plan.bulkInvite ? "included" : "not included"}</li>
              <li>Viewers: always free</li>
            </ul>
            <p className="small muted" style={{ margin: 0 }}>Plan changes are not self-serve yet: the deployment's operator sets the plan.</p>
          </div>
        </Card>
        <Card title="Usage against plan limits">
          <LimitRow label="Seats (owner, admins, members, pending invites)" used={seats} limit={plan.seats} />
          <LimitRow label="Active API keys" used={keys.data ? keys.data.data.filter((k) => k.status === "active").length : null} limit={plan.keys} />
          <LimitRow label="Budgets" used={budgets.data ? budgets.data.data.length : null} limit={plan.budgets} />
          <LimitRow label="Spend through the gateway this month" used={usage.data ? usage.data.totals.cost_micros : null} limit={plan.monthlySpendCapMicros} money />
        </Card>
      </div>
      <Card title="Compare plans" bodyClass="table-wrap">
        <table>
          <thead><tr><th>Limit</th>{(Object.keys(PLANS) as PlanId[]).map((id) => <th key={id} className="num">{PLANS[id].name}{id === plan.id ? " (current)" : ""}</th>)}</tr></thead>
          <tbody>
            {([
              ["Seat-counted members", (p) => (p.seats === null ? "Unlimited" : String(p.seats))],
              ["API keys", (p) => (p.keys === null ? "Unlimited" : String(p.keys))],
              ["Budgets", (p) => (p.budgets === null ? "Unlimited" : String(p.budgets))],
              ["Monthly spend cap", (p) => (p.monthlySpendCapMicros === null ? "None" : formatMicros(p.monthlySpendCapMicros))],
            ] as Array<[string, (p: (typeof PLANS)[PlanId]) => string]>).map(([label, f]) => (
              <tr key={label}><td>{label}</td>{(Object.keys(PLANS) as PlanId[]).map((id) => <td key={id} className="num">{f(PLANS[id])}</td>)}</tr>
            ))}
          </tbody>
        </table>
      </Card>
    </div>
  );
}
