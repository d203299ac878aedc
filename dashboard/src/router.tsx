/** Route table (code-based TanStack Router). Org pages live under `/orgs/$orgId`, so the org is in every URL. */
import { useEffect } from "react";
import { createRootRoute, createRoute, createRouter, Navigate, Outlet, useParams, useRouterState } from "@tanstack/react-router";
import { ApiError } from "./lib/api";
import { defaultOrgId, OrgContext, rememberOrg, useMe } from "./lib/session";
import { AppShell } from "./components/layout";
import { ErrorState, Loading } from "./components/ui";
import { AcceptInvitePage } from "./pages/accept-invite";
import { AccountPage } from "./pages/account";
import { ForgotPasswordPage, LoginPage, ResetPasswordPage, SignupPage, VerifyEmailPage } from "./pages/auth";
import { AuditPage } from "./pages/audit";
import { BillingPage } from "./pages/billing";
import { BudgetsPage } from "./pages/budgets";
import { CostEventsPage } from "./pages/cost-events";
import { CreditsPage } from "./pages/credits";
import { KeysPage } from "./pages/keys";
import { MembersPage } from "./pages/members";
import { OutboxPage } from "./pages/outbox";
import { OverviewPage } from "./pages/overview";
import { PromptsPage } from "./pages/prompts";
import { ProvidersPage } from "./pages/providers";
import { SettingsPage } from "./pages/settings";
import { TeamDetailPage, TeamsPage } from "./pages/teams";
import { TokensPage } from "./pages/tokens";
import { UsagePage } from "./pages/usage";
import { WebhooksPage } from "./pages/webhooks";
import { GuardrailsPage } from "./pages/guardrails";

function FullPage({ children }: { children: React.ReactNode }) {
  return <main className="auth"><div className="auth-card">{children}</div></main>;
}

/** `/`: signed out → login; signed in → the remembered (or first) org. */
function Home() {
  const me = useMe();
  if (me.isPending) return <FullPage><Loading /></FullPage>;
  if (me.isError) {
    if (me.error instanceof ApiError && me.error.status === 401) return <Navigate to="/login" />;
    return <FullPage><ErrorState error={me.error} onRetry={() => void me.refetch()} /></FullPage>;
  }
  const orgId = defaultOrgId(me.data);
  if (!orgId) return <FullPage><ErrorState error={new Error("You don't belong to any organization yet. Ask for an invitation.")} /></FullPage>;
  return <Navigate to={`/orgs/${orgId}`} />;
}

/** The org frame: resolves the org from the URL against the user's memberships. */
function OrgFrame() {
  const { orgId } = useParams({ strict: false }) as { orgId: string };
  const me = useMe();
  const href = useRouterState({ select: (s) => s.location.href });
  const membership = me.data?.memberships.find((m) => m.org.id === orgId);
  useEffect(() => {
    if (membership) rememberOrg(orgId);
  }, [membership, orgId]);
  if (me.isPending) return <FullPage><Loading /></FullPage>;
  if (me.isError) {
    if (me.error instanceof ApiError && me.error.status === 401) return <Navigate to="/login" search={{ redirect: href }} />;
    return <FullPage><ErrorState error={me.error} onRetry={() => void me.refetch()} /></FullPage>;
  }
  if (!membership) return <FullPage><ErrorState error={new Error("Organization not found, or you're no longer a member.")} /><p style={{ textAlign: "center" }}><a href="/">Go to your organizations</a></p></FullPage>;
  return (
    <OrgContext.Provider value={{ org: membership.org, role: membership.role, me: me.data }}>
      <AppShell>
        {/* keyed by org: switching orgs remounts every page, so no state carries over */}
        <div key={orgId}><Outlet /></div>
      </AppShell>
    </OrgContext.Provider>
  );
}

const rootRoute = createRootRoute({ component: () => <Outlet />, notFoundComponent: () => <FullPage><ErrorState error={new Error("Page not found")} /><p style={{ textAlign: "center" }}><a href="/">Go home</a></p></FullPage> });
const page = (path: string, component: () => React.ReactNode) => createRoute({ getParentRoute: () => rootRoute, path, component });

const orgRoute = createRoute({ getParentRoute: () => rootRoute, path: "/orgs/$orgId", component: OrgFrame });
const orgPage = (path: string, component: () => React.ReactNode) => createRoute({ getParentRoute: () => orgRoute, path, component });

const routeTree = rootRoute.addChildren([
  page("/", Home),
  page("/login", LoginPage),
  page("/signup", SignupPage),
  page("/forgot-password", ForgotPasswordPage),
  page("/reset-password", ResetPasswordPage),
  page("/verify-email", VerifyEmailPage),
  page("/accept-invite", AcceptInvitePage),
  page("/dev/outbox", OutboxPage),
  page("/account", AccountPage),
  orgRoute.addChildren([
    orgPage("/", OverviewPage),
    orgPage("/usage", UsagePage),
    orgPage("/cost-events", CostEventsPage),
    orgPage("/keys", KeysPage),
    orgPage("/teams", TeamsPage),
    orgPage("/teams/$teamId", TeamDetailPage),
    orgPage("/members", MembersPage),
    orgPage("/budgets", BudgetsPage),
    orgPage("/audit", AuditPage),
    orgPage("/settings", SettingsPage),
    orgPage("/providers", ProvidersPage),
    orgPage("/prompts", PromptsPage),
    orgPage("/webhooks", WebhooksPage),
    orgPage("/tokens", TokensPage),
    orgPage("/guardrails", GuardrailsPage),
    orgPage("/billing", BillingPage),
    orgPage("/credits", CreditsPage),
  ]),
]);

export const router = createRouter({ routeTree, defaultPreload: false });
