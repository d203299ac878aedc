/**
 * Billing: the current plan, its limits and usage against them. Plan limits come from `src/plans.ts`
 * (the same data the Worker enforces); `GET …/billing` refines them when the API provides it.
 */
import { useMutation, useQuery } from "@tanstack/react-query";
import { PLANS, planOf, type PlanId } from "../../../src/plans";
import { api, messageOf } from "../lib/api";
import { orgKey, useOrg } from "../lib/session";
import { useBudgets, useInvitations, useKeys, useMembers, useUsage } from "../lib/queries";
import { can, roleAtLeast } from "../lib/permissions";
import { formatInt, formatMicros, isoDay } from "../lib/format";
import { Alert, Badge, Button, Card, DisabledReason, PageHeader, SpendBar } from "../components/ui";
import { useToast } from "../components/toast";

/** Flip on once the Worker serves `GET /api/orgs/:orgId/billing`. */
const BILLING_API = false;

type Billing = { plan?: string; status?: string | null; current_period_end?: string | null };

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
  const toast = useToast();
  // `GET …/billing` (subscription status) is not served yet; the plan on record comes with the org.
  const billing = useQuery({ queryKey: orgKey(org.id, "billing"), queryFn: () => api<Billing>("GET", `/orgs/${org.id}/billing`), retry: false, enabled: BILLING_API && role === "owner" });
  const plan = planOf(billing.data?.plan ?? org.plan);
  const members = useMembers(org.id);
  const invitations = useInvitations(org.id, roleAtLeast(role, "admin"));
  const keys = useKeys(org.id);
  const budgets = useBudgets(org.id);
  const usage = useUsage(org.id, { from: `${isoDay(new Date()).slice(0, 8)}01` });
  const cap = can(role, "billing.manage");
  const seats = members.data
    ? members.data.data.filter((m) => m.role !== "viewer").length + (invitations.data?.data.filter((i) => i.status === "pending" && i.role !== "viewer").length ?? 0)
    : null;
  const go = useMutation({
    mutationFn: (req: { path: string; body?: unknown }) => api<{ url: string }>("POST", `/orgs/${org.id}/billing/${req.path}`, req.body),
    onSuccess: (r) => { window.location.href = r.url; },
    onError: (e) => toast(messageOf(e), "error"),
  });
  const over = plan.keys !== null && keys.data && keys.data.data.filter((k) => k.status === "active").length > plan.keys;
  return (
    <div className="stack">
      <PageHeader title="Billing" description="Your plan, its limits, and how much of them you use." />
      {over ? <div className="banner" role="status">You're above the {plan.name} plan's limits. Existing resources keep working; creating new ones is blocked until you upgrade or clean up.</div> : null}
      <div className="grid grid-2">
        <Card title="Current plan" footer={
          <div className="row">
            {plan.id !== "pro" ? <Button variant="primary" onClick={() => go.mutate({ path: "checkout", body: { plan: "pro" } })} loading={go.isPending} disabledReason={cap.allowed ? null : cap.reason}>Upgrade to Pro</Button> : null}
            <Button onClick={() => go.mutate({ path: "portal" })} disabledReason={cap.allowed ? null : cap.reason}>Manage in Stripe</Button>
          </div>
        }>
          <div className="stack-sm">
            <div className="row"><h2 style={{ fontSize: 24 }}>{plan.name}</h2>{billing.data?.status ? <Badge tone="success">{billing.data.status}</Badge> : null}</div>
            <div className="muted">{plan.priceUsdMonthly === null ? "Custom pricing" : plan.priceUsdMonthly === 0 ? "Free forever" : `$${plan.priceUsdMonthly} / month`}</div>
            <ul className="small" style={{ margin: 0, paddingLeft: 18 }}>
              <li>Org rate limit: {plan.orgRpm === null ? "custom" : `${formatInt(plan.orgRpm)} RPM / ${formatInt(plan.orgTpm)} TPM`}</li>
              <li>Cost-event retention: {plan.retentionDays === null ? "unlimited" : `${plan.retentionDays} days`}</li>
              <li>Bulk CSV invite: {plan.bulkInvite ? "included" : "not included"}</li>
              <li>Viewers: always free</li>
            </ul>
            <DisabledReason reason={cap.allowed ? null : cap.reason} />
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
              ["Webhooks", (p) => (p.webhooks === null ? "Unlimited" : String(p.webhooks))],
              ["Monthly spend cap", (p) => (p.monthlySpendCapMicros === null ? "None" : formatMicros(p.monthlySpendCapMicros))],
              ["Retention", (p) => (p.retentionDays === null ? "Unlimited" : `${p.retentionDays} days`)],
            ] as Array<[string, (p: (typeof PLANS)[PlanId]) => string]>).map(([label, f]) => (
              <tr key={label}><td>{label}</td>{(Object.keys(PLANS) as PlanId[]).map((id) => <td key={id} className="num">{f(PLANS[id])}</td>)}</tr>
            ))}
          </tbody>
        </table>
      </Card>
      {billing.isError && roleAtLeast(role, "owner") ? <Alert tone="info">Live subscription details are unavailable ({messageOf(billing.error)}); showing the plan on record.</Alert> : null}
    </div>
  );
}
