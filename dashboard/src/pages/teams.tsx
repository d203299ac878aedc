/** Teams: list with per-team spend/latency/errors, create; team detail with members and budgets. */
import { useState } from "react";
import { Link, useParams } from "@tanstack/react-router";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, messageOf } from "../lib/api";
import { orgKey, useOrg } from "../lib/session";
import { useBudgets, useMembers, useTeams, useUsage } from "../lib/queries";
import { can } from "../lib/permissions";
import { formatInt, formatMicros, formatMs, formatPct, isoDay } from "../lib/format";
import type { Team, TeamDetail } from "../lib/types";
import { ConfirmDialog, Dialog } from "../components/dialog";
import { Alert, Button, Card, DisabledReason, EmptyState, Field, PageHeader, QueryView, RoleBadge, Stat } from "../components/ui";
import { useToast } from "../components/toast";
import { BudgetStatusRow } from "./budgets";

const monthStart = () => `${isoDay(new Date()).slice(0, 8)}01`;

function CreateTeamDialog({ onClose }: { onClose: () => void }) {
  const { org } = useOrg();
  const qc = useQueryClient();
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [error, setError] = useState<string | null>(null);
  const create = useMutation({
    mutationFn: () => api<Team>("POST", `/orgs/${org.id}/teams`, { name: name.trim(), ...(description.trim() ? { description: description.trim() } : {}) }),
    onSuccess: () => { void qc.invalidateQueries({ queryKey: orgKey(org.id, "teams") }); onClose(); },
    onError: (e) => setError(messageOf(e)),
  });
  return (
    <Dialog title="Create team" onClose={onClose}>
      <form className="stack" onSubmit={(e) => { e.preventDefault(); if (!name.trim()) return setError("Give the team a name"); create.mutate(); }} noValidate>
        <Field label="Team name">{(id) => <input id={id} type="text" value={name} placeholder="Search" onChange={(e) => setName(e.target.value)} />}</Field>
        <Field label="Description">{(id) => <input id={id} type="text" value={description} placeholder="Optional" onChange={(e) => setDescription(e.target.value)} />}</Field>
        {error ? <Alert>{error}</Alert> : null}
        <div className="row" style={{ justifyContent: "flex-end" }}><Button onClick={onClose}>Cancel</Button><Button type="submit" variant="primary" loading={create.isPending}>Create team</Button></div>
      </form>
    </Dialog>
  );
}

