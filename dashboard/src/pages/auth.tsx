/** Signed-out pages: sign up, log in, forgot / reset password, verify email. */
import { useEffect, useState, type ReactNode } from "react";
import { Link, useNavigate, useSearch } from "@tanstack/react-router";
import { useQueryClient } from "@tanstack/react-query";
import { api, messageOf } from "../lib/api";
import { emailSchema, loginSchema, newPasswordSchema, signupSchema } from "../lib/schemas";
import { dropAllCachedData, meQueryKey } from "../lib/session";
import type { Me } from "../lib/types";
import { Alert, Button, Card, Field } from "../components/ui";

export function AuthFrame({ title, subtitle, children, footer }: { title: string; subtitle?: ReactNode; children: ReactNode; footer?: ReactNode }) {
  return (
    <main className="auth">
      <div className="auth-card stack">
        <div className="brand" style={{ justifyContent: "center" }}><span className="brand-mark" aria-hidden="true">T</span>Tollgate</div>
        <Card>
          <div className="auth-title">
            <h1>{title}</h1>
            {subtitle ? <p>{subtitle}</p> : null}
          </div>
          {children}
        </Card>
        {footer ? <p className="muted" style={{ textAlign: "center", margin: 0 }}>{footer}</p> : null}
      </div>
    </main>
  );
}

/** Where to go after signing in: a same-app path from `?redirect=`, else home. */
function safeRedirect(r: unknown): string {
  return typeof r === "string" && r.startsWith("/") && !r.startsWith("//") ? r : "/";
}

type FormProps = { redirect?: string; lockedEmail?: string; onDone?: (me: Me) => void | Promise<void> };

/** Sign-up form, also embedded in the invitation page for brand-new users. */
export function SignupForm({ redirect, lockedEmail, onDone }: FormProps) {
  const [name, setName] = useState("");
  const [email, setEmail] = useState(lockedEmail ?? "");
  const [password, setPassword] = useState("");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const qc = useQueryClient();
  const navigate = useNavigate();
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    const parsed = signupSchema.safeParse({ name, email, password });
    if (!parsed.success) {
      setErrors(Object.fromEntries(parsed.error.issues.map((i) => [String(i.path[0]), i.message])));
      return;
    }
    setErrors({});
    setBusy(true);
    try {
      const me = await api<Me>("POST", "/auth/signup", parsed.data);
      dropAllCachedData(qc);
      qc.setQueryData(meQueryKey, me);
      if (onDone) await onDone(me);
      else await navigate({ to: safeRedirect(redirect) });
    } catch (err) {
      setErrors({ form: messageOf(err) });
      setBusy(false);
    }
  };
  return (
    <form className="stack" onSubmit={submit} noValidate>
      <Field label="Full name" error={errors.name}>{(id) => <input id={id} type="text" autoComplete="name" value={name} onChange={(e) => setName(e.target.value)} />}</Field>
      <Field label="Work email" error={errors.email}>
        {(id) => <input id={id} type="email" autoComplete="email" value={email} readOnly={Boolean(lockedEmail)} onChange={(e) => setEmail(e.target.value)} />}
      </Field>
      <Field label="Password" hint="At least 10 characters." error={errors.password}>
        {(id) => <input id={id} type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} />}
      </Field>
      {errors.form ? <Alert>{errors.form}</Alert> : null}
      <Button type="submit" variant="primary" className="btn-block" loading={busy}>Create account</Button>
    </form>
  );
}

export function LoginForm({ redirect, onDone, lockedEmail }: FormProps) {
  const [email, setEmail] = useState(lockedEmail ?? "");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const qc = useQueryClient();
  const navigate = useNavigate();
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    const parsed = loginSchema.safeParse({ email, password });
    if (!parsed.success) return setError(parsed.error.issues[0]!.message);
    setError(null);
    setBusy(true);
    try {
      const me = await api<Me>("POST", "/auth/login", parsed.data);
      dropAllCachedData(qc);
      qc.setQueryData(meQueryKey, me);
      if (onDone) await onDone(me);
      else await navigate({ to: safeRedirect(redirect) });
    } catch (err) {
      setError(messageOf(err));
      setBusy(false);
    }
  };
  return (
    <form className="stack" onSubmit={submit} noValidate>
      <Field label="Email">{(id) => <input id={id} type="email" autoComplete="email" value={email} onChange={(e) => setEmail(e.target.value)} />}</Field>
      <Field label="Password">{(id) => <input id={id} type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} />}</Field>
      {error ? <Alert>{error}</Alert> : null}
      <Button type="submit" variant="primary" className="btn-block" loading={busy}>Sign in</Button>
    </form>
  );
}

