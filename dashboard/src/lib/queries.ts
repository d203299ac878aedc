/** Query hooks for org-owned resources. Every key starts with `["org", orgId]` (see {@link orgKey}). */
import { useQuery } from "@tanstack/react-query";
import { api, qs } from "./api";
import { orgKey } from "./session";
import type { Budget, Invitation, Member, Page, PromptSummary, Provider, Team, Usage, UsageGroupBy, VirtualKey } from "./types";

export const useMembers = (orgId: string) =>
  useQuery({ queryKey: orgKey(orgId, "members"), queryFn: () => api<Page<Member>>("GET", `/orgs/${orgId}/members?limit=200`) });
export const useTeams = (orgId: string) =>
  useQuery({ queryKey: orgKey(orgId, "teams"), queryFn: () => api<Page<Team>>("GET", `/orgs/${orgId}/teams?limit=200`) });
export const useKeys = (orgId: string) =>
  useQuery({ queryKey: orgKey(orgId, "keys"), queryFn: () => api<Page<VirtualKey>>("GET", `/orgs/${orgId}/keys?limit=200`) });
export const useBudgets = (orgId: string) =>
  useQuery({ queryKey: orgKey(orgId, "budgets"), queryFn: () => api<Page<Budget>>("GET", `/orgs/${orgId}/budgets?limit=200`) });
export const useProviders = (orgId: string) =>
  useQuery({ queryKey: orgKey(orgId, "providers"), queryFn: () => api<Page<Provider>>("GET", `/orgs/${orgId}/providers?limit=200`) });
/** The org's prompts (same cache entry as the Prompts page); `enabled` lets a page ask only when it needs names. */
export const usePrompts = (orgId: string, enabled = true) =>
  useQuery({ queryKey: orgKey(orgId, "prompts"), queryFn: () => api<{ data: PromptSummary[] }>("GET", `/orgs/${orgId}/prompts`), enabled });
export const useInvitations = (orgId: string, enabled: boolean) =>
  useQuery({ queryKey: orgKey(orgId, "invitations"), queryFn: () => api<Page<Invitation>>("GET", `/orgs/${orgId}/invitations?limit=200`), enabled });

/** Aggregated usage for a range, optionally grouped. */
export const useUsage = (orgId: string, params: { from?: string; to?: string; group_by?: UsageGroupBy }, opts: { refetchInterval?: number } = {}) =>
  useQuery({
    queryKey: orgKey(orgId, "usage", params),
    queryFn: () => api<Usage>("GET", `/orgs/${orgId}/usage${qs(params)}`),
    refetchInterval: opts.refetchInterval,
  });
