/**
 * Cost events: one row per proxied request, newest first, filtered by key, customer, model, status and trace id
 * (kept in the URL query), paged with the API cursor; with a trace id, what that run cost in total.
 */
import { useEffect, useState, type FormEvent } from "react";
import { useNavigate, useRouterState } from "@tanstack/react-router";
import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { api, ApiError, messageOf, qs } from "../lib/api";
import { orgKey, useOrg } from "../lib/session";
import { useKeys } from "../lib/queries";
import { formatDateTime, formatInt, formatMicros } from "../lib/format";
import type { CostEvent, Page, TraceTotal } from "../lib/types";
import { Alert, Badge, Button, Card, EmptyState, Field, Loading, PageHeader } from "../components/ui";

const FILTERS = ["key_id", "customer_id", "model", "status", "trace_id"] as const;
type Filters = Partial<Record<(typeof FILTERS)[number], string>>;

const STATUSES: Array<[string, string]> = [
  ["", "Any status"], ["ok", "Succeeded (< 400)"], ["error", "Failed (≥ 400)"], ["400", "400"], ["402", "402 (budget)"], ["403", "403"], ["429", "429 (limit)"],
  ["499", "499 (client gone)"], ["500", "500"], ["502", "502"], ["503", "503"], ["504", "504"],
];

/** The filters from the URL query (the router parses `?status=429` as a number, so every value is re-stringified). */
function filtersOf(search: Record<string, unknown>): Filters {
  const out: Filters = {};
  for (const f of FILTERS) {
    const v = search[f];
    if (v !== undefined && v !== null && String(v) !== "") out[f] = String(v);
  }
  return out;
}

function TraceCard({ orgId, traceId }: { orgId: string; traceId: string }) {
  const trace = useQuery({
    queryKey: orgKey(orgId, "traces", traceId),
    queryFn: () => api<TraceTotal>("GET", `/orgs/${orgId}/traces/${encodeURIComponent(traceId)}`),
    refetchInterval: 10_000,
  });
  if (trace.isPending) return <Card><Loading rows={1} /></Card>;
  if (trace.isError) {
    const none = trace.error instanceof ApiError && trace.error.status === 404;
    return <Alert tone={none ? "info" : "error"}>{none ? <>No requests carry the trace id <code>{traceId}</code>.</> : messageOf(trace.error)}</Alert>;
  }
  const t = trace.data;
  return (
    <Card title={<h2>Trace <code>{t.trace_id}</code></h2>}>
      <p style={{ margin: 0, fontSize: "1.1rem" }} data-testid="trace-total">
        This run cost <strong>{formatMicros(t.cost_micros)}</strong> over <strong>{formatInt(t.requests)}</strong> request{t.requests === 1 ? "" : "s"}.
      </p>
      <p className="small muted" style={{ margin: "6px 0 0" }}>
        {formatInt(t.errors)} failed · {formatInt(t.input_tokens)} input / {formatInt(t.output_tokens)} output tokens · from {formatDateTime(t.first_at)} to {formatDateTime(t.last_at)}
      </p>
    </Card>
  );
}