export function LoginPage() {
  const search = useSearch({ strict: false }) as { redirect?: string };
  return (
    <AuthFrame title="Welcome back" subtitle="Sign in to your Tollgate workspace" footer={<>New to Tollgate? <Link to="/signup" search={{ redirect: search.redirect }}>Create an account</Link></>}>
      <LoginForm redirect={search.redirect} />
      <p className="small" style={{ textAlign: "center", margin: 0 }}><Link to="/forgot-password">Forgot your password?</Link></p>
    </AuthFrame>
  );
}

export function SignupPage() {
  const search = useSearch({ strict: false }) as { redirect?: string };
  return (
    <AuthFrame title="Create your account" subtitle="Virtual keys, budgets and exact cost for every LLM call" footer={<>Already have an account? <Link to="/login" search={{ redirect: search.redirect }}>Sign in</Link></>}>
      <SignupForm redirect={search.redirect} />
    </AuthFrame>
  );
}

export function ForgotPasswordPage() {
  const [email, setEmail] = useState("");
  const [state, setState] = useState<"idle" | "busy" | "sent">("idle");
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    const parsed = emailSchema.safeParse(email);
    if (!parsed.success) return setError(parsed.error.issues[0]!.message);
    setError(null);
    setState("busy");
    try {
      await api("POST", "/auth/password-reset/request", { email: parsed.data });
      setState("sent");
    } catch (err) {
      setError(messageOf(err));
      setState("idle");
    }
  };
  return (
    <AuthFrame title="Reset your password" subtitle="We'll email you a link to choose a new one" footer={<Link to="/login">Back to sign in</Link>}>
      {state === "sent" ? (
        <Alert tone="success">If {email} has an account, a reset link is on its way. It expires in one hour.</Alert>
      ) : (
        <form className="stack" onSubmit={submit} noValidate>
          <Field label="Email">{(id) => <input id={id} type="email" autoComplete="email" value={email} onChange={(e) => setEmail(e.target.value)} />}</Field>
          {error ? <Alert>{error}</Alert> : null}
          <Button type="submit" variant="primary" className="btn-block" loading={state === "busy"}>Send reset link</Button>
        </form>
      )}
    </AuthFrame>
  );
}

export function ResetPasswordPage() {
  const { token } = useSearch({ strict: false }) as { token?: string };
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [state, setState] = useState<"idle" | "busy" | "done">("idle");
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    const parsed = newPasswordSchema.safeParse(password);
    if (!parsed.success) return setError(parsed.error.issues[0]!.message);
    setError(null);
    setState("busy");
    try {
      await api("POST", "/auth/password-reset", { token, password });
      setState("done");
    } catch (err) {
      setError(messageOf(err));
      setState("idle");
    }
  };
  if (!token) return <AuthFrame title="Reset your password"><Alert>This link is missing its token. <Link to="/forgot-password">Request a new link</Link>.</Alert></AuthFrame>;
  return (
    <AuthFrame title="Choose a new password" subtitle="You'll be signed out everywhere else" footer={<Link to="/login">Back to sign in</Link>}>
      {state === "done" ? (
        <Alert tone="success">Password updated. <Link to="/login">Sign in with your new password</Link>.</Alert>
      ) : (
        <form className="stack" onSubmit={submit} noValidate>
          <Field label="New password" hint="At least 10 characters.">{(id) => <input id={id} type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} />}</Field>
          {error ? <Alert>{error}</Alert> : null}
          <Button type="submit" variant="primary" className="btn-block" loading={state === "busy"}>Update password</Button>
        </form>
      )}
    </AuthFrame>
  );
}

export function VerifyEmailPage() {
  const { token } = useSearch({ strict: false }) as { token?: string };
  const [state, setState] = useState<{ kind: "busy" } | { kind: "ok" } | { kind: "error"; message: string }>({ kind: "busy" });
  const qc = useQueryClient();
  useEffect(() => {
    if (!token) return setState({ kind: "error", message: "This link is missing its token." });
    let live = true;
    api("POST", "/auth/verify-email", { token })
      .then(() => live && (setState({ kind: "ok" }), void qc.invalidateQueries({ queryKey: meQueryKey })))
      .catch((e) => live && setState({ kind: "error", message: messageOf(e) }));
    return () => {
      live = false;
    };
  }, [token, qc]);
  return (
    <AuthFrame title="Verify your email">
      {state.kind === "busy" ? <p className="muted" style={{ textAlign: "center" }}><span className="spinner" aria-hidden="true" /> Verifying…</p> : null}
      {state.kind === "ok" ? <Alert tone="success">Your email address is verified. <Link to="/">Continue to the dashboard</Link>.</Alert> : null}
      {state.kind === "error" ? <Alert>{state.message}</Alert> : null}
    </AuthFrame>
  );
}
