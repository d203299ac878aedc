/**
 * The signed-in shell: sidebar (the org's brand, org switcher, navigation), top bar (page context, user menu).
 * The org's branding (display name, logo, accent colour) comes from its settings; in single-org mode there
 * is no switcher and no "Create organization".
 */
import { CreditsSidebarBalance } from "../pages/credits";
import { useEffect, useRef, useState, type CSSProperties, type ReactNode } from "react";
import { Link, useNavigate, useRouterState } from "@tanstack/react-router";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, messageOf } from "../lib/api";
import { dropAllCachedData, orgKey, rememberOrg, useOrg } from "../lib/session";
import { orgNameSchema, slugify, slugSchema } from "../lib/schemas";
import type { Org, OrgSettings } from "../lib/types";
import { Dialog } from "./dialog";
import { Alert, Button, Field, Icons, RoleBadge } from "./ui";
import { useToast } from "./toast";
import { PlanLimitBanner } from "./plan-banner";

const NAV: Array<{ to: string; label: string; icon: () => ReactNode; section?: string }> = [
  { to: "", label: "Overview", icon: Icons.overview },
  { to: "usage", label: "Usage", icon: Icons.usage },
  { to: "cost-events", label: "Cost events", icon: Icons.events },
  { to: "keys", label: "API keys", icon: Icons.keys, section: "Build" },
  { to: "budgets", label: "Budgets & limits", icon: Icons.budgets },
  { to: "providers", label: "Providers & pricing", icon: Icons.providers },
  { to: "prompts", label: "Prompts", icon: Icons.prompts },
  { to: "webhooks", label: "Webhooks", icon: Icons.webhooks },
  { to: "guardrails", label: "Guardrails", icon: Icons.guardrails },
  { to: "teams", label: "Teams", icon: Icons.teams, section: "Organization" },
  { to: "members", label: "Members", icon: Icons.members },
  { to: "tokens", label: "Management tokens", icon: Icons.token },
  { to: "audit", label: "Audit trail", icon: Icons.audit },
  { to: "billing", label: "Billing", icon: Icons.billing },
  { to: "settings", label: "Settings", icon: Icons.settings },
];

function initials(s: string) {
  return s.split(/[\s@._-]+/).filter(Boolean).slice(0, 2).map((w) => w[0]!.toUpperCase()).join("") || "?";
}

/** Closes a popover on outside click and Escape. */
function usePopover() {
  const [open, setOpen] = useState(false);
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    const onDown = (e: MouseEvent) => ref.current && !ref.current.contains(e.target as Node) && setOpen(false);
    const onKey = (e: KeyboardEvent) => e.key === "Escape" && setOpen(false);
    document.addEventListener("mousedown", onDown);
    document.addEventListener("keydown", onKey);
    return () => {
      document.removeEventListener("mousedown", onDown);
      document.removeEventListener("keydown", onKey);
    };
  }, [open]);
  return { open, setOpen, ref };
}

function CreateOrgDialog({ onClose }: { onClose: () => void }) {
  const [name, setName] = useState("");
  const [slug, setSlug] = useState("");
  const [slugTouched, setSlugTouched] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const qc = useQueryClient();
  const navigate = useNavigate();
  const effectiveSlug = slugTouched ? slug : slugify(name);
  const create = useMutation({
    mutationFn: () => api<Org>("POST", "/orgs", { name: name.trim(), slug: effectiveSlug }),
    onSuccess: async (org) => {
      dropAllCachedData(qc);
      rememberOrg(org.id);
      onClose();
      await navigate({ to: "/orgs/$orgId", params: { orgId: org.id } });
    },
    onError: (e) => setError(messageOf(e)),
  });
  const submit = (e: React.FormEvent) => {
    e.preventDefault();
    const n = orgNameSchema.safeParse(name);
    const s = slugSchema.safeParse(effectiveSlug);
    if (!n.success) return setError(n.error.issues[0]!.message);
    if (!s.success) return setError(s.error.issues[0]!.message);
    setError(null);
    create.mutate();
  };
  return (
    <Dialog title="Create a team organization" description="A shared workspace with its own keys, budgets, members and bill. You'll be its owner." onClose={onClose}>
      <form className="stack" onSubmit={submit}>
        <Field label="Organization name">{(id) => <input id={id} type="text" value={name} onChange={(e) => setName(e.target.value)} placeholder="Acme Inc." autoComplete="organization" />}</Field>
        <Field label="Slug" hint="URL-safe identifier; also what you type to delete the org.">
          {(id) => <input id={id} type="text" value={effectiveSlug} onChange={(e) => { setSlugTouched(true); setSlug(e.target.value); }} placeholder="acme-inc" />}
        </Field>
        {error ? <Alert>{error}</Alert> : null}
        <div className="row" style={{ justifyContent: "flex-end" }}>
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" variant="primary" loading={create.isPending}>Create organization</Button>
        </div>
      </form>
    </Dialog>
  );
}

