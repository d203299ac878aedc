/** The dashboard's small component kit: buttons with disabled reasons, badges, cards, fields, states. */
import { useId, type ButtonHTMLAttributes, type ReactNode } from "react";
import { messageOf } from "../lib/api";
import type { Role } from "../lib/types";

type BtnProps = ButtonHTMLAttributes<HTMLButtonElement> & {
  variant?: "primary" | "danger" | "ghost" | "default";
  size?: "sm" | "md";
  loading?: boolean;
  /** When set, the button is disabled and this one-line reason is shown (tooltip + screen-reader text). */
  disabledReason?: string | null;
};

/** A button. With `disabledReason` it is disabled and explains why, visibly and to assistive tech. */
export function Button({ variant = "default", size = "md", loading, disabledReason, className, children, disabled, ...rest }: BtnProps) {
  const reasonId = useId();
  const cls = ["btn", variant !== "default" ? `btn-${variant}` : "", size === "sm" ? "btn-sm" : "", className ?? ""].filter(Boolean).join(" ");
  const off = Boolean(disabled || loading || disabledReason);
  return (
    <>
      <button
        type="button"
        className={cls}
        disabled={off}
        title={disabledReason ?? rest.title}
        aria-describedby={disabledReason ? reasonId : undefined}
        {...rest}
      >
        {loading ? <span className="spinner" aria-hidden="true" /> : null}
        {children}
      </button>
      {disabledReason ? (
        <span id={reasonId} className="sr-only">
          {disabledReason}
        </span>
      ) : null}
    </>
  );
}

/** One-line visible explanation of why controls nearby are disabled. */
export function DisabledReason({ reason }: { reason: string | null | undefined }) {
  if (!reason) return null;
  return (
    <p className="disabled-reason" role="note">
      <LockIcon /> {reason}
    </p>
  );
}

export function Badge({ tone = "neutral", children }: { tone?: "success" | "warning" | "danger" | "neutral" | Role; children: ReactNode }) {
  return <span className={`badge badge-${tone}`}>{children}</span>;
}

export function RoleBadge({ role }: { role: Role }) {
  return <Badge tone={role}>{role[0]!.toUpperCase() + role.slice(1)}</Badge>;
}

export function Card({ title, actions, children, footer, bodyClass }: { title?: ReactNode; actions?: ReactNode; children: ReactNode; footer?: ReactNode; bodyClass?: string }) {
  return (
    <section className="card">
      {title || actions ? (
        <div className="card-header">
          {typeof title === "string" ? <h2>{title}</h2> : title}
          {actions ? <div className="row">{actions}</div> : null}
        </div>
      ) : null}
      <div className={bodyClass ?? "card-body"}>{children}</div>
      {footer ? <div className="card-footer">{footer}</div> : null}
    </section>
  );
}

export function PageHeader({ title, description, actions }: { title: string; description?: ReactNode; actions?: ReactNode }) {
  return (
    <header className="page-header">
      <div>
        <h1>{title}</h1>
        {description ? <p>{description}</p> : null}
      </div>
      {actions ? <div className="row">{actions}</div> : null}
    </header>
  );
}

/** A labelled form field; `children` receives the generated input id. */
export function Field({ label, hint, error, children }: { label: string; hint?: ReactNode; error?: string | null; children: (id: string) => ReactNode }) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children(id)}
      {hint ? <span className="hint">{hint}</span> : null}
      {error ? (
        <span className="field-error" role="alert">
          {error}
        </span>
      ) : null}
    </div>
  );
}

export function Alert({ tone = "error", children }: { tone?: "error" | "success" | "info" | "warning"; children: ReactNode }) {
  return (
    <div className={`alert alert-${tone}`} role={tone === "error" ? "alert" : "status"}>
      {children}
    </div>
  );
}

