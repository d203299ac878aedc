/** API keys: create (the secret is shown once), list, per-key limits, revoke with confirmation. */
import { useState } from "react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { api, messageOf } from "../lib/api";
import { orgKey, useOrg } from "../lib/session";
import { useKeys, useMembers, useTeams } from "../lib/queries";
import { can, roleAtLeast } from "../lib/permissions";
import { optionalPositiveInt, optionalUsd } from "../lib/schemas";
import { formatDate, formatInt, formatRelative } from "../lib/format";
import type { CreatedKey, VirtualKey } from "../lib/types";
import { ConfirmDialog, Dialog } from "../components/dialog";
import { Alert, Badge, Button, Card, DisabledReason, EmptyState, Field, Icons, PageHeader, QueryView } from "../components/ui";
import { useToast } from "../components/toast";

const STATUS_TONE = { active: "success", revoked: "danger", expired: "warning" } as const;

/** Splits "gpt-4o, claude-3" into a list; empty means "all models". */
const modelList = (s: string) => s.split(/[\s,]+/).map((m) => m.trim()).filter(Boolean);

type LimitsForm = { rpm: string; tpm: string; models: string };

function LimitFields({ form, set, errors }: { form: LimitsForm; set: (f: LimitsForm) => void; errors: Record<string, string> }) {
  return (
    <>
      <Field label="Allowed models" hint="Comma-separated. Leave empty to allow every priced model." error={errors.models}>
        {(id) => <input id={id} type="text" value={form.models} placeholder="gpt-4o-mini, openai/gpt-4o" onChange={(e) => set({ ...form, models: e.target.value })} />}
      </Field>
      <div className="form-grid">
        <Field label="Requests per minute" error={errors.rpm}>{(id) => <input id={id} type="number" min={1} value={form.rpm} placeholder="No limit" onChange={(e) => set({ ...form, rpm: e.target.value })} />}</Field>
        <Field label="Tokens per minute" error={errors.tpm}>{(id) => <input id={id} type="number" min={1} value={form.tpm} placeholder="No limit" onChange={(e) => set({ ...form, tpm: e.target.value })} />}</Field>
      </div>
    </>
  );
}

function validateLimits(f: LimitsForm): Record<string, string> {
  const errors: Record<string, string> = {};
  if (!optionalPositiveInt.safeParse(f.rpm).success) errors.rpm = "Enter a whole number ≥ 1";
  if (!optionalPositiveInt.safeParse(f.tpm).success) errors.tpm = "Enter a whole number ≥ 1";
  return errors;
}
const numOrNull = (s: string) => (s.trim() ? Number(s) : null);

function CreateKeyDialog({ onClose, onCreated }: { onClose: () => void; onCreated: (k: CreatedKey) => void }) {
  const { org } = useOrg();
  const teams = useTeams(org.id);
  const [name, setName] = useState("");
  const [teamId, setTeamId] = useState("");
  const [expires, setExpires] = useState("");
  const [budget, setBudget] = useState("");
  const [period, setPeriod] = useState("monthly");
  const [limits, setLimits] = useState<LimitsForm>({ rpm: "", tpm: "", models: "" });
  const [errors, setErrors] = useState<Record<string, string>>({});
  const create = useMutation({
    mutationFn: () =>
      api<CreatedKey>("POST", `/orgs/${org.id}/keys`, {
        name: name.trim(),
        ...(teamId ? { team_id: teamId } : {}),
        ...(modelList(limits.models).length ? { allowed_models: modelList(limits.models) } : {}),
        ...(expires ? { expires_at: new Date(`${expires}T23:59:59Z`).toISOString() } : {}),
        ...(budget ? { budget: { limit_usd: budget, period } } : {}),
        ...(limits.rpm ? { rpm: Number(limits.rpm) } : {}),
        ...(limits.tpm ? { tpm: Number(limits.tpm) } : {}),
      }),
    onSuccess: onCreated,
    onError: (e) => setErrors({ form: messageOf(e) }),
  });
  const submit = (e: React.FormEvent) => {
    e.preventDefault();
    const errs = validateLimits(limits);
    if (!name.trim()) errs.name = "Give the key a name, e.g. the service that uses it";
    if (!optionalUsd.safeParse(budget).success) errs.budget = "Enter a dollar amount like 25 or 12.50";
    setErrors(errs);
    if (Object.keys(errs).length === 0) create.mutate();
  };
  return (
    <Dialog title="Create API key" description="Keys authenticate calls to /v1. You'll see the full key once." onClose={onClose}>
      <form className="stack" onSubmit={submit} noValidate>
        <Field label="Name" error={errors.name}>{(id) => <input id={id} type="text" value={name} placeholder="search-backend-prod" onChange={(e) => setName(e.target.value)} />}</Field>
        <div className="form-grid">
          <Field label="Team" hint="Usage and team budgets apply.">
            {(id) => (
              <select id={id} value={teamId} onChange={(e) => setTeamId(e.target.value)}>
                <option value="">No team</option>
                {(teams.data?.data ?? []).map((t) => <option key={t.id} value={t.id}>{t.name}</option>)}
              </select>
            )}
          </Field>
          <Field label="Expires on" hint="Optional (UTC end of day).">{(id) => <input id={id} type="date" value={expires} onChange={(e) => setExpires(e.target.value)} />}</Field>
          <Field label="Spend limit (USD)" hint="Hard cap for this key." error={errors.budget}>{(id) => <input id={id} type="text" inputMode="decimal" value={budget} placeholder="No limit" onChange={(e) => setBudget(e.target.value)} />}</Field>
          <Field label="Limit period">
            {(id) => (
              <select id={id} value={period} onChange={(e) => setPeriod(e.target.value)} disabled={!budget}>
                <option value="daily">Daily</option><option value="weekly">Weekly</option><option value="monthly">Monthly</option><option value="total">Total (lifetime)</option>
              </select>
            )}
          </Field>
        </div>
        <LimitFields form={limits} set={setLimits} errors={errors} />
        {errors.form ? <Alert>{errors.form}</Alert> : null}
        <div className="row" style={{ justifyContent: "flex-end" }}>
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" variant="primary" loading={create.isPending}>Create key</Button>
        </div>
      </form>
    </Dialog>
  );
}

