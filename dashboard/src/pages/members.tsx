/** Members & invitations: roles, removal (with the keys it revokes), ownership transfer, invites (single + CSV). */
import { useState } from "react";
import { useNavigate } from "@tanstack/react-router";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, messageOf } from "../lib/api";
import { dropAllCachedData, meQueryKey, orgKey, useOrg } from "../lib/session";
import { useInvitations, useMembers } from "../lib/queries";
import { can, canManageMember, roleAtLeast } from "../lib/permissions";
import { inviteSchema } from "../lib/schemas";
import { formatDate, formatRelative } from "../lib/format";
import type { Invitation, Member, RemovalPreview, Role } from "../lib/types";
import { ConfirmDialog, Dialog } from "../components/dialog";
import { Alert, Badge, Button, Card, DisabledReason, EmptyState, Field, Loading, PageHeader, QueryView, RoleBadge } from "../components/ui";
import { useToast } from "../components/toast";

function InviteCard() {
  const { org, role } = useOrg();
  const qc = useQueryClient();
  const toast = useToast();
  const cap = can(role, "members.manage");
  const [email, setEmail] = useState("");
  const [inviteRole, setInviteRole] = useState<"admin" | "member" | "viewer">("member");
  const [csv, setCsv] = useState("");
  const [mode, setMode] = useState<"single" | "bulk">("single");
  const [error, setError] = useState<string | null>(null);
  const refresh = () => qc.invalidateQueries({ queryKey: orgKey(org.id, "invitations") });
  const invite = useMutation({
    mutationFn: (body: { email: string; role: string }) => api<Invitation>("POST", `/orgs/${org.id}/invitations`, body),
    onSuccess: (inv) => { setEmail(""); void refresh(); toast(`Invitation sent to ${inv.email}`); },
    onError: (e) => setError(messageOf(e)),
  });
  const bulk = useMutation({
    mutationFn: () => api<{ data: Invitation[] }>("POST", `/orgs/${org.id}/invitations/bulk`, { csv }),
    onSuccess: (r) => { setCsv(""); void refresh(); toast(`${r.data.length} invitations sent`); },
    onError: (e) => setError(messageOf(e)),
  });
  const submit = (e: React.FormEvent) => {
    e.preventDefault();
    setError(null);
    if (mode === "bulk") return csv.trim() ? bulk.mutate() : setError("Paste one email,role per line");
    const parsed = inviteSchema.safeParse({ email, role: inviteRole });
    if (!parsed.success) return setError(parsed.error.issues[0]!.message);
    invite.mutate(parsed.data);
  };
  const off = !cap.allowed;
  return (
    <Card title="Invite people" actions={
      <div className="tabs" role="group" aria-label="Invite mode">
        <button type="button" className="tab" aria-pressed={mode === "single"} onClick={() => setMode("single")}>By email</button>
        <button type="button" className="tab" aria-pressed={mode === "bulk"} onClick={() => setMode("bulk")}>Bulk CSV</button>
      </div>
    }>
      <form className="stack" onSubmit={submit} noValidate>
        {mode === "single" ? (
          <div className="inline-form">
            <Field label="Email address">{(id) => <input id={id} type="email" value={email} disabled={off} placeholder="teammate@company.com" onChange={(e) => setEmail(e.target.value)} />}</Field>
            <div className="field" style={{ minWidth: 130, flex: "0 0 auto" }}>
              <label htmlFor="invite-role">Role</label>
              <select id="invite-role" value={inviteRole} disabled={off} onChange={(e) => setInviteRole(e.target.value as typeof inviteRole)}>
                <option value="viewer">Viewer</option><option value="member">Member</option><option value="admin">Admin</option>
              </select>
            </div>
            <Button type="submit" variant="primary" loading={invite.isPending} disabledReason={off ? cap.reason : null}>Send invite</Button>
          </div>
        ) : (
          <>
            <Field label="CSV (email,role per line)" hint="Bulk invite is available on Pro and Enterprise plans. Viewers don't use a seat.">
              {(id) => <textarea id={id} value={csv} disabled={off} placeholder={"email,role\nada@acme.com,member\ngrace@acme.com,viewer"} onChange={(e) => setCsv(e.target.value)} />}
            </Field>
            <div><Button type="submit" variant="primary" loading={bulk.isPending} disabledReason={off ? cap.reason : null}>Send invitations</Button></div>
          </>
        )}
        <DisabledReason reason={off ? cap.reason : null} />
        {error ? <Alert>{error}</Alert> : null}
      </form>
    </Card>
  );
}

