/**
 * Management tokens (`tgm_…`, docs/auth.md): automation credentials for the control-plane API. Admins and owners
 * list, create (role capped by their own, never owner; optional expiry; the token shown once) and revoke them.
 */
import { useState } from "react";
import { useInfiniteQuery, useMutation, useQueryClient } from "@tanstack/react-query";
import { api, messageOf } from "../lib/api";
import { orgKey, useOrg } from "../lib/session";
import { useMembers } from "../lib/queries";
import { can, roleRank } from "../lib/permissions";
import { formatDate, formatDateTime, formatRelative, isoDay } from "../lib/format";
import type { CreatedManagementToken, ManagementToken, Page, Role } from "../lib/types";
import { ConfirmDialog, Dialog } from "../components/dialog";
import { Alert, Badge, Button, Card, DisabledReason, EmptyState, Field, Icons, Loading, PageHeader, RoleBadge } from "../components/ui";
import { useToast } from "../components/toast";

const TOKEN_ROLES: Array<Exclude<Role, "owner">> = ["admin", "member", "viewer"];
const DAY = 86_400_000;

type Status = "active" | "revoked" | "expired";
const statusOf = (t: ManagementToken, now = Date.now()): Status => (t.revoked_at ? "revoked" : t.expires_at && Date.parse(t.expires_at) <= now ? "expired" : "active");
const STATUS_TONE = { active: "success", revoked: "danger", expired: "warning" } as const;

function CreateTokenDialog({ onClose, onCreated }: { onClose: () => void; onCreated: (t: CreatedManagementToken) => void }) {
  const { org, role } = useOrg();
  const allowed = TOKEN_ROLES.filter((r) => roleRank(r) <= roleRank(role));
  const [name, setName] = useState("");
  const [tokenRole, setTokenRole] = useState<Exclude<Role, "owner">>(allowed.includes("member") ? "member" : allowed[allowed.length - 1]!);
  const [expires, setExpires] = useState(isoDay(new Date(Date.now() + 90 * DAY)));
  const [error, setError] = useState<string | null>(null);
  const create = useMutation({
    mutationFn: () =>
      api<CreatedManagementToken>("POST", `/orgs/${org.id}/management-tokens`, {
        name: name.trim(), role: tokenRole, ...(expires ? { expires_at: new Date(`${expires}T23:59:59Z`).toISOString() } : {}),
      }),
    onSuccess: onCreated,
    onError: (e) => setError(messageOf(e)),
  });
  const submit = (e: React.FormEvent) => {
    e.preventDefault();
    if (!name.trim()) return setError("Give the token a name, e.g. the automation that uses it");
    setError(null);
    create.mutate();
  };
  return (
    <Dialog title="Create management token" description="For scripts and CI against the Tollgate API. You'll see the token once." onClose={onClose}>
      <form className="stack" onSubmit={submit} noValidate>
        <Field label="Name">{(id) => <input id={id} type="text" maxLength={100} value={name} placeholder="terraform-ci" onChange={(e) => setName(e.target.value)} />}</Field>
        <div className="form-grid">
          <Field label="Role" hint={`At most your own role (${role}); never owner. Its rights also never exceed yours later.`}>
            {(id) => (
              <select id={id} value={tokenRole} onChange={(e) => setTokenRole(e.target.value as Exclude<Role, "owner">)}>
                {allowed.map((r) => <option key={r} value={r}>{r[0]!.toUpperCase() + r.slice(1)}</option>)}
              </select>
            )}
          </Field>
          <Field label="Expires on" hint="UTC end of day, within 5 years. Empty: never expires.">
            {(id) => <input id={id} type="date" value={expires} min={isoDay(new Date(Date.now() + DAY))} max={isoDay(new Date(Date.now() + 5 * 365 * DAY))} onChange={(e) => setExpires(e.target.value)} />}
          </Field>
        </div>
        {error ? <Alert>{error}</Alert> : null}
        <div className="row" style={{ justifyContent: "flex-end" }}>
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" variant="primary" loading={create.isPending}>Create token</Button>
        </div>
      </form>
    </Dialog>
  );
}

function TokenSecretDialog({ created, onClose }: { created: CreatedManagementToken; onClose: () => void }) {
  const [copied, setCopied] = useState(false);
  const toast = useToast();
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(created.token);
      setCopied(true);
    } catch {
      // Clipboard blocked (permissions, insecure context): select the token so Ctrl/Cmd+C works.
      const el = document.querySelector("[data-testid=new-management-token]");
      if (el) window.getSelection()?.selectAllChildren(el);
      toast("Copy blocked by the browser: the token is selected, press Ctrl+C", "error");
    }
  };
  return (
    <Dialog title="Save your management token" description={<>This is the only time <strong>{created.name}</strong> is shown in full. Send it as <code>Authorization: Bearer …</code>.</>}
      onClose={onClose} footer={<Button variant="primary" onClick={onClose}>I've saved it</Button>}>
      <div className="secret-box">
        <code data-testid="new-management-token">{created.token}</code>
        <Button size="sm" onClick={() => void copy()} aria-label={copied ? "Management token copied" : "Copy management token to clipboard"}>{copied ? <><Icons.check /> Copied</> : <><Icons.copy /> Copy</>}</Button>
      </div>
      <Alert tone="warning">Tollgate stores only a hash of this token. If you lose it, revoke it and create a new one.</Alert>
    </Dialog>
  );
}