export function TeamsPage() {
  const { org, role } = useOrg();
  const teams = useTeams(org.id);
  const usage = useUsage(org.id, { from: monthStart(), group_by: "team" });
  const [creating, setCreating] = useState(false);
  const cap = can(role, "teams.manage");
  const stats = (id: string) => usage.data?.groups.find((g) => g.key === id);
  return (
    <div className="stack">
      <PageHeader title="Teams" description="Group keys and people; give each team its own budget and rate limits."
        actions={<Button variant="primary" onClick={() => setCreating(true)} disabledReason={cap.allowed ? null : cap.reason}>Create team</Button>} />
      <DisabledReason reason={cap.allowed ? null : cap.reason} />
      <Card bodyClass="table-wrap">
        <QueryView query={teams} isEmpty={(d) => d.data.length === 0} empty={<EmptyState title="No teams yet">Teams let you split spend and limits by group, e.g. Search or Support.</EmptyState>}>
          {(d) => (
            <table>
              <thead><tr><th>Team</th><th className="num">Members</th><th className="num">Spend (month)</th><th className="num hide-sm">Requests</th><th className="num hide-sm">Errors</th><th className="num hide-sm">p95</th></tr></thead>
              <tbody>
                {d.data.map((t) => {
                  const s = stats(t.id);
                  return (
                    <tr key={t.id}>
                      <td><Link to={`/orgs/${org.id}/teams/${t.id}`} className="cell-title">{t.name}</Link>{t.description ? <div className="cell-sub">{t.description}</div> : null}</td>
                      <td className="num">{t.member_count}</td>
                      <td className="num">{formatMicros(s?.cost_micros ?? 0)}</td>
                      <td className="num hide-sm">{formatInt(s?.requests ?? 0)}</td>
                      <td className="num hide-sm">{s && s.requests ? formatPct(s.errors / s.requests) : "—"}</td>
                      <td className="num hide-sm">{formatMs(s?.p95_latency_ms)}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          )}
        </QueryView>
      </Card>
      {creating ? <CreateTeamDialog onClose={() => setCreating(false)} /> : null}
    </div>
  );
}

export function TeamDetailPage() {
  const { org, role } = useOrg();
  const { teamId } = useParams({ strict: false }) as { teamId: string };
  const team = useQuery({ queryKey: orgKey(org.id, "team", teamId), queryFn: () => api<TeamDetail>("GET", `/orgs/${org.id}/teams/${teamId}`) });
  const members = useMembers(org.id);
  const budgets = useBudgets(org.id);
  const usage = useUsage(org.id, { from: monthStart(), group_by: "team" });
  const qc = useQueryClient();
  const toast = useToast();
  const [adding, setAdding] = useState("");
  const [deleting, setDeleting] = useState(false);
  const cap = can(role, "teams.manage");
  const s = usage.data?.groups.find((g) => g.key === teamId);
  const refresh = () => qc.invalidateQueries({ queryKey: orgKey(org.id) });
  const teamBudgets = (budgets.data?.data ?? []).filter((b) => (b.scope === "team" && b.scope_id === teamId) || (b.scope === "member" && !b.scope_id && b.team_id === teamId));
  const setMembersManage = useMutation({
    mutationFn: (on: boolean) => api("PATCH", `/orgs/${org.id}/teams/${teamId}`, { members_manage_budgets: on }),
    onSuccess: () => void refresh(),
    onError: (e) => toast(messageOf(e), "error"),
  });
  const addMember = useMutation({
    mutationFn: (userId: string) => api("PUT", `/orgs/${org.id}/teams/${teamId}/members/${userId}`),
    onSuccess: () => { setAdding(""); void refresh(); },
    onError: (e) => toast(messageOf(e), "error"),
  });
  const removeMember = useMutation({
    mutationFn: (userId: string) => api("DELETE", `/orgs/${org.id}/teams/${teamId}/members/${userId}`),
    onSuccess: () => void refresh(),
    onError: (e) => toast(messageOf(e), "error"),
  });
  return (
    <QueryView query={team}>
      {(t) => (
        <div className="stack">
          <PageHeader title={t.name} description={t.description ?? "Team"} actions={
            <Button variant="ghost" onClick={() => setDeleting(true)} disabledReason={cap.allowed ? null : cap.reason}>Delete team</Button>
          } />
          <div className="grid grid-4">
            <Stat label="Spend this month" value={formatMicros(s?.cost_micros ?? 0)} />
            <Stat label="Requests" value={formatInt(s?.requests ?? 0)} />
            <Stat label="Error rate" value={s && s.requests ? formatPct(s.errors / s.requests) : "—"} />
            <Stat label="Latency p50 / p95" value={formatMs(s?.p50_latency_ms)} sub={`p95 ${formatMs(s?.p95_latency_ms)}`} />
          </div>
          <Card title="Budgets">
            {teamBudgets.length === 0 ? <p className="muted" style={{ margin: 0 }}>No team budget. Create one on the Budgets page (scope Team, or Member → "Every member of team {t.name}" for a per-member default).</p> : null}
            {teamBudgets.map((b) => <BudgetStatusRow key={b.id} budget={b} label={b.scope === "member" ? `${b.period} default budget per member` : `${b.period} team budget`} />)}
            <label className="row small" style={{ marginTop: 8 }}>
              <input type="checkbox" checked={t.members_manage_budgets} disabled={!cap.allowed || setMembersManage.isPending} onChange={(e) => setMembersManage.mutate(e.target.checked)} />
              Members of this team may add budgets to it (team budgets and the per-member default)
            </label>
          </Card>
          <Card title={`Members (${t.members.length})`} bodyClass="table-wrap">
            <div className="card-body">
              <div className="inline-form">
                <div className="field">
                  <label htmlFor="team-add-member">Add a member</label>
                  <select id="team-add-member" value={adding} disabled={!cap.allowed} onChange={(e) => setAdding(e.target.value)}>
                    <option value="">Choose someone…</option>
                    {(members.data?.data ?? []).filter((m) => !t.members.some((x) => x.user_id === m.user_id)).map((m) => <option key={m.user_id} value={m.user_id}>{m.name} ({m.email})</option>)}
                  </select>
                </div>
                <Button variant="primary" disabled={!adding} disabledReason={cap.allowed ? null : cap.reason} loading={addMember.isPending} onClick={() => addMember.mutate(adding)}>Add to team</Button>
              </div>
              <DisabledReason reason={cap.allowed ? null : cap.reason} />
            </div>
            {t.members.length === 0 ? <EmptyState title="No members in this team" /> : (
              <table>
                <thead><tr><th>Name</th><th>Org role</th><th><span className="sr-only">Actions</span></th></tr></thead>
                <tbody>{t.members.map((m) => (
                  <tr key={m.user_id}>
                    <td><div className="cell-title">{m.name}</div><div className="cell-sub">{m.email}</div></td>
                    <td><RoleBadge role={m.role} /></td>
                    <td className="actions"><Button size="sm" variant="ghost" aria-label={`Remove ${m.name} from team`} disabledReason={cap.allowed ? null : cap.reason} onClick={() => removeMember.mutate(m.user_id)}>Remove</Button></td>
                  </tr>
                ))}</tbody>
              </table>
            )}
          </Card>
          {deleting ? <ConfirmDialog title={`Delete team ${t.name}?`} description="Its keys stay active but no longer belong to a team." confirmLabel="Delete team" onClose={() => setDeleting(false)}
            onConfirm={async () => { await api("DELETE", `/orgs/${org.id}/teams/${teamId}`); await refresh(); history.back(); }} /> : null}
        </div>
      )}
    </QueryView>
  );
}
