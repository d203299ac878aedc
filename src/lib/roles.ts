import type { Role } from "../db/schema";

const RANK: Record<Role, number> = { viewer: 0, member: 1, admin: 2, owner: 3 };

/** True when `role` is at least `min` in viewer < member < admin < owner. */
export function roleAtLeast(role: Role, min: Role): boolean {
  return RANK[role] >= RANK[min];
}

/** Numeric rank, for comparisons such as "admins cannot touch admins". */
export function roleRank(role: Role): number {
  return RANK[role];
}
