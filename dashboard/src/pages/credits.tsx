/**
 * Prepaid credits (docs/billing.md#prepaid-credits): the balance in the sidebar and the Credits page
 * (balance, grants and top-ups, usage by day). Owner only, like the API route; shown only when the
 * deployment has credits on (`enabled` in `GET …/billing/credits`).
 */
import { useQuery } from "@tanstack/react-query";
import { Link } from "@tanstack/react-router";
import { api } from "../lib/api";
import { formatDateTime, formatInt, formatMicros } from "../lib/format";
import { orgKey, useOrg } from "../lib/session";
import { Card, EmptyState, ErrorState, Loading, PageHeader } from "../components/ui";

/** `GET /orgs/{orgId}/billing/credits`. */
export type Credits = {
  enabled: boolean;
  balance_micros: number | null;
  reserved_micros: number | null;
  granted_micros: number;
  used_micros: number | null;
  low_balance_threshold_micros: number;
  source: "gate" | "d1" | null;
  grants: Array<{ id: string; kind: "signup" | "topup" | "adjustment"; amount_micros: number; ref: string; created_at: string }>;
  usage_by_day: Array<{ day: string; cost_micros: number; requests: number }>;
};

const KIND_LABEL = { signup: "Signup credit", topup: "Top-up", adjustment: "Adjustment" } as const;

/** The org's prepaid credits; only fetched for owners (everyone else gets 403). */
export function useCredits() {
  const { org, role } = useOrg();
  return useQuery({
    queryKey: orgKey(org.id, "credits"),
    queryFn: () => api<Credits>("GET", `/orgs/${org.id}/billing/credits?days=30`),
    enabled: role === "owner",
    refetchInterval: 30_000,
  });
}

/** Sidebar line with the balance; renders nothing when credits are off or the user is not the owner. */
export function CreditsSidebarBalance() {
  const { org } = useOrg();
  const credits = useCredits();
  if (!credits.data?.enabled || credits.data.balance_micros === null) return null;
  const low = credits.data.balance_micros < credits.data.low_balance_threshold_micros;
  return (
    <Link to={`/orgs/${org.id}/credits`} className="cell-sub" data-testid="credits-balance" style={{ display: "block", padding: "8px 0" }}>
      Credits: <strong style={low ? { color: "var(--danger, #b42318)" } : undefined}>{formatMicros(credits.data.balance_micros)}</strong>
    </Link>
  );
}

export function CreditsPage() {
  const { role } = useOrg();
  const credits = useCredits();
  if (role !== "owner") {
    return (
      <div className="stack">
        <PageHeader title="Credits" />
        <Card><EmptyState title="Owner only">Only the organization's owner sees its prepaid balance and ledger.</EmptyState></Card>
      </div>
    );
  }
  if (credits.isPending) return <Loading />;
  if (credits.isError) return <ErrorState error={credits.error} onRetry={() => void credits.refetch()} />;
  const c = credits.data;
  if (!c.enabled) {
    return (
      <div className="stack">
        <PageHeader title="Credits" />
        <Card><EmptyState title="Prepaid credits are off">This deployment does not use prepaid credits.</EmptyState></Card>
      </div>
    );
  }
  return (
    <div className="stack">
      <PageHeader title="Credits" description="Your prepaid balance: every proxied request draws it down; an empty balance answers 402." />
      <div className="grid grid-2">
        <Card title="Balance">
          <div className="stack-sm">
            <h2 style={{ fontSize: 28 }} data-testid="credits-page-balance">{formatMicros(c.balance_micros)}</h2>
            <div className="small muted">
              {formatMicros(c.granted_micros)} granted · {formatMicros(c.used_micros)} used · {formatMicros(c.reserved_micros)} held by requests in flight
            </div>
            <div className="small muted">Low-balance alert below {formatMicros(c.low_balance_threshold_micros)}.</div>
          </div>
        </Card>
        <Card title="Usage by day (last 30 days)" bodyClass="table-wrap">
          {c.usage_by_day.length === 0 ? <EmptyState title="No usage yet">Requests through the gateway appear here.</EmptyState> : (
            <table>
              <thead><tr><th>Day (UTC)</th><th>Requests</th><th>Cost</th></tr></thead>
              <tbody>{c.usage_by_day.map((d) => <tr key={d.day}><td>{d.day}</td><td>{formatInt(d.requests)}</td><td>{formatMicros(d.cost_micros)}</td></tr>)}</tbody>
            </table>
          )}
        </Card>
      </div>
      <Card title="Grants and top-ups" bodyClass="table-wrap">
        {c.grants.length === 0 ? <EmptyState title="No credit yet">A top-up adds credit to this organization.</EmptyState> : (
          <table>
            <thead><tr><th>When</th><th>Kind</th><th>Amount</th><th>Reference</th></tr></thead>
            <tbody>{c.grants.map((g) => <tr key={g.id}><td>{formatDateTime(g.created_at)}</td><td>{KIND_LABEL[g.kind]}</td><td>{formatMicros(g.amount_micros)}</td><td className="mono small">{g.ref}</td></tr>)}</tbody>
          </table>
        )}
      </Card>
    </div>
  );
}