export function ErrorState({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  return (
    <div className="empty" role="alert">
      <h3>Couldn't load this</h3>
      <p>{messageOf(error)}</p>
      {onRetry ? (
        <Button size="sm" onClick={onRetry}>
          Try again
        </Button>
      ) : null}
    </div>
  );
}

export function EmptyState({ title, children, action }: { title: string; children?: ReactNode; action?: ReactNode }) {
  return (
    <div className="empty">
      <h3>{title}</h3>
      {children ? <p>{children}</p> : null}
      {action}
    </div>
  );
}

export function Loading({ rows = 3 }: { rows?: number }) {
  return (
    <div className="stack-sm" aria-busy="true" aria-label="Loading" style={{ padding: 16 }}>
      {Array.from({ length: rows }, (_, i) => (
        <div key={i} className="skeleton" style={{ width: `${90 - i * 15}%` }} />
      ))}
    </div>
  );
}

/** Renders loading / error / empty / data for one query. */
export function QueryView<T>({
  query,
  empty,
  isEmpty,
  children,
}: {
  query: { isPending: boolean; isError: boolean; error: unknown; data: T | undefined; refetch: () => unknown };
  empty?: ReactNode;
  isEmpty?: (d: T) => boolean;
  children: (d: T) => ReactNode;
}) {
  if (query.isPending) return <Loading />;
  if (query.isError) return <ErrorState error={query.error} onRetry={() => void query.refetch()} />;
  const data = query.data as T;
  if (empty && isEmpty?.(data)) return <>{empty}</>;
  return <>{children(data)}</>;
}

export function Stat({ label, value, sub }: { label: string; value: ReactNode; sub?: ReactNode }) {
  return (
    <div className="card stat">
      <div className="stat-label">{label}</div>
      <div className="stat-value">{value}</div>
      {sub ? <div className="stat-sub">{sub}</div> : null}
    </div>
  );
}

/** Spent + reserved against a limit. */
export function SpendBar({ spent, reserved, limit, label }: { spent: number; reserved: number; limit: number | null; label: string }) {
  const cap = limit && limit > 0 ? limit : Math.max(spent + reserved, 1);
  const pSpent = Math.min(100, (spent / cap) * 100);
  const pRes = Math.min(100 - pSpent, (reserved / cap) * 100);
  const ratio = limit ? (spent + reserved) / limit : 0;
  const tone = ratio >= 1 ? "over" : ratio >= 0.8 ? "warn" : "";
  return (
    <div
      className={`bar ${tone}`}
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={Math.round(pSpent + pRes)}
    >
      <div className="bar-spent" style={{ width: `${pSpent}%` }} />
      <div className="bar-reserved" style={{ width: `${pRes}%` }} />
    </div>
  );
}

const icon = (d: string) =>
  function Icon() {
    return (
      <svg viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" strokeLinejoin="round" aria-hidden="true" width="16" height="16">
        <path d={d} />
      </svg>
    );
  };
export const Icons = {
  overview: icon("M3 13h8V3H3zM13 21h8V11h-8zM3 21h8v-6H3zM13 3v6h8V3z"),
  usage: icon("M3 3v18h18M7 15l4-4 3 3 5-6"),
  keys: icon("M15 7a4 4 0 1 1-3.9 4.9L3 20v-3l2-2h2v-2h2l2.1-2.1A4 4 0 0 1 15 7z"),
  teams: icon("M17 21v-2a4 4 0 0 0-4-4H5a4 4 0 0 0-4 4v2M9 11a4 4 0 1 0 0-8 4 4 0 0 0 0 8zM23 21v-2a4 4 0 0 0-3-3.9M16 3.1a4 4 0 0 1 0 7.8"),
  members: icon("M16 21v-2a4 4 0 0 0-4-4H6a4 4 0 0 0-4 4v2M9 11a4 4 0 1 0 0-8 4 4 0 0 0 0 8zM19 8v6M22 11h-6"),
  budgets: icon("M12 2v20M17 5H9.5a3.5 3.5 0 0 0 0 7h5a3.5 3.5 0 0 1 0 7H6"),
  audit: icon("M9 11l3 3L22 4M21 12v7a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h11"),
  providers: icon("M4 4h16v6H4zM4 14h16v6H4zM8 7h.01M8 17h.01"),
  billing: icon("M1 4h22v16H1zM1 10h22"),
  settings: icon("M12 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6zM19.4 15a1.7 1.7 0 0 0 .3 1.8l.1.1a2 2 0 1 1-2.8 2.8l-.1-.1a1.7 1.7 0 0 0-1.8-.3 1.7 1.7 0 0 0-1 1.5V21a2 2 0 1 1-4 0v-.1a1.7 1.7 0 0 0-1.1-1.5 1.7 1.7 0 0 0-1.8.3l-.1.1a2 2 0 1 1-2.8-2.8l.1-.1a1.7 1.7 0 0 0 .3-1.8 1.7 1.7 0 0 0-1.5-1H3a2 2 0 1 1 0-4h.1a1.7 1.7 0 0 0 1.5-1.1 1.7 1.7 0 0 0-.3-1.8l-.1-.1a2 2 0 1 1 2.8-2.8l.1.1a1.7 1.7 0 0 0 1.8.3H9a1.7 1.7 0 0 0 1-1.5V3a2 2 0 1 1 4 0v.1a1.7 1.7 0 0 0 1 1.5 1.7 1.7 0 0 0 1.8-.3l.1-.1a2 2 0 1 1 2.8 2.8l-.1.1a1.7 1.7 0 0 0-.3 1.8V9a1.7 1.7 0 0 0 1.5 1H21a2 2 0 1 1 0 4h-.1a1.7 1.7 0 0 0-1.5 1z"),
  guardrails: icon("M12 2l8 4v6c0 5-3.5 9-8 10-4.5-1-8-5-8-10V6z"),
  webhooks: icon("M18 16.1a3 3 0 1 1-2.6 4.4M6 16a3 3 0 1 1 2.6-4.5L12 5.9M12 3a3 3 0 0 1 2.6 4.5L18 13"),
  prompts: icon("M4 4h16v12H8l-4 4zM8 8h8M8 12h5"),
  events: icon("M8 6h13M8 12h13M8 18h13M3 6h.01M3 12h.01M3 18h.01"),
  token: icon("M12 2l8 4v6c0 5-3.5 8.5-8 10-4.5-1.5-8-5-8-10V6z"),
  mail: icon("M4 4h16v16H4zM22 6l-10 7L2 6"),
  chevron: icon("M7 10l5 5 5-5"),
  menu: icon("M3 6h18M3 12h18M3 18h18"),
  plus: icon("M12 5v14M5 12h14"),
  copy: icon("M9 9h11v11H9zM5 15H4V4h11v1"),
  check: icon("M20 6L9 17l-5-5"),
};

export function LockIcon() {
  return (
    <svg viewBox="0 0 24 24" width="12" height="12" fill="none" stroke="currentColor" strokeWidth="2" aria-hidden="true">
      <rect x="5" y="11" width="14" height="10" rx="2" />
      <path d="M8 11V7a4 4 0 0 1 8 0v4" />
    </svg>
  );
}
