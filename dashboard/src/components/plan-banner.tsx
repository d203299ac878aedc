/**
 * The plan-limit banner, on every page of an org that is above its plan's limits (after a downgrade):
 * what exists keeps working, creating more is refused with `plan_limit`. Counted from lists every role
 * may read (keys, budgets, members; webhooks and pending invitations for admins), against src/plans.ts.
 */
import { useQuery } from "@tanstack/react-query";
import { Link } from "@tanstack/react-router";
import { planOf } from "../../../src/plans";
import { api } from "../lib/api";
import { useBudgets, useInvitations, useKeys, useMembers } from "../lib/queries";
import { roleAtLeast } from "../lib/permissions";
import { orgKey, useOrg } from "../lib/session";
import type { Page } from "../lib/types";

export function PlanLimitBanner() {
  const { org, role } = useOrg();
  const plan = planOf(org.plan);
  const admin = roleAtLeast(role, "admin");
  const keys = useKeys(org.id);
  const budgets = useBudgets(org.id);
  const members = useMembers(org.id);
  const invitations = useInvitations(org.id, admin && plan.seats !== null);
  const webhooks = useQuery({
    queryKey: orgKey(org.id, "webhooks"),
    queryFn: () => api<Page<{ id: string; kind?: string }>>("GET", `/orgs/${org.id}/webhooks?limit=100`),
    enabled: admin && plan.webhooks !== null,
  });
  const over: string[] = [];
  const check = (label: string, used: number | undefined, limit: number | null) => {
    if (limit !== null && used !== undefined && used > limit) over.push(`${label} (${used} of ${limit})`);
  };
  check("API keys", keys.data?.data.filter((k) => k.status === "active").length, plan.keys);
  check("budgets", budgets.data?.data.length, plan.budgets);
  const pendingSeats = invitations.data?.data.filter((i) => i.status === "pending" && i.role !== "viewer").length ?? 0;
  check("seats", members.data ? members.data.data.filter((m) => m.role !== "viewer").length + pendingSeats : undefined, plan.seats);
  check("webhook endpoints", webhooks.data?.data.filter((w) => w.kind !== "slack").length, plan.webhooks);
  if (!over.length) return null;
  return (
    <div className="banner" role="status" data-testid="plan-limit-banner">
      This organization is above the {plan.name} plan's limits: {over.join(", ")}. Everything that exists keeps working; creating more is
      blocked until you remove some or upgrade.{" "}
      {role === "owner" ? <Link to="/orgs/$orgId/billing" params={{ orgId: org.id }}>Change plan</Link> : "Ask the owner to change the plan."}
    </div>
  );
}