export function CostEventsPage() {
  const { org } = useOrg();
  const navigate = useNavigate();
  const location = useRouterState({ select: (s) => s.location });
  const filters = filtersOf(location.search as Record<string, unknown>);
  const [draft, setDraft] = useState<Filters>(filters);
  // The URL is the source of truth: a nav click or Back changes it under a mounted page.
  const filtersKey = JSON.stringify(filters);
  useEffect(() => setDraft(JSON.parse(filtersKey) as Filters), [filtersKey]);
  const keys = useKeys(org.id);
  const keyName = (id: string) => keys.data?.data.find((k) => k.id === id)?.name ?? id;

  const apply = (next: Filters) => {
    setDraft(next);
    const search = Object.fromEntries(Object.entries(next).filter(([, v]) => v));
    void navigate({ to: location.pathname, search, replace: true } as never);
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    apply(Object.fromEntries(Object.entries(draft).map(([k, v]) => [k, v?.trim()])) as Filters);
  };

  const events = useInfiniteQuery({
    queryKey: orgKey(org.id, "cost-events", filters),
    queryFn: ({ pageParam }) => api<Page<CostEvent>>("GET", `/orgs/${org.id}/cost-events${qs({ ...filters, limit: 50, cursor: pageParam || undefined })}`),
    initialPageParam: "",
    getNextPageParam: (p) => p.next_cursor ?? undefined,
  });
  const rows = events.data?.pages.flatMap((p) => p.data) ?? [];
  const filtered = Object.keys(filters).length > 0;

  return (
    <div className="stack">
      <PageHeader title="Cost events" description="Every request through the gateway with its tokens and price. Filter by key, customer, model, status or trace id." />
      <Card>
        <form className="inline-form" onSubmit={submit} aria-label="Filter cost events">
          <Field label="Key">
            {(id) => (
              <select id={id} value={draft.key_id ?? ""} onChange={(e) => apply({ ...draft, key_id: e.target.value })}>
                <option value="">Any key</option>
                {(keys.data?.data ?? []).map((k) => <option key={k.id} value={k.id}>{k.name}</option>)}
                {draft.key_id && !keys.data?.data.some((k) => k.id === draft.key_id) ? <option value={draft.key_id}>{draft.key_id}</option> : null}
              </select>
            )}
          </Field>
          <Field label="Status">
            {(id) => (
              <select id={id} value={draft.status ?? ""} onChange={(e) => apply({ ...draft, status: e.target.value })}>
                {STATUSES.map(([v, l]) => <option key={v} value={v}>{l}</option>)}
                {draft.status && !STATUSES.some(([v]) => v === draft.status) ? <option value={draft.status}>{draft.status}</option> : null}
              </select>
            )}
          </Field>
          <Field label="Model">{(id) => <input id={id} type="text" value={draft.model ?? ""} placeholder="gpt-4o-mini" onChange={(e) => setDraft({ ...draft, model: e.target.value })} />}</Field>
          <Field label="Customer">{(id) => <input id={id} type="text" value={draft.customer_id ?? ""} placeholder="customer id" onChange={(e) => setDraft({ ...draft, customer_id: e.target.value })} />}</Field>
          <Field label="Trace id">{(id) => <input id={id} type="text" value={draft.trace_id ?? ""} placeholder="run-42" onChange={(e) => setDraft({ ...draft, trace_id: e.target.value })} />}</Field>
          <div className="row">
            <Button type="submit" variant="primary">Apply filters</Button>
            <Button onClick={() => apply({})} disabledReason={filtered ? null : "No filters set."}>Clear</Button>
          </div>
        </form>
      </Card>
      {filters.trace_id ? <TraceCard orgId={org.id} traceId={filters.trace_id} /> : null}
      <Card bodyClass="table-wrap">
        {events.isPending ? <Loading /> : events.isError ? (
          <div className="card-body"><Alert>{messageOf(events.error)}</Alert></div>
        ) : rows.length === 0 ? (
          <EmptyState title={filtered ? "No cost events match these filters" : "No cost events yet"}>
            {filtered ? "Clear or change the filters." : "Requests through the gateway appear here within seconds."}
          </EmptyState>
        ) : (
          <table data-testid="cost-events-table">
            <thead>
              <tr>
                <th>Time</th><th>Model</th><th className="hide-sm">Key</th><th className="hide-sm">Customer</th><th>Status</th>
                <th className="num hide-sm">Tokens in / out</th><th className="num">Cost</th><th>Trace</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((e) => (
                <tr key={e.request_id} data-request-id={e.request_id}>
                  <td className="small">{formatDateTime(e.created_at)}</td>
                  <td><code className="small">{e.model}</code></td>
                  <td className="hide-sm">{keyName(e.key_id)}</td>
                  <td className="hide-sm">{e.customer_id ?? <span className="muted">—</span>}</td>
                  <td><Badge tone={e.status < 400 ? "success" : "danger"}>{e.status}</Badge></td>
                  <td className="num hide-sm">{formatInt(e.input_tokens)} / {formatInt(e.output_tokens)}</td>
                  <td className="num">{formatMicros(e.cost_micros)}{e.estimated ? <span className="cell-sub" title="Estimated: the provider reported no usage">est.</span> : null}</td>
                  <td>
                    {e.trace_id ? (
                      <button type="button" className="btn btn-sm btn-ghost mono" style={{ maxWidth: 160, overflow: "hidden", textOverflow: "ellipsis" }}
                        aria-label={`Show trace ${e.trace_id}`} onClick={() => apply({ ...filters, trace_id: e.trace_id! })}>{e.trace_id}</button>
                    ) : <span className="muted">—</span>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
      {events.hasNextPage ? <div><Button loading={events.isFetchingNextPage} onClick={() => void events.fetchNextPage()}>Load more</Button></div> : null}
    </div>
  );
}
