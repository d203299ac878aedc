/**
 * Billing (docs/billing.md): the plan in effect, the subscription, usage against the plan's limits, and
 * the owner's actions: subscribe through Stripe Checkout, upgrade (prorated, at once), move to Free or
 * cancel at period end, open the Stripe Billing Portal. Other roles see the plan and its limits only
 * (the billing routes are owner-only). Plan limits come from src/plans.ts, the data the Worker enforces.
 * With prepaid credits on, the owner also sees the balance and buys credit through Checkout (payment mode).
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link } from "@tanstack/react-router";
import { useEffect, useState } from "react";
import { PLANS, planOf, type PlanId } from "../../../src/plans";
import { api, messageOf } from "../lib/api";
import { meQueryKey, orgKey, useOrg } from "../lib/session";
import { formatDate, formatInt, formatMicros } from "../lib/format";
import { Alert, Badge, Button, Card, Field, PageHeader, QueryView, SpendBar } from "../components/ui";
import { ConfirmDialog } from "../components/dialog";

type LimitUse = { used: number; limit: number | null; over: boolean };
type PlanView = { id: PlanId; name: string; price_usd_monthly: number | null; checkout_available: boolean; credits_topup: { platform_fee_percent: number; min_usd: number; max_usd: number } };
type Billing = {
  plan: PlanView;
  subscription: { id: string; status: string; plan: PlanId; cancel_at_period_end: boolean; current_period_end: string | null; payment_failed_at: string | null; grace_ends_at: string | null } | null;
  billing_anchor: string | null;
  usage: { seats: LimitUse; keys: LimitUse; budgets: LimitUse; webhooks: LimitUse; guardrails: LimitUse; prompts: LimitUse };
  over_limits: string[];
  next_invoice: { date: string; amount_usd: number | null; plan: PlanId } | null;
  plans: PlanView[];
  stripe_configured: boolean;
  credits_enabled: boolean;
  credit_balance_micros: number | null;
};
type Change = { action: "checkout" | "upgraded" | "cancel_at_period_end"; url: string | null };

const LIVE = ["active", "trialing", "past_due"];

function LimitRow({ label, use }: { label: string; use: LimitUse }) {
  return (
    <div className="stack-sm" style={{ padding: "12px 0", borderBottom: "1px solid var(--border)" }}>
      <div className="spread">
        <span className="cell-title">{label}</span>
        <span className="small">{formatInt(use.used)} <span className="muted">/ {use.limit === null ? "unlimited" : formatInt(use.limit)}</span> {use.over ? <Badge tone="warning">over</Badge> : null}</span>
      </div>
      {use.limit !== null ? <SpendBar spent={use.used} reserved={0} limit={use.limit} label={`${label} used of plan limit`} /> : null}
    </div>
  );
}

function PlanCompare({ current }: { current: PlanId }) {
  const ids = Object.keys(PLANS) as PlanId[];
  const rows: Array<[string, (p: (typeof PLANS)[PlanId]) => string]> = [
    ["Seat-counted members", (p) => (p.seats === null ? "Unlimited" : String(p.seats))],
    ["API keys", (p) => (p.keys === null ? "Unlimited" : String(p.keys))],
    ["Budgets", (p) => (p.budgets === null ? "Unlimited" : String(p.budgets))],
    ["Webhook endpoints", (p) => (p.webhooks === null ? "Unlimited" : String(p.webhooks))],
    ["Guardrails", (p) => (p.guardrails === null ? "Unlimited" : String(p.guardrails))],
    ["Prompt templates", (p) => (p.prompts === null ? "Unlimited" : String(p.prompts))],
    ["Monthly spend cap", (p) => (p.monthlySpendCapMicros === null ? "None" : formatMicros(p.monthlySpendCapMicros))],
    ["Org RPM / TPM", (p) => (p.orgRpm === null ? "Custom" : `${formatInt(p.orgRpm)} / ${formatInt(p.orgTpm)}`)],
    ["Cost-event retention", (p) => (p.retentionDays === null ? "Unlimited" : `${p.retentionDays} days`)],
    ["Bulk CSV invite", (p) => (p.bulkInvite ? "Yes" : "No")],
  ];
  return (
    <Card title="Compare plans" bodyClass="table-wrap">
      <table>
        <thead><tr><th>Limit</th>{ids.map((id) => <th key={id} className="num">{PLANS[id].name}{id === current ? " (current)" : ""}</th>)}</tr></thead>
        <tbody>{rows.map(([label, f]) => <tr key={label}><td>{label}</td>{ids.map((id) => <td key={id} className="num">{f(PLANS[id])}</td>)}</tr>)}</tbody>
      </table>
    </Card>
  );
}

/** Balance and top-up (credits on): the amount goes to Stripe Checkout; the webhook grants it when paid. */
function CreditsCard({ b, orgId, topupReturned }: { b: Billing; orgId: string; topupReturned: string | null }) {
  const topup = b.plan.credits_topup;
  const [amount, setAmount] = useState(String(Math.max(topup.min_usd, 20)));
  const [error, setError] = useState<string | null>(null);
  const buy = useMutation({
    mutationFn: (credits_usd: number) => api<Change>("POST", `/orgs/${orgId}/billing/checkout`, { credits_usd }),
    onSuccess: (r) => { if (r.url) window.location.assign(r.url); },
    onError: (e) => setError(messageOf(e)),
  });
  const value = Number(amount);
  const valid = amount.trim() !== "" && Number.isFinite(value) && value >= topup.min_usd && value <= topup.max_usd && Math.abs(value * 100 - Math.round(value * 100)) < 1e-6;
  const feeCents = valid ? Math.floor((Math.round(value * 100) * Math.round(topup.platform_fee_percent * 100) + 5_000) / 10_000) : 0;
  return (
    <Card title="Prepaid credits" actions={<Link to={`/orgs/${orgId}/credits`} className="small">Ledger and usage</Link>}>
      <div className="stack-sm">
        {topupReturned === "success" ? <Alert tone="success">Payment received; the credit is added as soon as Stripe confirms it.</Alert> : null}
        {topupReturned === "cancelled" ? <Alert tone="info">The top-up was cancelled; nothing was charged.</Alert> : null}
        <h2 style={{ fontSize: 28 }} data-testid="billing-credit-balance">{b.credit_balance_micros === null ? "—" : formatMicros(b.credit_balance_micros)}</h2>
        <div className="small muted">Every proxied request draws the balance down; an empty balance refuses requests (402) until it is topped up.</div>
        {error ? <Alert>{error}</Alert> : null}
        <form
          className="row"
          style={{ alignItems: "flex-end" }}
          onSubmit={(e) => {
            e.preventDefault();
            setError(null);
            if (valid) buy.mutate(Math.round(value * 100) / 100);
          }}
        >
          <Field
            label="Top-up amount (USD)"
            hint={`$${topup.min_usd}–$${formatInt(topup.max_usd)}${topup.platform_fee_percent > 0 ? `; plus a ${topup.platform_fee_percent}% platform fee${valid ? ` ($${(feeCents / 100).toFixed(2)})` : ""}` : ""}`}
          >
            {(id) => <input id={id} type="number" min={topup.min_usd} max={topup.max_usd} step="0.01" value={amount} onChange={(e) => setAmount(e.target.value)} data-testid="topup-amount" />}
          </Field>
          <Button type="submit" variant="primary" loading={buy.isPending} disabledReason={!b.stripe_configured ? "Billing is not configured on this deployment" : !valid ? "Enter an amount in the allowed range, in whole cents" : null}>
            Top up
          </Button>
        </form>
      </div>
    </Card>
  );
}

