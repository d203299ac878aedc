/**
 * The signed-in user's account: live sessions (revoke one, or every other) and password change, which
 * signs out every other session. Backed by `/api/me/sessions` and `/api/me/password` (docs/auth.md).
 */
import { useState, type FormEvent } from "react";
import { Link } from "@tanstack/react-router";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, ApiError, messageOf } from "../lib/api";
import { formatDateTime } from "../lib/format";
import { Alert, Badge, Button, Card, EmptyState, Field, PageHeader, QueryView } from "../components/ui";

type Session = { id: string; created_at: string; expires_at: string; ip: string | null; user_agent: string | null; current: boolean };

const SESSIONS_KEY = ["me", "sessions"] as const;

function SessionsCard() {
  const qc = useQueryClient();
  const sessions = useQuery({ queryKey: SESSIONS_KEY, queryFn: () => api<{ data: Session[] }>("GET", "/me/sessions") });
  const [notice, setNotice] = useState<string | null>(null);
  const revokeOne = useMutation({
    mutationFn: (id: string) => api<{ ok: true }>("DELETE", `/me/sessions/${encodeURIComponent(id)}`),
    onSuccess: () => setNotice("Session signed out."),
    onSettled: () => qc.invalidateQueries({ queryKey: SESSIONS_KEY }),
  });
  const revokeOthers = useMutation({
    mutationFn: () => api<{ revoked: number }>("DELETE", "/me/sessions"),
    onSuccess: (r) => setNotice(`${r.revoked} other session${r.revoked === 1 ? "" : "s"} signed out.`),
    onSettled: () => qc.invalidateQueries({ queryKey: SESSIONS_KEY }),
  });
  const error = revokeOne.error ?? revokeOthers.error;
  const others = sessions.data?.data.filter((s) => !s.current).length ?? 0;
  return (
    <Card
      title="Sessions"
      actions={<Button size="sm" variant="danger" loading={revokeOthers.isPending} disabledReason={others === 0 ? "No other sessions" : null} onClick={() => revokeOthers.mutate()}>Sign out all other sessions</Button>}
      bodyClass=""
    >
      {notice ? <div className="card-body"><Alert tone="success">{notice}</Alert></div> : null}
      {error ? <div className="card-body"><Alert>{messageOf(error)}</Alert></div> : null}
      <QueryView query={sessions} isEmpty={(d) => d.data.length === 0} empty={<EmptyState title="No live sessions" />}>
        {(d) => (
          <table className="table" aria-label="Sessions">
            <thead><tr><th>Device</th><th>IP</th><th>Signed in</th><th>Expires</th><th /></tr></thead>
            <tbody>
              {d.data.map((s) => (
                <tr key={s.id} data-session-id={s.id}>
                  <td><div className="cell-title">{s.user_agent ?? "Unknown device"}</div>{s.current ? <Badge tone="success">This session</Badge> : null}</td>
                  <td>{s.ip ?? "—"}</td>
                  <td>{formatDateTime(s.created_at)}</td>
                  <td>{formatDateTime(s.expires_at)}</td>
                  <td style={{ textAlign: "right" }}>
                    {s.current ? null : (
                      <Button size="sm" loading={revokeOne.isPending && revokeOne.variables === s.id} onClick={() => revokeOne.mutate(s.id)}>Sign out</Button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </QueryView>
    </Card>
  );
}

function PasswordCard() {
  const qc = useQueryClient();
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [done, setDone] = useState<string | null>(null);
  const change = useMutation({
    mutationFn: () => api<{ ok: true; revoked_sessions: number }>("POST", "/me/password", { current_password: current, new_password: next }),
    onSuccess: (r) => {
      setCurrent("");
      setNext("");
      setDone(`Password changed. ${r.revoked_sessions} other session${r.revoked_sessions === 1 ? "" : "s"} signed out.`);
      void qc.invalidateQueries({ queryKey: SESSIONS_KEY });
    },
  });
  const err = change.error;
  const fieldError = (param: string) => (err instanceof ApiError && err.param === param ? err.message : null);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setDone(null);
    change.mutate();
  };
  return (
    <Card title="Change password">
      <form className="stack" onSubmit={submit} aria-label="Change password">
        {done ? <Alert tone="success">{done}</Alert> : null}
        {err && !fieldError("current_password") && !fieldError("new_password") ? <Alert>{messageOf(err)}</Alert> : null}
        <Field label="Current password" error={fieldError("current_password")}>{(id) => <input id={id} type="password" autoComplete="current-password" value={current} onChange={(e) => setCurrent(e.target.value)} />}</Field>
        <Field label="New password" hint="At least 10 characters. Every other session is signed out." error={fieldError("new_password")}>
          {(id) => <input id={id} type="password" autoComplete="new-password" value={next} onChange={(e) => setNext(e.target.value)} />}
        </Field>
        <div><Button type="submit" variant="primary" loading={change.isPending}>Change password</Button></div>
      </form>
    </Card>
  );
}

export function AccountPage() {
  return (
    <main className="content stack">
      <PageHeader title="Account" description="Where you are signed in, and your password." actions={<Link to="/" className="btn">Back to dashboard</Link>} />
      <SessionsCard />
      <PasswordCard />
    </main>
  );
}
