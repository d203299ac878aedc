/** Overview: spend today and this period, requests, error rate, latency, daily spend chart, top models. */
import { Link } from "@tanstack/react-router";
import { useOrg } from "../lib/session";
import { useUsage } from "../lib/queries";
import { formatInt, formatMicros, formatMs, formatPct, isoDay } from "../lib/format";
import type { Usage } from "../lib/types";
import { ColumnChart } from "../components/chart";
import { Card, ErrorState, Loading, PageHeader, Stat } from "../components/ui";

const DAY = 86_400_000;
/** Public base URL of the gateway (`/v1`): set `VITE_GATEWAY_URL` at build time when it is not the dashboard's origin. */
const GATEWAY_URL = (import.meta.env.VITE_GATEWAY_URL as string | undefined) ?? location.origin;

/** Fills missing days with zero so the chart has one column per day. */
export function dailySeries(usage: Usage | undefined, from: Date, days: number) {
  const byDay = new Map((usage?.groups ?? []).map((g) => [String(g.key).slice(0, 10), g.cost_micros]));
  return Array.from({ length: days }, (_, i) => {
    const d = isoDay(new Date(from.getTime() + i * DAY));
    return { label: d, value: byDay.get(d) ?? 0 };
  });
}

function Quickstart({ orgId }: { orgId: string }) {
  return (
    <Card title="Send your first request">
      <p className="muted" style={{ marginTop: 0 }}>
        Point any OpenAI SDK at Tollgate and use a virtual key. Create one on the <Link to={`/orgs/${orgId}/keys`}>API keys</Link> page.
      </p>
      <pre className="email-body" style={{ margin: 0, overflowX: "auto" }}>{`curl ${GATEWAY_URL}/v1/chat/completions \\
  -H "Authorization: Bearer sk-tg-…" \\
  -H "Content-Type: application/json" \\
  -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}'`}</pre>
    </Card>
  );
}

export function OverviewPage() {
  const { org } = useOrg();
  const now = new Date();
  const today = isoDay(now);
  const monthStart = `${today.slice(0, 8)}01`;
  const from30 = new Date(Date.parse(today) - 29 * DAY);
  const refetchInterval = 10_000;
  const day = useUsage(org.id, { from: today }, { refetchInterval });
  const period = useUsage(org.id, { from: monthStart }, { refetchInterval });
  const series = useUsage(org.id, { from: isoDay(from30), group_by: "day" }, { refetchInterval });
  const models = useUsage(org.id, { from: monthStart, group_by: "model" }, { refetchInterval });

  const t = period.data?.totals;
  const errorRate = t && t.requests ? t.errors / t.requests : 0;
  return (
    <div className="stack">
      <PageHeader title="Overview" description={`Spend, traffic and latency for ${org.name} this month (UTC).`} />
      {period.isError ? <ErrorState error={period.error} onRetry={() => void period.refetch()} /> : null}
      <div className="grid grid-4" aria-busy={period.isPending}>
        <Stat label="Spend today" value={day.data ? formatMicros(day.data.totals.cost_micros) : "…"} sub={day.data ? `${formatInt(day.data.totals.requests)} ${day.data.totals.requests === 1 ? "request" : "requests"}` : undefined} />
        <Stat label="Spend this period" value={t ? formatMicros(t.cost_micros) : "…"} sub={`since ${monthStart}`} />
        <Stat label="Requests" value={t ? formatInt(t.requests) : "…"} sub={t ? `${formatInt(t.input_tokens + t.output_tokens)} tokens` : undefined} />
        <Stat label="Error rate" value={t ? formatPct(errorRate) : "…"} sub={t ? `${formatInt(t.errors)} failed` : undefined} />
      </div>
      <div className="grid grid-4">
        <Stat label="Latency p50" value={t ? formatMs(t.p50_latency_ms) : "…"} />
        <Stat label="Latency p95" value={t ? formatMs(t.p95_latency_ms) : "…"} />
        <Stat label="Input tokens" value={t ? formatInt(t.input_tokens) : "…"} />
        <Stat label="Output tokens" value={t ? formatInt(t.output_tokens) : "…"} />
      </div>
      <Card title="Daily spend · last 30 days">
        {series.isPending ? <Loading /> : series.isError ? <ErrorState error={series.error} onRetry={() => void series.refetch()} /> : (
          <ColumnChart title="Daily spend over the last 30 days" points={dailySeries(series.data, from30, 30)} format={(v) => formatMicros(Math.round(v))} minScale={10_000} />
        )}
      </Card>
      {t && t.requests === 0 ? <Quickstart orgId={org.id} /> : null}
      <Card title="Top models this period" bodyClass="table-wrap">
        {models.isPending ? <Loading /> : models.isError ? <ErrorState error={models.error} /> : models.data.groups.length === 0 ? (
          <p className="empty">No traffic yet this period.</p>
        ) : (
          <table>
            <thead><tr><th>Model</th><th className="num">Requests</th><th className="num">Errors</th><th className="num">p95</th><th className="num">Spend</th></tr></thead>
            <tbody>
              {[...models.data.groups].sort((a, b) => b.cost_micros - a.cost_micros).slice(0, 8).map((g) => (
                <tr key={String(g.key)}>
                  <td className="cell-title mono">{g.key ?? "—"}</td>
                  <td className="num">{formatInt(g.requests)}</td>
                  <td className="num">{formatInt(g.errors)}</td>
                  <td className="num">{formatMs(g.p95_latency_ms)}</td>
                  <td className="num">{formatMicros(g.cost_micros)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
    </div>
  );
}