/** The selected org's branding, from its settings (readable by every role; shares the Settings page's cache entry). */
function useBranding(orgId: string) {
  const q = useQuery({ queryKey: orgKey(orgId, "settings"), queryFn: () => api<OrgSettings>("GET", `/orgs/${orgId}/settings`), staleTime: 60_000 });
  return q.data?.branding ?? null;
}

/** Overrides the accent CSS variables with the org's colour (validated `#rrggbb` by the API). */
function accentStyle(accent: string | null | undefined): CSSProperties | undefined {
  if (!accent || !/^#[0-9a-fA-F]{6}$/.test(accent)) return undefined;
  return {
    "--accent": accent,
    "--accent-hover": `color-mix(in srgb, ${accent} 85%, black)`,
    "--accent-soft": `color-mix(in srgb, ${accent} 12%, white)`,
  } as CSSProperties;
}

/** Single-org mode: the one org, shown without a menu. */
function OrgLabel() {
  const { org } = useOrg();
  return (
    <div className="switcher-btn static" data-testid="org-label">
      <span className="avatar" aria-hidden="true">{initials(org.name)}</span>
      <span className="switcher-name">
        {org.name}
        <span className="cell-sub" style={{ display: "block", fontWeight: 400 }}>{org.plan[0]!.toUpperCase() + org.plan.slice(1)}</span>
      </span>
    </div>
  );
}

function OrgSwitcher() {
  const { org, me } = useOrg();
  const { open, setOpen, ref } = usePopover();
  const [creating, setCreating] = useState(false);
  const qc = useQueryClient();
  const navigate = useNavigate();
  const switchTo = async (orgId: string) => {
    setOpen(false);
    if (orgId === org.id) return;
    dropAllCachedData(qc);
    rememberOrg(orgId);
    await navigate({ to: "/orgs/$orgId", params: { orgId } });
  };
  const personal = me.memberships.filter((m) => m.org.kind === "personal");
  const teams = me.memberships.filter((m) => m.org.kind === "team");
  return (
    <div className="switcher" ref={ref}>
      <button type="button" className="switcher-btn" aria-haspopup="menu" aria-expanded={open} aria-label={`Organization: ${org.name}. Switch organization`} onClick={() => setOpen(!open)}>
        <span className="avatar" aria-hidden="true">{initials(org.name)}</span>
        <span className="switcher-name">
          {org.name}
          <span className="cell-sub" style={{ display: "block", fontWeight: 400 }}>{org.kind === "personal" ? "Personal" : "Team"} · {org.plan[0]!.toUpperCase() + org.plan.slice(1)}</span>
        </span>
        <Icons.chevron />
      </button>
      {open ? (
        <div className="popover" role="menu" aria-label="Organizations">
          {[["Personal", personal], ["Teams", teams]].map(([label, list]) =>
            (list as typeof personal).length ? (
              <div key={label as string}>
                <div className="popover-label">{label as string}</div>
                {(list as typeof personal).map((m) => (
                  <button key={m.org.id} type="button" role="menuitemradio" aria-checked={m.org.id === org.id} className="popover-item" onClick={() => void switchTo(m.org.id)}>
                    <span className="avatar" aria-hidden="true">{initials(m.org.name)}</span>
                    <span style={{ flex: 1 }}>{m.org.name}</span>
                    {m.org.id === org.id ? <Icons.check /> : <RoleBadge role={m.role} />}
                  </button>
                ))}
              </div>
            ) : null,
          )}
          <div className="popover-sep" />
          <button type="button" role="menuitem" className="popover-item" onClick={() => { setOpen(false); setCreating(true); }}>
            <Icons.plus /> Create organization
          </button>
        </div>
      ) : null}
      {creating ? <CreateOrgDialog onClose={() => setCreating(false)} /> : null}
    </div>
  );
}

function UserMenu() {
  const { me, role } = useOrg();
  const { open, setOpen, ref } = usePopover();
  const qc = useQueryClient();
  const navigate = useNavigate();
  const toast = useToast();
  const logout = async () => {
    try {
      await api("POST", "/auth/logout");
    } catch (e) {
      toast(messageOf(e), "error");
    }
    dropAllCachedData(qc);
    await navigate({ to: "/login" });
  };
  return (
    <div className="switcher" ref={ref}>
      <button type="button" className="btn btn-ghost" aria-haspopup="menu" aria-expanded={open} aria-label={`Account menu for ${me.user.email}`} onClick={() => setOpen(!open)}>
        <span className="avatar round" aria-hidden="true">{initials(me.user.name || me.user.email)}</span>
        <span className="hide-sm">{me.user.name}</span>
      </button>
      {open ? (
        <div className="popover right" role="menu" aria-label="Account">
          <div style={{ padding: "8px" }}>
            <div className="cell-title">{me.user.name}</div>
            <div className="cell-sub">{me.user.email}</div>
            <div style={{ marginTop: 6 }}><RoleBadge role={role} /></div>
          </div>
          <div className="popover-sep" />
          <Link to="/account" className="popover-item" role="menuitem">Account &amp; sessions</Link>
          <Link to="/dev/outbox" className="popover-item" role="menuitem">Email outbox (dev)</Link>
          <button type="button" role="menuitem" className="popover-item" onClick={() => void logout()}>Sign out</button>
        </div>
      ) : null}
    </div>
  );
}

/** The app frame around every org page. */
export function AppShell({ children }: { children: ReactNode }) {
  const { org, me } = useOrg();
  const branding = useBranding(org.id);
  const brandName = branding?.display_name || "Tollgate";
  const [navOpen, setNavOpen] = useState(false);
  const pathname = useRouterState({ select: (s) => s.location.pathname });
  useEffect(() => setNavOpen(false), [pathname]);
  const base = `/orgs/${org.id}`;
  const current = NAV.find((n) => (n.to ? pathname.startsWith(`${base}/${n.to}`) : pathname === base || pathname === `${base}/`));
  return (
    <div className="shell" style={accentStyle(branding?.accent_color)}>
      <aside className={`sidebar ${navOpen ? "open" : ""}`} aria-label="Sidebar">
        <div className="brand" data-testid="brand">
          {branding?.logo_url ? <img className="brand-logo" src={branding.logo_url} alt={`${brandName} logo`} /> : <span className="brand-mark" aria-hidden="true">{initials(brandName).slice(0, 1)}</span>}
          <span className="brand-name">{brandName}</span>
        </div>
        {me.org_mode === "single" ? <OrgLabel /> : <OrgSwitcher />}
        <nav className="nav" aria-label="Main">
          {NAV.map((n) => (
            <div key={n.to}>
              {n.section ? <div className="nav-section">{n.section}</div> : null}
              <Link to={n.to ? `${base}/${n.to}` : base} activeOptions={{ exact: !n.to }} className={current === n ? "active" : ""} aria-current={current === n ? "page" : undefined}>
                <n.icon />
                {n.label}
              </Link>
            </div>
          ))}
        </nav>
        <div style={{ marginTop: "auto" }}>
          <CreditsSidebarBalance />
          <div className="cell-sub">Signed in as {me.user.email}</div>
        </div>
      </aside>
      <div className="main">
        <header className="topbar">
          <div className="row">
            <Button variant="ghost" className="menu-toggle" aria-label="Open navigation" aria-expanded={navOpen} onClick={() => setNavOpen(!navOpen)}><Icons.menu /></Button>
            <span className="muted hide-sm">{org.name}</span>
            <span className="muted hide-sm">/</span>
            <strong>{current?.label ?? ""}</strong>
          </div>
          <UserMenu />
        </header>
        {navOpen ? <div className="dialog-backdrop" style={{ zIndex: 35, background: "rgb(0 0 0 / 0.2)" }} onClick={() => setNavOpen(false)} aria-hidden="true" /> : null}
        <main className="content"><PlanLimitBanner />{children}</main>
      </div>
    </div>
  );
}