function OwnerBilling() {
  const { org } = useOrg();
  const qc = useQueryClient();
  const search = new URLSearchParams(window.location.search);
  const returned = search.get("checkout");
  const topupReturned = search.get("topup");
  const billing = useQuery({
    queryKey: orgKey(org.id, "billing"),
    queryFn: () => api<Billing>("GET", `/orgs/${org.id}/billing`),
    // Back from Checkout: Stripe's webhook sets the plan within seconds; poll until it has.
    // Back from a top-up: poll for the credited balance for a minute (the grant arrives with the webhook).
    refetchInterval: (q) =>
      (returned === "success" && !(q.state.data?.subscription && LIVE.includes(q.state.data.subscription.status))) || (topupReturned === "success" && q.state.dataUpdateCount < 40) ? 1500 : false,
  });
  const [error, setError] = useState<string | null>(null);
  const effective = billing.data?.plan.id;
  // The shell (banner, sidebar) reads the plan from /api/me: refresh it when Stripe has changed the plan.
  useEffect(() => {
    if (effective && effective !== org.plan) void qc.invalidateQueries({ queryKey: meQueryKey });
  }, [effective, org.plan, qc]);
  const [confirmCancel, setConfirmCancel] = useState(false);
  const refresh = () => Promise.all([qc.invalidateQueries({ queryKey: orgKey(org.id) }), qc.invalidateQueries({ queryKey: meQueryKey })]);
  const change = useMutation({
    mutationFn: (plan: PlanId) => api<Change>("POST", `/orgs/${org.id}/billing/checkout`, { plan }),
    onSuccess: (r) => {
      if (r.action === "checkout" && r.url) window.location.assign(r.url);
      else void refresh();
    },
    onError: (e) => setError(messageOf(e)),
  });
  const portal = useMutation({ mutationFn: () => api<{ url: string }>("POST", `/orgs/${org.id}/billing/portal`), onSuccess: (r) => window.location.assign(r.url), onError: (e) => setError(messageOf(e)) });
  const cancel = useMutation({ mutationFn: () => api<Billing>("POST", `/orgs/${org.id}/billing/cancel`), onSuccess: () => { setConfirmCancel(false); void refresh(); } });

  return (
    <QueryView query={billing}>
      {(b) => {
        const sub = b.subscription;
        const live = !!sub && LIVE.includes(sub.status);
        const paying = live ? sub.plan : "free";
        return (
          <div className="stack">
            {returned === "success" && !live ? <Alert tone="info">Payment received. Waiting for Stripe to confirm the subscription…</Alert> : null}
            {returned === "cancelled" ? <Alert tone="info">Checkout was cancelled; nothing changed.</Alert> : null}
            {error ? <Alert>{error}</Alert> : null}
            {sub?.payment_failed_at ? <Alert tone="warning">A payment failed on {formatDate(sub.payment_failed_at)}. Update the payment method in the billing portal before {sub.grace_ends_at ? formatDate(sub.grace_ends_at) : "the grace period ends"}, or the Free plan's limits apply.</Alert> : null}
            {!b.stripe_configured ? <Alert tone="info">Billing is not configured on this deployment; the operator sets plans.</Alert> : null}
            <div className="grid grid-2">
              <Card title="Current plan">
                <div className="stack-sm" data-testid="current-plan">
                  <div className="row"><h2 style={{ fontSize: 24 }}>{b.plan.name}</h2>{sub ? <Badge tone={live ? "success" : "neutral"}>{sub.status}</Badge> : null}</div>
                  {sub && live && sub.cancel_at_period_end ? <div className="small">Ends {sub.current_period_end ? formatDate(sub.current_period_end) : "at period end"}; the Free plan applies after that.</div> : null}
                  {b.next_invoice ? <div className="small">Next invoice {formatDate(b.next_invoice.date)}{b.next_invoice.amount_usd !== null ? `: $${b.next_invoice.amount_usd}` : ""}</div> : null}
                  <div className="small muted">Monthly budgets reset {b.billing_anchor ? `with the billing period (from ${formatDate(b.billing_anchor)})` : "on the 1st (UTC)"}.</div>
                  <div className="row">
                    {b.stripe_configured && sub ? <Button onClick={() => portal.mutate()} loading={portal.isPending}>Billing portal</Button> : null}
                    {live && !sub.cancel_at_period_end ? <Button variant="danger" onClick={() => setConfirmCancel(true)}>Cancel subscription</Button> : null}
                  </div>
                </div>
              </Card>
              <Card title="Usage against plan limits">
                <LimitRow label="Seats (owner, admins, members, pending invites)" use={b.usage.seats} />
                <LimitRow label="Active API keys" use={b.usage.keys} />
                <LimitRow label="Budgets" use={b.usage.budgets} />
                <LimitRow label="Webhook endpoints" use={b.usage.webhooks} />
                <LimitRow label="Guardrails" use={b.usage.guardrails} />
                <LimitRow label="Prompt templates" use={b.usage.prompts} />
              </Card>
            </div>
            {b.credits_enabled ? <CreditsCard b={b} orgId={org.id} topupReturned={topupReturned} /> : null}
            <div className="grid grid-3">
              {b.plans.map((p) => {
                const rank = PLANS[p.id].rank - PLANS[paying].rank;
                let action: React.ReactNode = null;
                if (p.id === paying) action = <Badge tone="success">Current</Badge>;
                else if (p.id === "free") action = live && !sub.cancel_at_period_end ? <Button onClick={() => change.mutate("free")} loading={change.isPending && change.variables === "free"}>Downgrade at period end</Button> : null;
                else if (!p.checkout_available) action = <span className="small muted">Contact us</span>;
                else if (rank > 0) action = <Button variant="primary" onClick={() => change.mutate(p.id)} loading={change.isPending && change.variables === p.id}>{`Upgrade to ${p.name}`}</Button>;
                else action = b.stripe_configured ? <Button onClick={() => portal.mutate()}>Change in portal</Button> : null;
                return (
                  <Card key={p.id} title={p.name}>
                    <div className="stack-sm" data-testid={`plan-card-${p.id}`}>
                      <div className="muted">{p.price_usd_monthly === null ? "Custom pricing" : p.price_usd_monthly === 0 ? "Free" : `$${p.price_usd_monthly} / month`}</div>
                      {b.credits_enabled ? <div className="small muted">Credit top-ups ${p.credits_topup.min_usd}–${formatInt(p.credits_topup.max_usd)}, {p.credits_topup.platform_fee_percent > 0 ? `${p.credits_topup.platform_fee_percent}% platform fee` : "no platform fee"}</div> : null}
                      <div>{action}</div>
                    </div>
                  </Card>
                );
              })}
            </div>
            <PlanCompare current={b.plan.id} />
            {confirmCancel ? (
              <ConfirmDialog title="Cancel the subscription?" confirmLabel="Cancel at period end" onConfirm={() => cancel.mutateAsync()} onClose={() => setConfirmCancel(false)}>
                The {b.plan.name} plan stays until {sub?.current_period_end ? formatDate(sub.current_period_end) : "the end of the period"}; then the Free plan's limits apply. Nothing is deleted.
              </ConfirmDialog>
            ) : null}
          </div>
        );
      }}
    </QueryView>
  );
}

export function BillingPage() {
  const { org, role } = useOrg();
  const plan = planOf(org.plan);
  return (
    <div className="stack">
      <PageHeader title="Billing" description="Your plan, its limits, and how much of them you use." />
      {role === "owner" ? (
        <OwnerBilling />
      ) : (
        <>
          <Card title="Current plan">
            <div className="stack-sm">
              <h2 style={{ fontSize: 24 }}>{plan.name}</h2>
              <p className="small muted" style={{ margin: 0 }}>Only the organization's owner manages billing.</p>
            </div>
          </Card>
          <PlanCompare current={plan.id} />
        </>
      )}
    </div>
  );
}
