/**
 * `/accept-invite?token=`: preview the invitation, then accept it. Signed in: one click. Signed out: sign in
 * or (brand-new invitee) sign up inline, and the invitation is accepted right after.
 */
import { useState } from "react";
import { Link, useNavigate, useSearch } from "@tanstack/react-router";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { api, ApiError, messageOf } from "../lib/api";
import { dropAllCachedData, rememberOrg, useMe } from "../lib/session";
import type { InvitationPreview, Org } from "../lib/types";
import { formatDate } from "../lib/format";
import { Alert, Button, Loading, RoleBadge } from "../components/ui";
import { AuthFrame, LoginForm, SignupForm } from "./auth";

export function AcceptInvitePage() {
  const { token } = useSearch({ strict: false }) as { token?: string };
  const preview = useQuery({
    queryKey: ["invitation", token],
    queryFn: () => api<InvitationPreview>("GET", `/invitations/${encodeURIComponent(token ?? "")}`),
    enabled: Boolean(token),
    retry: false,
  });
  const me = useMe();
  const [mode, setMode] = useState<"signup" | "login">("signup");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const qc = useQueryClient();
  const navigate = useNavigate();

  const accept = async () => {
    setBusy(true);
    setError(null);
    try {
      const res = await api<{ org: Org }>("POST", `/invitations/${encodeURIComponent(token!)}/accept`);
      dropAllCachedData(qc);
      rememberOrg(res.org.id);
      await navigate({ to: `/orgs/${res.org.id}` });
    } catch (e) {
      setError(messageOf(e));
      setBusy(false);
    }
  };

  if (!token) return <AuthFrame title="Invitation"><Alert>This link is missing its token. Open the whole link from your email.</Alert></AuthFrame>;
  if (preview.isPending || me.isPending) return <AuthFrame title="Invitation"><Loading /></AuthFrame>;
  if (preview.isError) {
    const gone = preview.error instanceof ApiError && preview.error.status === 410;
    return (
      <AuthFrame title={gone ? "This invitation can't be used" : "Invitation not found"} footer={<Link to="/">Go to the dashboard</Link>}>
        <Alert>{messageOf(preview.error)}</Alert>
        {gone ? <p className="muted small">Ask an admin of the organization to send you a new invitation.</p> : null}
      </AuthFrame>
    );
  }
  const inv = preview.data;
  const signedIn = me.isSuccess;
  return (
    <AuthFrame
      title={`Join ${inv.org.name}`}
      subtitle={<>{inv.invited_by} invited <strong>{inv.email}</strong> to join as <RoleBadge role={inv.role} /> · expires {formatDate(inv.expires_at)}</>}
    >
      {error ? <Alert>{error}</Alert> : null}
      {signedIn ? (
        <div className="stack">
          <p className="muted" style={{ margin: 0, textAlign: "center" }}>Signed in as <strong>{me.data.user.email}</strong></p>
          <Button variant="primary" className="btn-block" loading={busy} onClick={() => void accept()}>Accept invitation</Button>
        </div>
      ) : (
        <div className="stack">
          <div className="tabs" role="group" aria-label="Do you have an account?" style={{ alignSelf: "center" }}>
            <button type="button" className="tab" aria-pressed={mode === "signup"} onClick={() => setMode("signup")}>I'm new here</button>
            <button type="button" className="tab" aria-pressed={mode === "login"} onClick={() => setMode("login")}>I have an account</button>
          </div>
          {mode === "signup" ? <SignupForm onDone={accept} /> : <LoginForm onDone={accept} />}
        </div>
      )}
    </AuthFrame>
  );
}
