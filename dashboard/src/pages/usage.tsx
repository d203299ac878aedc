/** Usage explorer: totals and groups for a date range, grouped by day/model/key/team/customer/tag/prompt version/guardrail; CSV export. */
import { useState } from "react";
import { useOrg } from "../lib/session";
import { useKeys, usePrompts, useTeams, useUsage } from "../lib/queries";
import { can } from "../lib/permissions";
import { qs } from "../lib/api";
import { formatInt, formatMicros, formatMs, formatPct, isoDay } from "../lib/format";
import type { UsageGroupBy } from "../lib/types";
import { Card, DisabledReason, EmptyState, Field, PageHeader, QueryView, Stat } from "../components/ui";

const GROUPS: Array<{ id: UsageGroupBy; label: string }> = [
  { id: "day", label: "Day" }, { id: "model", label: "Model" }, { id: "key", label: "Key" },
  { id: "team", label: "Team" }, { id: "customer", label: "Customer" }, { id: "tag", label: "Tag" },
  // Keys are `<prompt id>@<version>`; rows show the prompt's name where it still exists.
  { id: "prompt", label: "Prompt version" },
  // One row per guardrail id that acted (redact/block/flag) on requests in the range.
  { id: "guardrail", label: "Guardrail" },
];

export function UsagePage() {
  const { org, role } = useOrg();
  const today = isoDay(new Date());
  const [from, setFrom] = useState(isoDay(new Date(Date.now() - 29 * 86_400_000)));
  const [to, setTo] = useState(today);
  const [groupBy, setGroupBy] = useState<UsageGroupBy>("day");
  // `to` is exclusive in the API; the picker is inclusive, so ask for the next day.
  const toExclusive = isoDay(new Date(Date.parse(to) + 86_400_000));
  const usage = useUsage(org.id, { from, to: toExclusive, group_by: groupBy }, { refetchInterval: 15_000 });
  const keys = useKeys(org.id);
  const teams = useTeams(org.id);
  const prompts = usePrompts(org.id, groupBy === "prompt");
  const exportCap = can(role, "usage.export");
  const csvHref = `/api/orgs/${org.id}/usage.csv${qs({ from, to: toExclusive, group_by: groupBy })}`;
  const label = (key: string | null) => {
    if (key === null) return <span className="muted">(none)</span>;
    if (groupBy === "key") return keys.data?.data.find((k) => k.id === key)?.name ?? key;
    if (groupBy === "team") return teams.data?.data.find((t) => t.id === key)?.name ?? key;
    if (groupBy === "prompt") {
      const at = key.lastIndexOf("@");
      const name = prompts.data?.data.find((p) => p.id === key.slice(0, at))?.name;
      return name ? <span title={key}>{name} v{key.slice(at + 1)}</span> : key;
    }
    return key;
  };
  return (
    <div className="stack">
      <PageHeader
        title="Usage"
        description="Every request through the gateway, priced to the micro-dollar."
        actions={exportCap.allowed ? <a className="btn" href={csvHref} download>Export CSV</a> : <button type="button" className="btn" disabled title={exportCap.reason}>Export CSV</button>}
      />
      <DisabledReason reason={exportCap.allowed ? null : `CSV export: ${exportCap.reason}`} />
      <Card>
        <div className="inline-form">
          <Field label="From">{(id) => <input id={id} type="date" value={from} max={to} onChange={(e) => e.target.value && setFrom(e.target.value)} />}</Field>
          <Field label="To">{(id) => <input id={id} type="date" value={to} min={from} max={today} onChange={(e) => e.target.value && setTo(e.target.value)} />}</Field>
          <div className="field" style={{ flex: "2 1 auto" }}>
            <span className="label" id="group-by-label">Group by</span>
            <div className="tabs" role="group" aria-labelledby="group-by-label">
              {GROUPS.map((g) => <button key={g.id} type="button" className="tab" aria-pressed={groupBy === g.id} onClick={() => setGroupBy(g.id)}>{g.label}</button>)}
            </div>
          </div>
        </div>
      </Card>
      <QueryView query={usage}>
        {(u) => (
          <>
            <div className="grid grid-4">
              <Stat label="Spend" value={formatMicros(u.totals.cost_micros)} />
              <Stat label="Requests" value={formatInt(u.totals.requests)} sub={`${formatPct(u.totals.requests ? u.totals.errors / u.totals.requests : 0)} errors`} />
              <Stat label="Tokens" value={formatInt(u.totals.input_tokens + u.totals.output_tokens)} sub={`${formatInt(u.totals.input_tokens)} in · ${formatInt(u.totals.output_tokens)} out`} />
              <Stat label="Latency p50 / p95" value={`${formatMs(u.totals.p50_latency_ms)}`} sub={`p95 ${formatMs(u.totals.p95_latency_ms)}`} />
            </div>
            <Card title={`By ${GROUPS.find((g) => g.id === groupBy)!.label.toLowerCase()}`} bodyClass="table-wrap">
              {u.groups.length === 0 ? <EmptyState title="No usage in this range">Requests through the gateway appear here within seconds.</EmptyState> : (
                <table data-testid="usage-table">
                  <thead><tr><th>{GROUPS.find((g) => g.id === groupBy)!.label}</th><th className="num">Requests</th><th className="num hide-sm">Errors</th><th className="num hide-sm">Input tok</th><th className="num hide-sm">Output tok</th><th className="num hide-sm">p95</th><th className="num">Spend</th></tr></thead>
                  <tbody>
                    {u.groups.map((g) => (
                      <tr key={String(g.key)}>
                        <td className="cell-title">{label(g.key)}</td>
                        <td className="num">{formatInt(g.requests)}</td>
                        <td className="num hide-sm">{formatInt(g.errors)}</td>
                        <td className="num hide-sm">{formatInt(g.input_tokens)}</td>
                        <td className="num hide-sm">{formatInt(g.output_tokens)}</td>
                        <td className="num hide-sm">{formatMs(g.p95_latency_ms)}</td>
                        <td className="num">{formatMicros(g.cost_micros)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </Card>
          </>
        )}
      </QueryView>
    </div>
  );
}
