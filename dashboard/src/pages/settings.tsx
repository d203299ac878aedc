/** Org settings: name, slug, invitation expiry, branding, data policy, alert emails; danger zone (delete by typing the slug). */
import { useEffect, useState } from "react";
import { useNavigate } from "@tanstack/react-router";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, messageOf } from "../lib/api";
import { dropAllCachedData, meQueryKey, orgKey, useOrg } from "../lib/session";
import { can } from "../lib/permissions";
import { accentColorSchema, displayNameSchema, logoUrlSchema, orgNameSchema, slugSchema } from "../lib/schemas";
import type { OrgSettings } from "../lib/types";
import { ConfirmDialog } from "../components/dialog";
import { Alert, Button, Card, DisabledReason, Field, PageHeader, QueryView } from "../components/ui";
import { useToast } from "../components/toast";
import { formatDateTime } from "../lib/format";

/** Queues a test message to the saved Slack URL; delivered by the webhook dispatcher like a budget alert. */
function SlackTest({ configured, reason }: { configured: boolean; reason: string | null }) {
  const { org } = useOrg();
  const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null);
  const send = useMutation({
    mutationFn: () => api<{ event_id: string; queued: true }>("POST", `/orgs/${org.id}/settings/slack/test`),
    onSuccess: (r) => setResult({ ok: true, text: `Test message queued (event ${r.event_id}); it should appear in the channel within a few seconds.` }),
    onError: (e) => setResult({ ok: false, text: messageOf(e) }),
  });
  return (
    <div className="stack-sm" style={{ marginTop: 12 }}>
      <div><Button type="button" size="sm" onClick={() => send.mutate()} loading={send.isPending} disabledReason={reason ?? (configured ? null : "Save a Slack webhook URL first.")}>Send test message</Button></div>
      {result ? <Alert tone={result.ok ? "success" : "error"}>{result.text}</Alert> : null}
    </div>
  );
}

