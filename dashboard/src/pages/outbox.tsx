/** Dev-only: the local email outbox (`GET /api/dev/outbox`), so invitation and verification links are clickable. */
import { useState } from "react";
import { Link } from "@tanstack/react-router";
import { useQuery } from "@tanstack/react-query";
import { api } from "../lib/api";
import { formatDateTime } from "../lib/format";
import type { OutboxEmail, Page } from "../lib/types";
import { Badge, Card, EmptyState, PageHeader, QueryView } from "../components/ui";

/** Turns URLs in plain text into links. */
function Linkified({ text }: { text: string }) {
  const parts = text.split(/(https?:\/\/[^\s]+)/g);
  return <>{parts.map((p, i) => (/^https?:\/\//.test(p) ? <a key={i} href={p}>{p}</a> : p))}</>;
}

export function OutboxPage() {
  const emails = useQuery({ queryKey: ["dev", "outbox"], queryFn: () => api<Page<OutboxEmail>>("GET", "/dev/outbox?limit=50"), refetchInterval: 5_000 });
  const [open, setOpen] = useState<string | null>(null);
  return (
    <main className="content stack">
      <PageHeader title="Email outbox" description="Development only: emails Tollgate would have sent. Not available in production." actions={<Link to="/" className="btn">Back to dashboard</Link>} />
      <Card bodyClass="">
        <QueryView query={emails} isEmpty={(d) => d.data.length === 0} empty={<EmptyState title="No emails yet">Invitations, verification and reset emails appear here.</EmptyState>}>
          {(d) => (
            <div>
              {d.data.map((m) => (
                <div key={m.id} className="card-body" style={{ borderBottom: "1px solid var(--border)" }}>
                  <div className="spread">
                    <div><div className="cell-title">{m.subject}</div><div className="cell-sub">to {m.to} · {formatDateTime(m.created_at)}</div></div>
                    <div className="row"><Badge tone={m.status === "failed" ? "danger" : "neutral"}>{m.transport} · {m.status}</Badge>
                      <button type="button" className="btn btn-sm" aria-expanded={open === m.id} onClick={() => setOpen(open === m.id ? null : m.id)}>{open === m.id ? "Hide" : "Open"}</button></div>
                  </div>
                  {open === m.id ? <div className="email-body" style={{ marginTop: 10 }}><Linkified text={m.text} /></div> : null}
                </div>
              ))}
            </div>
          )}
        </QueryView>
      </Card>
    </main>
  );
}
