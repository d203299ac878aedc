/** Webhooks: signed HTTPS endpoints for budget and membership events (docs/webhooks.md): add (secret shown once), test, rotate, enable/disable, delete, delivery log. */
import { useState } from "react";
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, messageOf } from "../lib/api";
import { orgKey, useOrg } from "../lib/session";
import { can } from "../lib/permissions";
import { formatDateTime } from "../lib/format";
import type { Page, Webhook, WebhookDelivery, WebhookWithSecret } from "../lib/types";
import { ConfirmDialog, Dialog } from "../components/dialog";
import { Alert, Badge, Button, Card, DisabledReason, EmptyState, Field, Icons, PageHeader, QueryView } from "../components/ui";
import { useToast } from "../components/toast";

/** The event types the API accepts in `events` (test.ping is sent only on request). */
export const WEBHOOK_EVENTS: Array<[string, string]> = [
  ["budget.threshold", "Budget threshold crossed"], ["budget.exceeded", "Budget exceeded"], ["velocity.tripped", "Velocity breaker tripped"],
  ["credits.low", "Prepaid balance low"], ["key.created", "Key created"], ["key.revoked", "Key revoked"], ["member.added", "Member added"], ["member.removed", "Member removed"],
  ["member.role_changed", "Member role changed"], ["invitation.accepted", "Invitation accepted"],
];

function CreateWebhookDialog({ onClose, onCreated }: { onClose: () => void; onCreated: (w: WebhookWithSecret) => void }) {
  const { org } = useOrg();
  const qc = useQueryClient();
  const [url, setUrl] = useState("");
  const [description, setDescription] = useState("");
  const [events, setEvents] = useState<string[]>(["budget.threshold", "budget.exceeded", "velocity.tripped"]);
  const [error, setError] = useState<string | null>(null);
  const create = useMutation({
    mutationFn: () => api<WebhookWithSecret>("POST", `/orgs/${org.id}/webhooks`, { url: url.trim(), events, ...(description.trim() && { description: description.trim() }) }),
    onSuccess: (w) => { void qc.invalidateQueries({ queryKey: orgKey(org.id, "webhooks") }); onCreated(w); },
    onError: (e) => setError(messageOf(e)),
  });
  const submit = (e: React.FormEvent) => {
    e.preventDefault();
    if (!url.trim()) return setError("Enter the endpoint URL");
    if (events.length === 0) return setError("Pick at least one event");
    create.mutate();
  };
  return (
    <Dialog title="Add webhook endpoint" description="Tollgate POSTs each event as signed JSON to this URL." onClose={onClose}>
      <form className="stack-sm" onSubmit={submit} noValidate>
        <Field label="Endpoint URL" hint="https; a public host.">{(id) => <input id={id} type="url" value={url} placeholder="https://hooks.example.com/tollgate" onChange={(e) => setUrl(e.target.value)} />}</Field>
        <Field label="Description" hint="Optional, up to 200 characters.">{(id) => <input id={id} type="text" maxLength={200} value={description} onChange={(e) => setDescription(e.target.value)} />}</Field>
        <fieldset className="stack-sm" style={{ border: 0, padding: 0, margin: 0 }}>
          <legend className="small"><strong>Events</strong></legend>
          {WEBHOOK_EVENTS.map(([type, label]) => (
            <div className="checkbox" key={type}>
              <input id={`ev-${type}`} type="checkbox" checked={events.includes(type)} onChange={(e) => setEvents(e.target.checked ? [...events, type] : events.filter((x) => x !== type))} />
              <label htmlFor={`ev-${type}`}>{label} <code className="small">{type}</code></label>
            </div>
          ))}
        </fieldset>
        {error ? <Alert>{error}</Alert> : null}
        <div className="row" style={{ justifyContent: "flex-end" }}>
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" variant="primary" loading={create.isPending}>Add endpoint</Button>
        </div>
      </form>
    </Dialog>
  );
}

function SecretDialog({ w, onClose }: { w: WebhookWithSecret; onClose: () => void }) {
  const [copied, setCopied] = useState(false);
  const toast = useToast();
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(w.secret);
      setCopied(true);
    } catch {
      // Clipboard blocked (permissions, insecure context): select the secret so Ctrl/Cmd+C works.
      const el = document.querySelector("[data-testid=webhook-secret]");
      if (el) window.getSelection()?.selectAllChildren(el);
      toast("Copy blocked by the browser: the secret is selected, press Ctrl+C", "error");
    }
  };
  return (
    <Dialog title="Save the signing secret" description={<>This is the only time the signing secret for <strong>{w.url}</strong> is shown. Use it to verify the Tollgate-Signature header.</>}
      onClose={onClose} footer={<Button variant="primary" onClick={onClose}>I've saved it</Button>}>
      <div className="secret-box">
        <code data-testid="webhook-secret">{w.secret}</code>
        <Button size="sm" onClick={() => void copy()} aria-label={copied ? "Signing secret copied" : "Copy signing secret to clipboard"}>{copied ? <><Icons.check /> Copied</> : <><Icons.copy /> Copy</>}</Button>
      </div>
      <Alert tone="warning">If you lose it, rotate the secret: the old one stops working at once.</Alert>
    </Dialog>
  );
}