function SecretDialog({ created, onClose }: { created: CreatedKey; onClose: () => void }) {
  const [copied, setCopied] = useState(false);
  const toast = useToast();
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(created.key);
      setCopied(true);
    } catch {
      // Clipboard blocked (permissions, insecure context): select the key so Ctrl/Cmd+C works.
      const el = document.querySelector("[data-testid=new-key-secret]");
      if (el) window.getSelection()?.selectAllChildren(el);
      toast("Copy blocked by the browser: the key is selected, press Ctrl+C", "error");
    }
  };
  return (
    <Dialog
      title="Save your API key"
      description={<>This is the only time <strong>{created.name}</strong> is shown in full. Store it in your secret manager now.</>}
      onClose={onClose}
      footer={<Button variant="primary" onClick={onClose}>I've saved it</Button>}
    >
      <div className="secret-box">
        <code data-testid="new-key-secret">{created.key}</code>
        <Button size="sm" onClick={() => void copy()} aria-label={copied ? "API key copied" : "Copy API key to clipboard"}>{copied ? <><Icons.check /> Copied</> : <><Icons.copy /> Copy</>}</Button>
      </div>
      <Alert tone="warning">Tollgate stores only a hash of this key. If you lose it, revoke it and create a new one.</Alert>
    </Dialog>
  );
}

function EditLimitsDialog({ k, onClose }: { k: VirtualKey; onClose: () => void }) {
  const { org } = useOrg();
  const qc = useQueryClient();
  const toast = useToast();
  const [form, setForm] = useState<LimitsForm>({ rpm: k.rpm?.toString() ?? "", tpm: k.tpm?.toString() ?? "", models: (k.allowed_models ?? []).join(", ") });
  const [errors, setErrors] = useState<Record<string, string>>({});
  const save = useMutation({
    mutationFn: () => api("PATCH", `/orgs/${org.id}/keys/${k.id}`, { rpm: numOrNull(form.rpm), tpm: numOrNull(form.tpm), allowed_models: modelList(form.models).length ? modelList(form.models) : null }),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: orgKey(org.id, "keys") });
      toast(`Limits of ${k.name} updated`);
      onClose();
    },
    onError: (e) => setErrors({ form: messageOf(e) }),
  });
  return (
    <Dialog title={`Limits for ${k.name}`} description="Changes apply to the very next request." onClose={onClose}>
      <form className="stack" onSubmit={(e) => { e.preventDefault(); const errs = validateLimits(form); setErrors(errs); if (!Object.keys(errs).length) save.mutate(); }} noValidate>
        <LimitFields form={form} set={setForm} errors={errors} />
        {errors.form ? <Alert>{errors.form}</Alert> : null}
        <div className="row" style={{ justifyContent: "flex-end" }}>
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" variant="primary" loading={save.isPending}>Save limits</Button>
        </div>
      </form>
    </Dialog>
  );
}

