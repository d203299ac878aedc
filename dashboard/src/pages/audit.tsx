/** Audit trail: every control-plane change with actor, IP and before/after; filter by action and actor. */
import { Fragment, useState } from "react";
import { useInfiniteQuery } from "@tanstack/react-query";
import { api, qs } from "../lib/api";
import { orgKey, useOrg } from "../lib/session";
import { can } from "../lib/permissions";
import { formatDateTime } from "../lib/format";
import type { AuditEntry, Page } from "../lib/types";
import { Badge, Button, Card, EmptyState, ErrorState, Field, Loading, PageHeader } from "../components/ui";

export function AuditPage() {
  const { org, role } = useOrg();
  const cap = can(role, "audit.view");
  const [action, setAction] = useState("");
  const [actor, setActor] = useState("");
  const [applied, setApplied] = useState({ action: "", actor: "" });
  const [open, setOpen] = useState<string | null>(null);
  const log = useInfiniteQuery({
    queryKey: orgKey(org.id, "audit", applied),
    queryFn: ({ pageParam }) => api<Page<AuditEntry>>("GET", `/orgs/${org.id}/audit-log${qs({ ...applied, cursor: pageParam, limit: 50 })}`),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (p) => p.next_cursor ?? undefined,
    enabled: cap.allowed,
  });
  if (!cap.allowed) {
    return (
      <div className="stack">
        <PageHeader title="Audit trail" />
        <Card><EmptyState title="Admins only">{cap.reason}</EmptyState></Card>
      </div>
    );
  }
  const rows = log.data?.pages.flatMap((p) => p.data) ?? [];
  return (
    <div className="stack">
      <PageHeader title="Audit trail" description="Every change to this organization: who, from where, and what changed." />
      <Card>
        <form className="inline-form" onSubmit={(e) => { e.preventDefault(); setApplied({ action: action.trim(), actor: actor.trim() }); }}>
          <Field label="Action" hint="Exact (key.revoke) or prefix (key.*)">{(id) => <input id={id} type="search" value={action} placeholder="key.*" onChange={(e) => setAction(e.target.value)} />}</Field>
          <Field label="Actor" hint="Email or user id">{(id) => <input id={id} type="search" value={actor} placeholder="ada@acme.com" onChange={(e) => setActor(e.target.value)} />}</Field>
          <Button type="submit" variant="primary">Filter</Button>
          {applied.action || applied.actor ? <Button onClick={() => { setAction(""); setActor(""); setApplied({ action: "", actor: "" }); }}>Clear</Button> : null}
        </form>
      </Card>
      <Card bodyClass="table-wrap">
        {log.isPending ? <Loading /> : log.isError ? <ErrorState error={log.error} onRetry={() => void log.refetch()} /> : rows.length === 0 ? <EmptyState title="No matching entries" /> : (
          <table>
            <thead><tr><th>When</th><th>Action</th><th>Actor</th><th className="hide-sm">Target</th><th className="hide-sm">IP</th><th><span className="sr-only">Details</span></th></tr></thead>
            <tbody>
              {rows.map((e) => (
                <Fragment key={e.id}>
                  <tr>
                    <td className="small">{formatDateTime(e.created_at)}</td>
                    <td><Badge tone="neutral"><span className="mono">{e.action}</span></Badge></td>
                    <td className="small">{e.actor.email ?? e.actor.id}{e.actor.type !== "user" ? <div className="cell-sub">{e.actor.type.replace("_", " ")}</div> : null}</td>
                    <td className="hide-sm small mono">{e.target.type}{e.target.id ? ` · ${e.target.id}` : ""}</td>
                    <td className="hide-sm small mono">{e.ip ?? "—"}</td>
                    <td className="actions"><Button size="sm" variant="ghost" aria-expanded={open === e.id} aria-label={`Details of ${e.action}`} onClick={() => setOpen(open === e.id ? null : e.id)}>{open === e.id ? "Hide" : "Details"}</Button></td>
                  </tr>
                  {open === e.id ? (
                    <tr><td colSpan={6}>
                      <div className="grid grid-2">
                        <div><div className="label">Before</div><pre className="email-body">{JSON.stringify(e.before, null, 2) ?? "—"}</pre></div>
                        <div><div className="label">After</div><pre className="email-body">{JSON.stringify(e.after, null, 2) ?? "—"}</pre></div>
                      </div>
                      <p className="cell-sub">User agent: {e.user_agent ?? "—"}</p>
                    </td></tr>
                  ) : null}
                </Fragment>
              ))}
            </tbody>
          </table>
        )}
      </Card>
      {log.hasNextPage ? <div><Button onClick={() => void log.fetchNextPage()} loading={log.isFetchingNextPage}>Load more</Button></div> : null}
    </div>
  );
}