const statusTone = (s: WebhookDelivery["status"]) => (s === "succeeded" ? "success" : s === "failed" ? "danger" : "warning");

function DeliveryLog({ w }: { w: Webhook }) {
  const { org } = useOrg();
  const log = useInfiniteQuery({
    queryKey: orgKey(org.id, "webhooks", w.id, "deliveries"),
    queryFn: ({ pageParam }) => api<Page<WebhookDelivery>>("GET", `/orgs/${org.id}/webhooks/${w.id}/deliveries?limit=20${pageParam ? `&cursor=${encodeURIComponent(pageParam)}` : ""}`),
    initialPageParam: "",
    getNextPageParam: (p) => p.next_cursor ?? undefined,
    refetchInterval: 3_000,
  });
  if (log.isPending) return <div className="skeleton" />;
  if (log.isError) return <Alert>{messageOf(log.error)}</Alert>;
  const rows = log.data.pages.flatMap((p) => p.data);
  if (rows.length === 0) return <p className="muted small" style={{ margin: 0 }}>No deliveries yet. Send a test to see one here.</p>;
  return (
    <div className="stack-sm" aria-label={`Delivery log of ${w.url}`} role="region">
      <div className="table-wrap">
        <table>
          <thead><tr><th>Event</th><th>Status</th><th>Attempts</th><th>Last code</th><th>Time</th></tr></thead>
          <tbody>
            {rows.map((d) => (
              <tr key={d.id} data-delivery-id={d.id}>
                <td><code className="small">{d.event_type}</code></td>
                <td>
                  <Badge tone={statusTone(d.status)}>{d.status}</Badge>
                  {d.attempt_log.length ? (
                    <details className="small">
                      <summary>Attempts</summary>
                      <ul style={{ margin: 0, paddingLeft: 16 }}>
                        {d.attempt_log.map((a) => (
                          <li key={a.attempt}>#{a.attempt}: {a.status_code ?? a.error ?? "no answer"} · {a.latency_ms} ms{a.response_excerpt ? <> · <code style={{ wordBreak: "break-all" }}>{a.response_excerpt}</code></> : null}</li>
                        ))}
                      </ul>
                    </details>
                  ) : null}
                </td>
                <td>{d.attempts}</td>
                <td>{d.last_status_code ?? "—"}</td>
                <td className="small">{formatDateTime(d.created_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {log.hasNextPage ? <div><Button size="sm" loading={log.isFetchingNextPage} onClick={() => void log.fetchNextPage()}>Load older deliveries</Button></div> : null}
    </div>
  );
}

function WebhookRow({ w, onSecret, onDelete }: { w: Webhook; onSecret: (w: WebhookWithSecret) => void; onDelete: (w: Webhook) => void }) {
  const { org, role } = useOrg();
  const qc = useQueryClient();
  const toast = useToast();
  const cap = can(role, "webhooks.manage");
  const reason = cap.allowed ? null : cap.reason;
  const [showLog, setShowLog] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const refresh = () => qc.invalidateQueries({ queryKey: orgKey(org.id, "webhooks") });
  const test = useMutation({
    mutationFn: () => api("POST", `/orgs/${org.id}/webhooks/${w.id}/test`),
    onSuccess: () => { setError(null); setShowLog(true); toast("Test event queued"); void refresh(); },
    onError: (e) => setError(messageOf(e)),
  });
  const rotate = useMutation({
    mutationFn: () => api<WebhookWithSecret>("POST", `/orgs/${org.id}/webhooks/${w.id}/rotate-secret`),
    onSuccess: (r) => { setError(null); onSecret(r); },
    onError: (e) => setError(messageOf(e)),
  });
  const toggle = useMutation({
    mutationFn: () => api("PATCH", `/orgs/${org.id}/webhooks/${w.id}`, { enabled: !w.enabled }),
    onSuccess: () => { setError(null); void refresh(); },
    onError: (e) => setError(messageOf(e)),
  });
  return (
    <div className="card-body stack-sm" style={{ borderBottom: "1px solid var(--border)" }} data-webhook-id={w.id}>
      <div className="spread" style={{ flexWrap: "wrap", gap: 8 }}>
        <div style={{ minWidth: 0 }}>
          <div className="cell-title" style={{ wordBreak: "break-all" }}>{w.url} {w.enabled ? <Badge tone="success">enabled</Badge> : w.disabled_reason ? <Badge tone="danger">disabled: failing</Badge> : <Badge>disabled</Badge>}</div>
          <div className="cell-sub">{w.description ? `${w.description} · ` : ""}{w.events.join(", ")}</div>
        </div>
        <div className="row" style={{ flexWrap: "wrap" }}>
          <Button size="sm" onClick={() => test.mutate()} loading={test.isPending} disabledReason={reason ?? (w.enabled ? null : "Enable the endpoint to send a test.")} aria-label={`Send test to ${w.url}`}>Send test</Button>
          <Button size="sm" onClick={() => rotate.mutate()} loading={rotate.isPending} disabledReason={reason} aria-label={`Rotate secret of ${w.url}`}>Rotate secret</Button>
          <Button size="sm" onClick={() => toggle.mutate()} loading={toggle.isPending} disabledReason={reason} aria-label={`${w.enabled ? "Disable" : w.disabled_reason ? "Re-enable" : "Enable"} ${w.url}`}>{w.enabled ? "Disable" : w.disabled_reason ? "Re-enable" : "Enable"}</Button>
          <Button size="sm" variant="ghost" onClick={() => onDelete(w)} disabledReason={reason} aria-label={`Delete ${w.url}`}>Delete</Button>
          <Button size="sm" variant="ghost" onClick={() => setShowLog(!showLog)} aria-expanded={showLog} aria-label={`${showLog ? "Hide" : "Show"} deliveries of ${w.url}`}>{showLog ? "Hide deliveries" : "Deliveries"}</Button>
        </div>
      </div>
      {!w.enabled && w.disabled_reason ? (
        <Alert tone="warning"><span data-testid="webhook-disabled-reason">Disabled by Tollgate {w.disabled_at ? `on ${formatDateTime(w.disabled_at)}` : ""}: {w.disabled_reason}.</span> Nothing is delivered while it is disabled and missed events are not replayed. Fix the receiver, then {cap.allowed ? "re-enable it" : "ask an admin to re-enable it"}.</Alert>
      ) : !w.enabled ? (
        <p className="muted small" style={{ margin: 0 }}>Disabled by an admin{w.disabled_at ? ` on ${formatDateTime(w.disabled_at)}` : ""}.</p>
      ) : w.failing_since ? (
        <p className="small" style={{ margin: 0 }} role="note">Every attempt has failed since {formatDateTime(w.failing_since)}; after 3 days of failures Tollgate disables the endpoint.</p>
      ) : null}
      {error ? <Alert>{error}</Alert> : null}
      {showLog ? <DeliveryLog w={w} /> : null}
    </div>
  );
}

export function WebhooksPage() {
  const { org, role } = useOrg();
  const qc = useQueryClient();
  const toast = useToast();
  const hooks = useQuery({ queryKey: orgKey(org.id, "webhooks"), queryFn: () => api<Page<Webhook>>("GET", `/orgs/${org.id}/webhooks?limit=100`) });
  const [creating, setCreating] = useState(false);
  const [secret, setSecret] = useState<WebhookWithSecret | null>(null);
  const [deleting, setDeleting] = useState<Webhook | null>(null);
  const cap = can(role, "webhooks.manage");
  return (
    <div className="stack">
      <PageHeader title="Webhooks" description="Signed HTTPS POSTs for budget alerts and key and membership changes, retried with backoff. Slack alerts are set in Settings."
        actions={<Button variant="primary" onClick={() => setCreating(true)} disabledReason={cap.allowed ? null : cap.reason}>Add endpoint</Button>} />
      <DisabledReason reason={cap.allowed ? null : cap.reason} />
      <Card bodyClass="">
        <QueryView query={hooks} isEmpty={(d) => d.data.length === 0} empty={<EmptyState title="No webhook endpoints">Add one to receive budget and membership events.</EmptyState>}>
          {(d) => <div>{d.data.map((w) => <WebhookRow key={w.id} w={w} onSecret={setSecret} onDelete={setDeleting} />)}</div>}
        </QueryView>
      </Card>
      {creating ? <CreateWebhookDialog onClose={() => setCreating(false)} onCreated={(w) => { setCreating(false); setSecret(w); }} /> : null}
      {secret ? <SecretDialog w={secret} onClose={() => setSecret(null)} /> : null}
      {deleting ? <ConfirmDialog title="Delete this endpoint?" description={`${deleting.url} stops receiving events; its delivery log is deleted and pending deliveries are dropped.`} confirmLabel="Delete endpoint"
        onClose={() => setDeleting(null)}
        onConfirm={async () => { await api("DELETE", `/orgs/${org.id}/webhooks/${deleting.id}`); await qc.invalidateQueries({ queryKey: orgKey(org.id, "webhooks") }); toast("Endpoint deleted"); }} /> : null}
    </div>
  );
}