export function KeysPage() {
  const { org, role, me } = useOrg();
  const keys = useKeys(org.id);
  const members = useMembers(org.id);
  const teams = useTeams(org.id);
  const qc = useQueryClient();
  const toast = useToast();
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<CreatedKey | null>(null);
  const [revoking, setRevoking] = useState<VirtualKey | null>(null);
  const [editing, setEditing] = useState<VirtualKey | null>(null);
  const createCap = can(role, "keys.create");
  const nameOf = (userId: string) => members.data?.data.find((m) => m.user_id === userId)?.name ?? userId;
  const teamName = (id: string | null) => (id ? (teams.data?.data.find((t) => t.id === id)?.name ?? id) : null);
  const revokeReason = (k: VirtualKey) =>
    k.status !== "active" ? "This key is no longer active." : roleAtLeast(role, "admin") || (role === "member" && k.created_by === me.user.id) ? null
      : role === "viewer" ? "Viewers can't revoke keys." : "Members can revoke only keys they created.";
  const editReason = (k: VirtualKey) =>
    k.status !== "active" ? "This key is no longer active." : roleAtLeast(role, "admin") || (role === "member" && k.created_by === me.user.id) ? null
      : role === "viewer" ? "Viewers can't change keys." : "Members can change only keys they created.";
  return (
    <div className="stack">
      <PageHeader
        title="API keys"
        description="Virtual keys for the /v1 gateway. Each has its own limits, budget and usage."
        actions={<Button variant="primary" onClick={() => setCreating(true)} disabledReason={createCap.allowed ? null : createCap.reason}><Icons.plus /> Create key</Button>}
      />
      <DisabledReason reason={createCap.allowed ? null : createCap.reason} />
      <Card bodyClass="table-wrap">
        <QueryView query={keys} isEmpty={(d) => d.data.length === 0} empty={<EmptyState title="No API keys yet">Create a key to send your first request through Tollgate.</EmptyState>}>
          {(d) => (
            <table>
              <thead><tr><th>Name</th><th>Status</th><th className="hide-sm">Team</th><th className="hide-sm">Limits</th><th className="hide-sm">Created</th><th><span className="sr-only">Actions</span></th></tr></thead>
              <tbody>
                {d.data.map((k) => (
                  <tr key={k.id} data-key-id={k.id}>
                    <td><div className="cell-title">{k.name}</div><div className="cell-sub mono">{k.hint}</div></td>
                    <td><Badge tone={STATUS_TONE[k.status]}>{k.status}</Badge>{k.expires_at && k.status === "active" ? <div className="cell-sub">expires {formatRelative(k.expires_at)}</div> : null}</td>
                    <td className="hide-sm">{teamName(k.team_id) ?? <span className="muted">—</span>}</td>
                    <td className="hide-sm small">
                      {k.rpm ? `${formatInt(k.rpm)} rpm` : ""}{k.rpm && k.tpm ? " · " : ""}{k.tpm ? `${formatInt(k.tpm)} tpm` : ""}
                      {!k.rpm && !k.tpm ? <span className="muted">Org defaults</span> : null}
                      {k.allowed_models?.length ? <div className="cell-sub">{k.allowed_models.join(", ")}</div> : null}
                    </td>
                    <td className="hide-sm"><div>{formatDate(k.created_at)}</div><div className="cell-sub">by {nameOf(k.created_by)}</div></td>
                    <td className="actions">
                      <div className="row" style={{ justifyContent: "flex-end" }}>
                        <Button size="sm" onClick={() => setEditing(k)} disabledReason={editReason(k)} aria-label={`Edit limits of ${k.name}`}>Limits</Button>
                        <Button size="sm" variant="ghost" onClick={() => setRevoking(k)} disabledReason={revokeReason(k)} aria-label={`Revoke ${k.name}`}>Revoke</Button>
                      </div>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </QueryView>
      </Card>
      {creating ? <CreateKeyDialog onClose={() => setCreating(false)} onCreated={(k) => { setCreating(false); setCreated(k); void qc.invalidateQueries({ queryKey: orgKey(org.id, "keys") }); }} /> : null}
      {created ? <SecretDialog created={created} onClose={() => setCreated(null)} /> : null}
      {editing ? <EditLimitsDialog k={editing} onClose={() => setEditing(null)} /> : null}
      {revoking ? (
        <ConfirmDialog
          title={`Revoke ${revoking.name}?`}
          description="Requests with this key fail from the next call on. This can't be undone."
          confirmLabel="Revoke key"
          onClose={() => setRevoking(null)}
          onConfirm={async () => {
            await api("POST", `/orgs/${org.id}/keys/${revoking.id}/revoke`);
            await qc.invalidateQueries({ queryKey: orgKey(org.id, "keys") });
            toast(`${revoking.name} revoked`);
          }}
        />
      ) : null}
    </div>
  );
}