export function TokensPage() {
  const { org, role } = useOrg();
  const cap = can(role, "tokens.manage");
  const qc = useQueryClient();
  const toast = useToast();
  const members = useMembers(org.id);
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<CreatedManagementToken | null>(null);
  const [revoking, setRevoking] = useState<ManagementToken | null>(null);
  // Below admin the API refuses the list (403), so it is not requested.
  const tokens = useInfiniteQuery({
    queryKey: orgKey(org.id, "management-tokens"),
    queryFn: ({ pageParam }) => api<Page<ManagementToken>>("GET", `/orgs/${org.id}/management-tokens?limit=50${pageParam ? `&cursor=${encodeURIComponent(pageParam)}` : ""}`),
    initialPageParam: "",
    getNextPageParam: (p) => p.next_cursor ?? undefined,
    enabled: cap.allowed,
  });
  const rows = tokens.data?.pages.flatMap((p) => p.data) ?? [];
  const creatorName = (t: ManagementToken) => {
    const m = members.data?.data.find((x) => x.user_id === t.created_by);
    if (m) return m.name;
    const parent = rows.find((x) => x.id === t.created_by);
    return parent ? `token ${parent.name}` : t.created_by;
  };
  return (
    <div className="stack">
      <PageHeader title="Management tokens" description="Bearer tokens (tgm_…) for automating this org through the API: keys, budgets, members, settings."
        actions={<Button variant="primary" onClick={() => setCreating(true)} disabledReason={cap.allowed ? null : cap.reason}><Icons.plus /> Create token</Button>} />
      <DisabledReason reason={cap.allowed ? null : cap.reason} />
      <Card bodyClass="table-wrap">
        {!cap.allowed ? (
          <EmptyState title="Only admins and owners see management tokens">The list, creating and revoking tokens are limited to admins and owners of this org.</EmptyState>
        ) : tokens.isPending ? <Loading /> : tokens.isError ? (
          <div className="card-body"><Alert>{messageOf(tokens.error)}</Alert></div>
        ) : rows.length === 0 ? (
          <EmptyState title="No management tokens">Create one for a script or CI job that manages this org.</EmptyState>
        ) : (
          <table data-testid="tokens-table">
            <thead><tr><th>Name</th><th>Role</th><th>Status</th><th className="hide-sm">Created</th><th className="hide-sm">Expires</th><th className="hide-sm">Last used</th><th><span className="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {rows.map((t) => {
                const status = statusOf(t);
                return (
                  <tr key={t.id} data-token-id={t.id}>
                    <td><div className="cell-title">{t.name}</div><div className="cell-sub mono">{t.hint}</div></td>
                    <td><RoleBadge role={t.role} /></td>
                    <td><Badge tone={STATUS_TONE[status]}>{status}</Badge>{t.revoked_at ? <div className="cell-sub">{formatDate(t.revoked_at)}</div> : null}</td>
                    <td className="hide-sm"><div>{formatDate(t.created_at)}</div><div className="cell-sub">by {creatorName(t)}</div></td>
                    <td className="hide-sm">{t.expires_at ? <span title={formatDateTime(t.expires_at)}>{formatRelative(t.expires_at)}</span> : <span className="muted">Never</span>}</td>
                    <td className="hide-sm">{t.last_used_at ? formatRelative(t.last_used_at) : <span className="muted">Never</span>}</td>
                    <td className="actions">
                      <Button size="sm" variant="ghost" onClick={() => setRevoking(t)} disabledReason={status === "active" ? null : "This token no longer works."} aria-label={`Revoke ${t.name}`}>Revoke</Button>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </Card>
      {tokens.hasNextPage ? <div><Button loading={tokens.isFetchingNextPage} onClick={() => void tokens.fetchNextPage()}>Load more</Button></div> : null}
      {creating ? <CreateTokenDialog onClose={() => setCreating(false)} onCreated={(t) => { setCreating(false); setCreated(t); void qc.invalidateQueries({ queryKey: orgKey(org.id, "management-tokens") }); }} /> : null}
      {created ? <TokenSecretDialog created={created} onClose={() => setCreated(null)} /> : null}
      {revoking ? (
        <ConfirmDialog title={`Revoke ${revoking.name}?`} description="Requests with this token fail from the next call on. This can't be undone." confirmLabel="Revoke token"
          onClose={() => setRevoking(null)}
          onConfirm={async () => {
            await api("POST", `/orgs/${org.id}/management-tokens/${revoking.id}/revoke`);
            await qc.invalidateQueries({ queryKey: orgKey(org.id, "management-tokens") });
            toast(`${revoking.name} revoked`);
          }} />
      ) : null}
    </div>
  );
}
