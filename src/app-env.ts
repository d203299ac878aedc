import type { Config, Env } from "./env";
import type { Role } from "./db/schema";

/** Who is calling the control plane. */
export type Actor =
  | { type: "user"; userId: string; sessionId: string; email: string; viaCookie: true }
  | {
      type: "management_token"; tokenId: string; orgId: string;
      /** Effective role: the token's cap lowered to its root user's current role. */
      role: Exclude<Role, "owner">;
      /** The direct creator (a user or another token). */
      createdBy: string;
      /** The human at the root of the token chain. */
      rootUserId: string;
    };

/** The caller's standing in the org named by `:orgId` (set by `requireOrgRole`). */
export type OrgAccess = { orgId: string; role: Role; orgKind: "personal" | "team"; orgPlan: string };

/** Hono environment shared by every route group. */
export type AppEnv = {
  Bindings: Env;
  Variables: {
    requestId: string;
    config: Config;
    actor: Actor | undefined;
    org: OrgAccess;
  };
};