function PendingInvitations() {
  const { org, role } = useOrg();
  const admin = roleAtLeast(role, "admin");
  const invitations = useInvitations(org.id, admin);
  const qc = useQueryClient();
  const toast = useToast();
  const [revoking, setRevoking] = useState<Invitation | null>(null);
  const resend = useMutation({
    mutationFn: (inv: Invitation) => api("POST", `/orgs/${org.id}/invitations/${inv.id}/resend`),
    onSuccess: (_d, inv) => { void qc.invalidateQueries({ queryKey: orgKey(org.id, "invitations") }); toast(`Invitation re-sent to ${inv.email}`); },
    onError: (e) => toast(messageOf(e), "error"),
  });
  if (!admin) return <Card title="Pending invitations"><p className="disabled-reason" style={{ margin: 0 }}>Only admins and the owner can see and manage pending invitations.</p></Card>;
  return (
    <Card title="Pending invitations" bodyClass="table-wrap">
      <QueryView query={invitations} isEmpty={(d) => d.data.filter((i) => i.status === "pending" || i.status === "expired").length === 0} empty={<EmptyState title="No pending invitations" />}>
        {(d) => (
          <table>
            <thead><tr><th>Email</th><th>Role</th><th className="hide-sm">Status</th><th className="hide-sm">Sent</th><th><span className="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {d.data.filter((i) => i.status === "pending" || i.status === "expired").map((i) => (
                <tr key={i.id}>
                  <td className="cell-title">{i.email}</td>
                  <td><RoleBadge role={i.role} /></td>
                  <td className="hide-sm">{i.status === "pending" ? <Badge tone="warning">pending · expires {formatRelative(i.expires_at)}</Badge> : <Badge tone="danger">expired</Badge>}</td>
                  <td className="hide-sm">{formatRelative(i.last_sent_at)}{i.send_count > 1 ? ` · ${i.send_count}×` : ""}</td>
                  <td className="actions">
                    <div className="row" style={{ justifyContent: "flex-end" }}>
                      <Button size="sm" onClick={() => resend.mutate(i)} loading={resend.isPending && resend.variables?.id === i.id} aria-label={`Resend invitation to ${i.email}`}>Resend</Button>
                      <Button size="sm" variant="ghost" onClick={() => setRevoking(i)} aria-label={`Revoke invitation to ${i.email}`}>Revoke</Button>
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </QueryView>
      {revoking ? (
        <ConfirmDialog title={`Revoke the invitation to ${revoking.email}?`} description="The link stops working immediately." confirmLabel="Revoke invitation" onClose={() => setRevoking(null)}
          onConfirm={async () => { await api("DELETE", `/orgs/${org.id}/invitations/${revoking.id}`); await qc.invalidateQueries({ queryKey: orgKey(org.id, "invitations") }); toast("Invitation revoked"); }} />
      ) : null}
    </Card>
  );
}

function RemoveMemberDialog({ member, onClose }: { member: Member; onClose: () => void }) {
  const { org } = useOrg();
  const qc = useQueryClient();
  const toast = useToast();
  const preview = useQuery({ queryKey: orgKey(org.id, "removal-preview", member.user_id), queryFn: () => api<RemovalPreview>("GET", `/orgs/${org.id}/members/${member.user_id}/removal-preview`) });
  return (
    <ConfirmDialog
      title={`Remove ${member.name} from ${org.name}?`}
      description="They lose access immediately. Budgets, teams and usage stay with the organization."
      confirmLabel="Remove member"
      onClose={onClose}
      onConfirm={async () => {
        await api("DELETE", `/orgs/${org.id}/members/${member.user_id}`);
        await qc.invalidateQueries({ queryKey: orgKey(org.id) });
        toast(`${member.name} removed`);
      }}
    >
      {preview.isPending ? <Loading rows={2} /> : preview.isError ? <Alert>{messageOf(preview.error)}</Alert> : (
        <>
          {!preview.data.can_remove && preview.data.reason ? <Alert>{preview.data.reason}</Alert> : null}
          {preview.data.keys_to_revoke.length ? (
            <div className="stack-sm">
              <strong>These {preview.data.keys_to_revoke.length} keys they created will be revoked:</strong>
              <ul style={{ margin: 0, paddingLeft: 18 }} aria-label="Keys that will be revoked">
                {preview.data.keys_to_revoke.map((k) => <li key={k.id}>{k.name} <span className="mono muted">{k.hint}</span></li>)}
              </ul>
            </div>
          ) : <p className="muted" style={{ margin: 0 }}>They created no active keys; nothing will be revoked.</p>}
        </>
      )}
    </ConfirmDialog>
  );
}

function TransferDialog({ members, onClose }: { members: Member[]; onClose: () => void }) {
  const { org, me } = useOrg();
  const qc = useQueryClient();
  const toast = useToast();
  const eligible = members.filter((m) => m.user_id !== me.user.id && (m.role === "admin" || m.role === "member"));
  const [target, setTarget] = useState(eligible[0]?.user_id ?? "");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const run = async () => {
    setBusy(true);
    try {
      await api("POST", `/orgs/${org.id}/transfer-ownership`, { user_id: target });
      await qc.invalidateQueries({ queryKey: meQueryKey });
      await qc.invalidateQueries({ queryKey: orgKey(org.id) });
      toast("Ownership transferred; you are now an admin");
      onClose();
    } catch (e) {
      setError(messageOf(e));
      setBusy(false);
    }
  };
  return (
    <Dialog title="Transfer ownership" description="The new owner controls billing and can delete the organization. You become an admin." onClose={onClose}
      footer={<><Button onClick={onClose}>Cancel</Button><Button variant="danger" onClick={() => void run()} loading={busy} disabled={!target}>Transfer ownership</Button></>}>
      {eligible.length === 0 ? <Alert tone="info">Only members or admins can become owner. Invite someone or promote a viewer first.</Alert> : (
        <Field label="New owner">{(id) => (
          <select id={id} value={target} onChange={(e) => setTarget(e.target.value)}>
            {eligible.map((m) => <option key={m.user_id} value={m.user_id}>{m.name} ({m.email}) · {m.role}</option>)}
          </select>
        )}</Field>
      )}
      {error ? <Alert>{error}</Alert> : null}
    </Dialog>
  );
}

export function MembersPage() {
  const { org, role, me } = useOrg();
  const members = useMembers(org.id);
  const qc = useQueryClient();
  const toast = useToast();
  const navigate = useNavigate();
  const [removing, setRemoving] = useState<Member | null>(null);
  const [transferring, setTransferring] = useState(false);
  const [leaving, setLeaving] = useState(false);
  const changeRole = useMutation({
    mutationFn: ({ m, newRole }: { m: Member; newRole: Role }) => api<Member>("PATCH", `/orgs/${org.id}/members/${m.user_id}`, { role: newRole }),
    onSuccess: (m) => { void qc.invalidateQueries({ queryKey: orgKey(org.id, "members") }); toast(`${m.name} is now ${m.role}`); },
    onError: (e) => toast(messageOf(e), "error"),
  });
  const owner = role === "owner";
  const transferCap = can(role, "org.delete");
  const roleOptions: Role[] = role === "owner" ? ["viewer", "member", "admin"] : ["viewer", "member"];
  return (
    <div className="stack">
      <PageHeader
        title="Members"
        description="Everyone with access to this organization, and who's been invited."
        actions={
          <>
            {org.kind === "team" ? <Button onClick={() => setTransferring(true)} disabledReason={transferCap.allowed ? null : "Only the owner can transfer ownership."}>Transfer ownership</Button> : null}
            {org.kind === "team" ? <Button variant="ghost" onClick={() => setLeaving(true)} disabledReason={owner ? "The owner can't leave; transfer ownership first." : null}>Leave organization</Button> : null}
          </>
        }
      />
      {org.kind === "personal" ? <Alert tone="info">This is your personal organization. Create a team organization from the switcher to collaborate.</Alert> : null}
      <InviteCard />
      <Card title="Members" bodyClass="table-wrap">
        <QueryView query={members} isEmpty={(d) => d.data.length === 0} empty={<EmptyState title="No members" />}>
          {(d) => (
            <table>
              <thead><tr><th>Member</th><th>Role</th><th className="hide-sm">Teams</th><th className="hide-sm">Joined</th><th><span className="sr-only">Actions</span></th></tr></thead>
              <tbody>
                {d.data.map((m) => {
                  const manage = canManageMember(role, me.user.id, m);
                  return (
                    <tr key={m.user_id} data-member={m.email}>
                      <td><div className="cell-title">{m.name}{m.user_id === me.user.id ? <span className="muted"> (you)</span> : null}</div><div className="cell-sub">{m.email}</div></td>
                      <td>
                        {manage.allowed ? (
                          <select aria-label={`Role of ${m.name}`} value={m.role} style={{ width: 120 }} onChange={(e) => changeRole.mutate({ m, newRole: e.target.value as Role })}>
                            {roleOptions.map((r) => <option key={r} value={r}>{r[0]!.toUpperCase() + r.slice(1)}</option>)}
                          </select>
                        ) : <span title={manage.reason}><RoleBadge role={m.role} /></span>}
                      </td>
                      <td className="hide-sm small">{m.teams.map((t) => t.name).join(", ") || <span className="muted">—</span>}</td>
                      <td className="hide-sm">{formatDate(m.joined_at)}</td>
                      <td className="actions">
                        <Button size="sm" variant="ghost" onClick={() => setRemoving(m)} disabledReason={manage.allowed ? null : manage.reason} aria-label={`Remove ${m.name}`}>Remove</Button>
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          )}
        </QueryView>
      </Card>
      <PendingInvitations />
      {removing ? <RemoveMemberDialog member={removing} onClose={() => setRemoving(null)} /> : null}
      {transferring && members.data ? <TransferDialog members={members.data.data} onClose={() => setTransferring(false)} /> : null}
      {leaving ? (
        <ConfirmDialog title={`Leave ${org.name}?`} description="You lose access immediately, and keys you created are revoked." confirmLabel="Leave organization" onClose={() => setLeaving(false)}
          onConfirm={async () => { await api("POST", `/orgs/${org.id}/leave`); dropAllCachedData(qc); await navigate({ to: "/" }); }} />
      ) : null}
    </div>
  );
}
