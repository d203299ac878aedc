/** Session and org context hooks: who is signed in, which org is selected, and the caller's role there. */
import { createContext, useContext } from "react";
import { useQuery, type QueryClient } from "@tanstack/react-query";
import { api } from "./api";
import type { Me, OrgSummary, Role } from "./types";

export const meQueryKey = ["me"] as const;

/** The signed-in user with memberships (401 when signed out). */
export function useMe() {
  return useQuery({ queryKey: meQueryKey, queryFn: () => api<Me>("GET", "/me"), retry: false, staleTime: 30_000 });
}

export type OrgContextValue = { org: OrgSummary; role: Role; me: Me };
export const OrgContext = createContext<OrgContextValue | null>(null);

/** The selected org, the caller's role in it and the user (only inside the org shell). */
export function useOrg(): OrgContextValue {
  const ctx = useContext(OrgContext);
  if (!ctx) throw new Error("useOrg outside of an org page");
  return ctx;
}

/** Query key for an org-owned resource: every key carries the org id, so no data can leak across a switch. */
export const orgKey = (orgId: string, ...rest: unknown[]) => ["org", orgId, ...rest] as const;

const LAST_ORG = "tollgate.lastOrg";
export const rememberOrg = (orgId: string) => {
  try {
    localStorage.setItem(LAST_ORG, orgId);
  } catch {
    /* storage may be unavailable (private mode); the choice is then not remembered */
  }
};
export const lastOrg = () => {
  try {
    return localStorage.getItem(LAST_ORG);
  } catch {
    return null;
  }
};

/** Switching orgs drops every cached query (belt and braces on top of org-scoped keys). */
export function dropAllCachedData(qc: QueryClient) {
  qc.cancelQueries();
  qc.clear();
}

/** The org to open by default: the remembered one if still a member, else a team org, else the personal org. */
export function defaultOrgId(me: Me): string | null {
  const remembered = lastOrg();
  if (remembered && me.memberships.some((m) => m.org.id === remembered)) return remembered;
  const team = me.memberships.find((m) => m.org.kind === "team");
  return (team ?? me.memberships[0])?.org.id ?? null;
}
