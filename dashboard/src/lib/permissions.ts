/**
 * The permission matrix of docs/membership.md, for the UI only: it decides which controls are enabled and the
 * one-line reason shown when they are not. The API performs the real check on every request.
 */
import type { Role } from "./types";

const RANK: Record<Role, number> = { viewer: 0, member: 1, admin: 2, owner: 3 };

export type Capability =
  | "keys.create" | "keys.revokeAny" | "budgets.create" | "budgets.edit" | "teams.manage" | "providers.manage"
  | "pricing.manage" | "settings.edit" | "webhooks.manage" | "prompts.manage" | "guardrails.manage" | "members.manage" | "tokens.manage" | "audit.view" | "usage.export" | "billing.manage" | "org.delete";

const MIN_ROLE: Record<Capability, Role> = {
  "keys.create": "member",
  "keys.revokeAny": "admin",
  "budgets.create": "member",
  "budgets.edit": "admin",
  "teams.manage": "admin",
  "providers.manage": "admin",
  "pricing.manage": "admin",
  "settings.edit": "admin",
  "webhooks.manage": "admin",
  "prompts.manage": "admin",
  "guardrails.manage": "admin",
  "members.manage": "admin",
  "tokens.manage": "admin",
  "audit.view": "admin",
  "usage.export": "admin",
  "billing.manage": "owner",
  "org.delete": "owner",
};

const LABEL: Record<Role, string> = { viewer: "Viewers", member: "Members", admin: "Admins", owner: "Owners" };

export const roleAtLeast = (role: Role, min: Role) => RANK[role] >= RANK[min];
export const roleRank = (role: Role) => RANK[role];

/** `{ allowed: true }` or `{ allowed: false, reason }` for the caller's role. */
export function can(role: Role, cap: Capability): { allowed: boolean; reason: string } {
  const min = MIN_ROLE[cap];
  if (roleAtLeast(role, min)) return { allowed: true, reason: "" };
  const who = min === "owner" ? "the owner" : `${min}s and above`;
  return { allowed: false, reason: `${LABEL[role]} can't do this: only ${who} can.` };
}

/** Whether `actor` may change or remove `target` (admins can't touch admins or the owner; nobody touches themselves). */
export function canManageMember(actorRole: Role, actorId: string, target: { user_id: string; role: Role }): { allowed: boolean; reason: string } {
  if (target.user_id === actorId) return { allowed: false, reason: "You can't change your own membership; leave the org instead." };
  if (!roleAtLeast(actorRole, "admin")) return can(actorRole, "members.manage");
  if (target.role === "owner") return { allowed: false, reason: "The owner's role moves only by ownership transfer." };
  if (actorRole === "admin" && target.role === "admin") return { allowed: false, reason: "Admins can't change or remove other admins." };
  return { allowed: true, reason: "" };
}