function SettingsForm({ s }: { s: OrgSettings }) {
  const { org, role } = useOrg();
  const qc = useQueryClient();
  const toast = useToast();
  const cap = can(role, "settings.edit");
  const personal = org.kind === "personal";
  const [name, setName] = useState(s.name);
  const [slug, setSlug] = useState(s.slug);
  const [expiry, setExpiry] = useState(String(s.invitation_expiry_days));
  const [displayName, setDisplayName] = useState(s.branding.display_name ?? "");
  const [logoUrl, setLogoUrl] = useState(s.branding.logo_url ?? "");
  const [accent, setAccent] = useState(s.branding.accent_color ?? "");
  const [storeMetadata, setStoreMetadata] = useState(s.data_policy.store_request_metadata);
  const [alerts, setAlerts] = useState(s.alert_emails.join(", "));
  const [slackUrl, setSlackUrl] = useState("");
  const [removeSlack, setRemoveSlack] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => setError(null), [name, slug, expiry, displayName, logoUrl, accent]);
  const save = useMutation({
    mutationFn: (body: Record<string, unknown>) => api<OrgSettings>("PATCH", `/orgs/${org.id}/settings`, body),
    onSuccess: () => { void qc.invalidateQueries({ queryKey: orgKey(org.id, "settings") }); void qc.invalidateQueries({ queryKey: meQueryKey }); toast("Settings saved"); },
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
    const dn = displayNameSchema.safeParse(displayName);
    if (!dn.success) return setError(dn.error.issues[0]!.message);
    const logo = logoUrl.trim() ? logoUrlSchema.safeParse(logoUrl.trim()) : null;
    if (logo && !logo.success) return setError(logo.error.issues[0]!.message);
    const color = accent.trim() ? accentColorSchema.safeParse(accent.trim()) : null;
    if (color && !color.success) return setError(color.error.issues[0]!.message);
    const branding = { display_name: dn.data || null, logo_url: logo?.data ?? null, accent_color: color?.data.toLowerCase() ?? null };
    if (JSON.stringify(branding) !== JSON.stringify(s.branding)) body.branding = branding;
    if (storeMetadata !== s.data_policy.store_request_metadata) body.data_policy = { store_request_metadata: storeMetadata };
    body.alert_emails = alerts.split(/[\s,]+/).filter(Boolean);
    // The API judges the URL (https and a public host, unless the deployment allows private URLs) and names what is wrong.
    if (slackUrl.trim()) body.slack_webhook_url = slackUrl.trim(); else if (removeSlack) body.slack_webhook_url = null;
    save.mutate(body, { onSuccess: () => { setSlackUrl(""); setRemoveSlack(false); } });
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
      <Card title="Branding">
        <div className="form-grid">
          <Field label="Display name" hint="Shown in the sidebar and in invitation and budget-alert emails. Empty: the organization name.">{(id) => <input id={id} type="text" maxLength={80} value={displayName} disabled={off} onChange={(e) => setDisplayName(e.target.value)} />}</Field>
          <Field label="Logo URL" hint="https image, shown next to the display name.">{(id) => <input id={id} type="url" value={logoUrl} disabled={off} placeholder="https://cdn.example.com/logo.png" onChange={(e) => setLogoUrl(e.target.value)} />}</Field>
          <Field label="Accent color" hint="#rrggbb; buttons and links in the dashboard, and the emails. Empty: Tollgate's.">
            {(id) => (
              <div className="row">
                <input id={id} type="text" value={accent} disabled={off} placeholder="#4f46e5" onChange={(e) => setAccent(e.target.value)} style={{ flex: 1, minWidth: 0 }} />
                <input type="color" aria-label="Pick the accent color" value={/^#[0-9a-fA-F]{6}$/.test(accent) ? accent : "#4f46e5"} disabled={off} onChange={(e) => setAccent(e.target.value)} style={{ width: 40, padding: 2 }} />
              </div>
            )}
          </Field>
        </div>
      </Card>
      <Card title="Data policy">
        <div className="stack-sm">
          <div className="checkbox"><input id="store-metadata" type="checkbox" checked={storeMetadata} disabled={off} onChange={(e) => setStoreMetadata(e.target.checked)} /><label htmlFor="store-metadata">Store request metadata (customer id, tags, trace id) with each cost event</label></div>
          <p className="small muted" style={{ margin: 0 }}>
            Off: usage records keep the cost, tokens, model and key but not who the request was for. Customer and tag budgets are still enforced.
            Tollgate never stores prompts or completions.
          </p>
        </div>
      </Card>
      <Card title="Alerts">
        <div className="form-grid">
          <Field label="Alert emails" hint="Comma-separated. Budget alert emails go to the owner, the admins and these addresses.">{(id) => <input id={id} type="text" value={alerts} disabled={off} onChange={(e) => setAlerts(e.target.value)} />}</Field>
          <Field label="Slack incoming-webhook URL"
            hint={<>Budget threshold, budget exceeded and velocity alerts are posted to this Slack channel. {s.slack_webhook_configured ? <>Current: <code>{s.slack_webhook_url}</code> (masked; enter a new URL to replace it).</> : "Not set."}</>}>
            {(id) => <input id={id} type="url" value={slackUrl} disabled={off} autoComplete="off" placeholder="https://hooks.slack.com/services/…" onChange={(e) => setSlackUrl(e.target.value)} />}
          </Field>
        </div>
        {s.slack_disabled_reason ? (
          <div style={{ marginTop: 8 }}><Alert tone="warning">Slack alerts are disabled since {formatDateTime(s.slack_disabled_at)}: {s.slack_disabled_reason}. Enter the Slack URL again (the same or a new one) and save to re-enable them.</Alert></div>
        ) : null}
        {s.slack_webhook_configured ? (
          <div className="checkbox" style={{ marginTop: 8 }}><input id="remove-slack" type="checkbox" checked={removeSlack} disabled={off || Boolean(slackUrl.trim())} onChange={(e) => setRemoveSlack(e.target.checked)} /><label htmlFor="remove-slack">Stop posting alerts to Slack (remove the URL on save)</label></div>
        ) : null}
        <SlackTest configured={s.slack_webhook_configured} reason={off ? cap.reason : null} />
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
      <PageHeader title="Settings" description="How this organization is named and branded, what it keeps, and who gets alerts." />
      <QueryView query={settings}>{(s) => <SettingsForm s={s} />}</QueryView>
      <section className="card" style={{ borderColor: "#fecaca" }}>
        <div className="card-header"><h2 style={{ color: "var(--danger)" }}>Danger zone</h2></div>
        <div className="card-body spread">
          <div><strong>Delete this organization</strong><p className="muted" style={{ margin: "2px 0 0" }}>Revokes every key, removes members and invitations and deletes its data. Irreversible.</p></div>
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
