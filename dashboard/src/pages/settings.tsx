/** Org settings: name, slug, invitation expiry, data policy, Slack, alert emails; danger zone (delete by typing the slug). */
import { useEffect, useState } from "react";
import { useNavigate } from "@tanstack/react-router";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, messageOf } from "../lib/api";
import { dropAllCachedData, meQueryKey, orgKey, useOrg } from "../lib/session";
import { can } from "../lib/permissions";
import { orgNameSchema, slugSchema } from "../lib/schemas";
import type { OrgSettings } from "../lib/types";
import { ConfirmDialog } from "../components/dialog";
import { Alert, Button, Card, DisabledReason, Field, PageHeader, QueryView } from "../components/ui";
import { useToast } from "../components/toast";

function SettingsForm({ s }: { s: OrgSettings }) {
  const { org, role } = useOrg();
  const qc = useQueryClient();
  const toast = useToast();
  const cap = can(role, "settings.edit");
  const personal = org.kind === "personal";
  const [name, setName] = useState(s.name);
  const [slug, setSlug] = useState(s.slug);
  const [expiry, setExpiry] = useState(String(s.invitation_expiry_days));
  const [storePrompts, setStorePrompts] = useState(s.data_policy.store_prompts);
  const [retention, setRetention] = useState(s.data_policy.retention_days?.toString() ?? "");
  const [slack, setSlack] = useState("");
  const [alerts, setAlerts] = useState(s.alert_emails.join(", "));
  const [error, setError] = useState<string | null>(null);
  useEffect(() => setError(null), [name, slug, expiry]);
  const save = useMutation({
    mutationFn: (body: Record<string, unknown>) => api<OrgSettings>("PATCH", `/orgs/${org.id}/settings`, body),
    onSuccess: () => { void qc.invalidateQueries({ queryKey: orgKey(org.id, "settings") }); void qc.invalidateQueries({ queryKey: meQueryKey }); setSlack(""); toast("Settings saved"); },
    onError: (e) => setError(messageOf(e)),
  });
  const submit = (e: React.FormEvent) => {
    e.preventDefault();
    const body: Record<string, unknown> = {};
    if (!personal && name !== s.name) { const r = orgNameSchema.safeParse(name); if (!r.success) return setError(r.error.issues[0]!.message); body.name = r.data; }
    if (!personal && slug !== s.slug) { const r = slugSchema.safeParse(slug); if (!r.success) return setError(r.error.issues[0]!.message); body.slug = r.data; }
    const days = Number(expiry);
    if (!Number.isInteger(days) || days < 1 || days > 90) return setError("Invitation expiry must be 1–90 days");
    if (days !== s.invitation_expiry_days) body.invitation_expiry_days = days;
    const ret = retention.trim() ? Number(retention) : null;
    if (ret !== null && (!Number.isInteger(ret) || ret < 1)) return setError("Retention must be a whole number of days");
    body.data_policy = { store_prompts: storePrompts, retention_days: ret };
    if (slack.trim()) { if (!slack.trim().startsWith("https://")) return setError("Slack webhook URL must use https"); body.slack_webhook_url = slack.trim(); }
    body.alert_emails = alerts.split(/[\s,]+/).filter(Boolean);
    save.mutate(body);
  };
  const off = !cap.allowed;
  return (
    <form className="stack" onSubmit={submit} noValidate>
      <DisabledReason reason={off ? cap.reason : null} />
      <Card title="General">
        <div className="form-grid">
          <Field label="Organization name" hint={personal ? "Personal organizations can't be renamed." : undefined}>{(id) => <input id={id} type="text" value={name} disabled={off || personal} onChange={(e) => setName(e.target.value)} />}</Field>
          <Field label="Slug">{(id) => <input id={id} type="text" value={slug} disabled={off || personal} onChange={(e) => setSlug(e.target.value)} />}</Field>
          <Field label="Invitation expiry (days)" hint="1–90; default 7.">{(id) => <input id={id} type="number" min={1} max={90} value={expiry} disabled={off} onChange={(e) => setExpiry(e.target.value)} />}</Field>
        </div>
      </Card>
      <Card title="Data policy">
        <div className="stack-sm">
          <div className="checkbox"><input id="store-prompts" type="checkbox" checked={storePrompts} disabled={off} onChange={(e) => setStorePrompts(e.target.checked)} /><label htmlFor="store-prompts">Store prompts and completions</label></div>
          <Field label="Cost-event retention (days)" hint="Empty: your plan's maximum.">{(id) => <input id={id} type="number" min={1} value={retention} disabled={off} onChange={(e) => setRetention(e.target.value)} />}</Field>
        </div>
      </Card>
      <Card title="Alerts">
        <div className="form-grid">
          <Field label="Slack incoming webhook URL" hint={s.slack_webhook_configured ? `Configured (${s.slack_webhook_url ?? "hidden"}). Enter a new URL to replace it.` : "Budget alerts are posted here."}>
            {(id) => <input id={id} type="url" value={slack} disabled={off} placeholder="https://hooks.slack.com/services/…" onChange={(e) => setSlack(e.target.value)} />}
          </Field>
          <Field label="Alert emails" hint="Comma-separated; admins are always notified.">{(id) => <input id={id} type="text" value={alerts} disabled={off} onChange={(e) => setAlerts(e.target.value)} />}</Field>
        </div>
      </Card>
      {error ? <Alert>{error}</Alert> : null}
      <div><Button type="submit" variant="primary" loading={save.isPending} disabledReason={off ? cap.reason : null}>Save changes</Button></div>
    </form>
  );
}

export function SettingsPage() {
  const { org, role } = useOrg();
  const settings = useQuery({ queryKey: orgKey(org.id, "settings"), queryFn: () => api<OrgSettings>("GET", `/orgs/${org.id}/settings`) });
  const [deleting, setDeleting] = useState(false);
  const qc = useQueryClient();
  const navigate = useNavigate();
  const del = can(role, "org.delete");
  const deleteReason = org.kind === "personal" ? "Personal organizations can't be deleted." : del.allowed ? null : del.reason;
  return (
    <div className="stack">
      <PageHeader title="Settings" description="How this organization is named, what it keeps, and where alerts go." />
      <QueryView query={settings}>{(s) => <SettingsForm s={s} />}</QueryView>
      <section className="card" style={{ borderColor: "#fecaca" }}>
        <div className="card-header"><h2 style={{ color: "var(--danger)" }}>Danger zone</h2></div>
        <div className="card-body spread">
          <div><strong>Delete this organization</strong><p className="muted" style={{ margin: "2px 0 0" }}>Revokes every key, removes members and invitations, cancels the subscription and deletes its data. Irreversible.</p></div>
          <Button variant="danger" onClick={() => setDeleting(true)} disabledReason={deleteReason}>Delete organization</Button>
        </div>
        {deleteReason ? <div className="card-body" style={{ paddingTop: 0 }}><DisabledReason reason={deleteReason} /></div> : null}
      </section>
      {deleting ? (
        <ConfirmDialog title={`Delete ${org.name}?`} description="This can't be undone." confirmLabel="Delete organization" typeToConfirm={org.slug} onClose={() => setDeleting(false)}
          onConfirm={async () => { await api("DELETE", `/orgs/${org.id}`, { confirm: org.slug }); dropAllCachedData(qc); await navigate({ to: "/" }); }} />
      ) : null}
    </div>
  );
}
