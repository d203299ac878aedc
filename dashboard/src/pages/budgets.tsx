/** Budgets & limits: live status bars (spent, reserved, limit, resets at), create, edit limit, delete. */
import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, messageOf } from "../lib/api";
import { orgKey, useOrg } from "../lib/session";
import { useBudgets, useKeys, useMembers, useTeams } from "../lib/queries";
import { can } from "../lib/permissions";
import { optionalPositiveInt, optionalUsd } from "../lib/schemas";
import { formatInt, formatMicros, formatRelative } from "../lib/format";
import type { Budget, BudgetPeriod, BudgetScope, BudgetStatus } from "../lib/types";
import { ConfirmDialog, Dialog } from "../components/dialog";
import { Alert, Badge, Button, Card, DisabledReason, EmptyState, Field, PageHeader, QueryView, SpendBar } from "../components/ui";
import { useToast } from "../components/toast";

const LIVE_MS = 3_000;

function useScopeLabel() {
  const { org } = useOrg();
  const teams = useTeams(org.id);
  const keys = useKeys(org.id);
  const members = useMembers(org.id);
  return (b: Pick<Budget, "scope" | "scope_id" | "team_id">) => {
    if (b.scope === "org") return "Whole organization";
    if (b.scope === "member" && !b.scope_id) return `Every member of team ${teams.data?.data.find((t) => t.id === b.team_id)?.name ?? b.team_id} (default)`;
    if (b.scope === "member") {
      const m = members.data?.data.find((x) => x.user_id === b.scope_id);
      return `Member · ${m ? `${m.name} (${m.email})` : b.scope_id}`;
    }
    if (b.scope === "customer" && !b.scope_id) return "Every customer (default)";
    if (b.scope === "team") return `Team · ${teams.data?.data.find((t) => t.id === b.scope_id)?.name ?? b.scope_id}`;
    if (b.scope === "key") return `Key · ${keys.data?.data.find((k) => k.id === b.scope_id)?.name ?? b.scope_id}`;
    return `${b.scope[0]!.toUpperCase()}${b.scope.slice(1)} · ${b.scope_id}`;
  };
}

/** One budget row with its live status. */
export function BudgetStatusRow({ budget, label, actions }: { budget: Budget; label: string; actions?: React.ReactNode }) {
  const { org } = useOrg();
  const status = useQuery({
    queryKey: orgKey(org.id, "budget-status", budget.id),
    queryFn: () => api<BudgetStatus>("GET", `/orgs/${org.id}/budgets/${budget.id}/status`),
    refetchInterval: LIVE_MS,
  });
  const s = status.data;
  return (
    <div className="card-body stack-sm" style={{ borderBottom: "1px solid var(--border)" }} data-budget-id={budget.id}>
      <div className="spread">
        <div>
          <div className="cell-title">{label}</div>
          <div className="cell-sub">
            {budget.period} · <Badge tone={budget.mode === "hard" ? "danger" : "warning"}>{budget.mode}</Badge>
            {budget.rpm ? ` · ${formatInt(budget.rpm)} rpm` : ""}{budget.tpm ? ` · ${formatInt(budget.tpm)} tpm` : ""}
            {budget.velocity ? ` · velocity $${budget.velocity.limit_usd}/${budget.velocity.window_seconds}s` : ""}
          </div>
        </div>
        <div className="row">{actions}</div>
      </div>
      {status.isError ? <Alert>{messageOf(status.error)}</Alert> : s ? (
        <>
          <SpendBar spent={s.spent_micros} reserved={s.reserved_micros} limit={s.limit_micros} label={`${label}: spent of limit`} />
          <div className="spread small">
            <div className="legend">
              <span><span className="dot" style={{ background: "var(--accent)" }} />Spent {formatMicros(s.spent_micros)}</span>
              <span><span className="dot" style={{ background: "#a5b4fc" }} />Reserved {formatMicros(s.reserved_micros)}</span>
              <span>Limit {s.limit_micros === null ? "none (rate limits only)" : formatMicros(s.limit_micros)}</span>
            </div>
            <span className="muted">{s.breaker.tripped ? <Badge tone="danger">circuit open until {formatRelative(s.breaker.tripped_until)}</Badge> : s.resets_at ? `resets ${formatRelative(s.resets_at)}` : "never resets"}</span>
          </div>
        </>
      ) : <div className="skeleton" />}
    </div>
  );
}

/** Member budgets target a person (`user:<id>`) or a team's default for each member (`team:<id>`). */
function memberTarget(value: string): { scope_id: string | null; team_id: string | null } {
  return value.startsWith("team:") ? { scope_id: null, team_id: value.slice(5) } : { scope_id: value.slice(5) || null, team_id: null };
}

function CreateBudgetDialog({ onClose }: { onClose: () => void }) {
  const { org } = useOrg();
  const teams = useTeams(org.id);
  const keys = useKeys(org.id);
  const members = useMembers(org.id);
  const qc = useQueryClient();
  const toast = useToast();
  const [scope, setScope] = useState<BudgetScope>("org");
  const [scopeId, setScopeId] = useState("");
  const [limit, setLimit] = useState("");
  const [period, setPeriod] = useState<BudgetPeriod>("monthly");
  const [mode, setMode] = useState<"hard" | "soft">("hard");
  const [rpm, setRpm] = useState("");
  const [tpm, setTpm] = useState("");
  const [error, setError] = useState<string | null>(null);
  const create = useMutation({
    mutationFn: () => api<Budget>("POST", `/orgs/${org.id}/budgets`, {
      scope, ...(scope === "member" ? memberTarget(scopeId) : { scope_id: scope === "org" ? null : scopeId.trim() || null }), limit_usd: limit || null, period, mode,
      rpm: rpm ? Number(rpm) : null, tpm: tpm ? Number(tpm) : null,
    }),
    onSuccess: () => { void qc.invalidateQueries({ queryKey: orgKey(org.id, "budgets") }); toast("Budget created"); onClose(); },
    onError: (e) => setError(messageOf(e)),
  });
  const submit = (e: React.FormEvent) => {
    e.preventDefault();
    if (!optionalUsd.safeParse(limit).success) return setError("Limit: enter a dollar amount like 500 or 12.50");
    if (!optionalPositiveInt.safeParse(rpm).success || !optionalPositiveInt.safeParse(tpm).success) return setError("RPM and TPM must be whole numbers ≥ 1");
    if (!limit && !rpm && !tpm) return setError("Set a dollar limit, an RPM or a TPM limit");
    if ((scope === "team" || scope === "key" || scope === "tag" || scope === "member") && !scopeId.trim()) return setError(`Choose the ${scope} this budget applies to`);
    setError(null);
    create.mutate();
  };
  return (
    <Dialog title="Create budget" description="Hard budgets refuse requests with 402 before they'd overspend; soft budgets alert only." onClose={onClose}>
      <form className="stack" onSubmit={submit} noValidate>
        <div className="form-grid">
          <Field label="Scope">{(id) => (
            <select id={id} value={scope} onChange={(e) => { setScope(e.target.value as BudgetScope); setScopeId(""); }}>
              <option value="org">Organization</option><option value="team">Team</option><option value="key">API key</option><option value="customer">Customer</option><option value="tag">Tag</option>
              <option value="member">Member (all of one person's keys)</option>
            </select>
          )}</Field>
          {scope === "team" || scope === "key" ? (
            <Field label={scope === "team" ? "Team" : "API key"}>{(id) => (
              <select id={id} value={scopeId} onChange={(e) => setScopeId(e.target.value)}>
                <option value="">Choose…</option>
                {scope === "team" ? (teams.data?.data ?? []).map((t) => <option key={t.id} value={t.id}>{t.name}</option>)
                  : (keys.data?.data ?? []).filter((k) => k.status === "active").map((k) => <option key={k.id} value={k.id}>{k.name}</option>)}
              </select>
            )}</Field>
          ) : scope === "customer" || scope === "tag" ? (
            <Field label={scope === "customer" ? "Customer id" : "Tag (name=value)"} hint={scope === "customer" ? "Empty: default for every customer" : undefined}>
              {(id) => <input id={id} type="text" value={scopeId} placeholder={scope === "tag" ? "env=prod" : "cus_123"} onChange={(e) => setScopeId(e.target.value)} />}
            </Field>
          ) : scope === "member" ? (
            <Field label="Member" hint="A team default gives each member of the team their own budget">{(id) => (
              <select id={id} value={scopeId} onChange={(e) => setScopeId(e.target.value)}>
                <option value="">Choose…</option>
                {(members.data?.data ?? []).map((m) => <option key={m.user_id} value={`user:${m.user_id}`}>{m.name} ({m.email})</option>)}
                {(teams.data?.data ?? []).map((t) => <option key={t.id} value={`team:${t.id}`}>Every member of team {t.name} (default)</option>)}
              </select>
            )}</Field>
          ) : <div />}
          <Field label="Limit (USD)" hint="Empty: rate limits only">{(id) => <input id={id} type="text" inputMode="decimal" value={limit} placeholder="500.00" onChange={(e) => setLimit(e.target.value)} />}</Field>
          <Field label="Period">{(id) => (
            <select id={id} value={period} onChange={(e) => setPeriod(e.target.value as BudgetPeriod)}>
              <option value="daily">Daily</option><option value="weekly">Weekly</option><option value="monthly">Monthly</option><option value="total">Total</option>
            </select>
          )}</Field>
          <Field label="Mode">{(id) => (
            <select id={id} value={mode} onChange={(e) => setMode(e.target.value as "hard" | "soft")}>
              <option value="hard">Hard: refuse with 402</option><option value="soft">Soft: alert only</option>
            </select>
          )}</Field>
          <div />
          <Field label="Requests per minute">{(id) => <input id={id} type="number" min={1} value={rpm} placeholder="No limit" onChange={(e) => setRpm(e.target.value)} />}</Field>
          <Field label="Tokens per minute">{(id) => <input id={id} type="number" min={1} value={tpm} placeholder="No limit" onChange={(e) => setTpm(e.target.value)} />}</Field>
        </div>
        {error ? <Alert>{error}</Alert> : null}
        <div className="row" style={{ justifyContent: "flex-end" }}>
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" variant="primary" loading={create.isPending}>Create budget</Button>
        </div>
      </form>
    </Dialog>
  );
}

function EditLimitDialog({ budget, onClose }: { budget: Budget; onClose: () => void }) {
  const { org } = useOrg();
  const qc = useQueryClient();
  const [limit, setLimit] = useState(budget.limit_usd ?? "");
  const [error, setError] = useState<string | null>(null);
  const save = useMutation({
    mutationFn: () => api("PATCH", `/orgs/${org.id}/budgets/${budget.id}`, { limit_usd: limit || null }),
    onSuccess: () => { void qc.invalidateQueries({ queryKey: orgKey(org.id) }); onClose(); },
    onError: (e) => setError(messageOf(e)),
  });
  return (
    <Dialog title="Change limit" description="Takes effect on the next request." onClose={onClose}
      footer={<><Button onClick={onClose}>Cancel</Button><Button variant="primary" loading={save.isPending} onClick={() => optionalUsd.safeParse(limit).success ? save.mutate() : setError("Enter a dollar amount like 500 or 12.50")}>Save</Button></>}>
      <Field label="Limit (USD)" hint="Empty removes the dollar limit.">{(id) => <input id={id} type="text" inputMode="decimal" value={limit} onChange={(e) => setLimit(e.target.value)} />}</Field>
      {error ? <Alert>{error}</Alert> : null}
    </Dialog>
  );
}

export function BudgetsPage() {
  const { org, role } = useOrg();
  const budgets = useBudgets(org.id);
  const label = useScopeLabel();
  const qc = useQueryClient();
  const toast = useToast();
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<Budget | null>(null);
  const [deleting, setDeleting] = useState<Budget | null>(null);
  const createCap = can(role, "budgets.create");
  const editCap = can(role, "budgets.edit");
  return (
    <div className="stack">
      <PageHeader title="Budgets & limits" description="Spend ceilings and rate limits per org, team, member, key, customer or tag. Members may add budgets only on their own keys, themselves, or a team that lets them. Live: refreshes every few seconds."
        actions={<Button variant="primary" onClick={() => setCreating(true)} disabledReason={createCap.allowed ? null : createCap.reason}>Create budget</Button>} />
      <DisabledReason reason={!createCap.allowed ? createCap.reason : !editCap.allowed ? `Editing and deleting budgets: ${editCap.reason}` : null} />
      <Card bodyClass="">
        <QueryView query={budgets} isEmpty={(d) => d.data.length === 0} empty={<EmptyState title="No budgets yet">Without a budget, only your plan's spend cap applies.</EmptyState>}>
          {(d) => (
            <div>
              {d.data.map((b) => (
                <BudgetStatusRow key={b.id} budget={b} label={label(b)} actions={
                  <>
                    <Button size="sm" onClick={() => setEditing(b)} disabledReason={editCap.allowed ? null : editCap.reason} aria-label={`Change limit of ${label(b)}`}>Edit</Button>
                    <Button size="sm" variant="ghost" onClick={() => setDeleting(b)} disabledReason={editCap.allowed ? null : editCap.reason} aria-label={`Delete budget ${label(b)}`}>Delete</Button>
                  </>
                } />
              ))}
            </div>
          )}
        </QueryView>
      </Card>
      {creating ? <CreateBudgetDialog onClose={() => setCreating(false)} /> : null}
      {editing ? <EditLimitDialog budget={editing} onClose={() => setEditing(null)} /> : null}
      {deleting ? <ConfirmDialog title="Delete this budget?" description={`${label(deleting)} will no longer be limited by it.`} confirmLabel="Delete budget" onClose={() => setDeleting(null)}
        onConfirm={async () => { await api("DELETE", `/orgs/${org.id}/budgets/${deleting.id}`); await qc.invalidateQueries({ queryKey: orgKey(org.id, "budgets") }); toast("Budget deleted"); }} /> : null}
    </div>
  );
}
