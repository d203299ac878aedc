/**
 * The caller's own standing in an org: transferring ownership and leaving.
 * Both are user actions; management tokens cannot own or leave an org.
 */
import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { auditActorOf, auditInsert } from "../db/audit";
import { getDb } from "../db/client";
import { findMember, listLiveKeysCreatedBy, transferOwnershipStatements } from "../db/members";
import { isNotNullViolation } from "../db/orgs";
import { endMembership } from "../services/end-membership";
import { ApiError, validationHook } from "../errors";
import { orgRoute } from "../lib/route";
import { userActor } from "../middleware/auth";
import { assertTeamOrg } from "./orgs";
import { controlPlaneEvent } from "../services/webhook-events";

const OrgIdParam = z.object({ orgId: z.string().openapi({ param: { name: "orgId", in: "path" } }) });
const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { "application/json": { schema } } });

export const orgMembershipRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(
    orgRoute("owner", {
      method: "post",
      path: "/orgs/{orgId}/transfer-ownership",
      tags: ["orgs"],
      summary: "Hand the owner role to a member or admin; the old owner becomes an admin",
      request: { params: OrgIdParam, body: { required: true, content: { "application/json": { schema: z.object({ user_id: z.string().min(1) }) } } } },
      responses: { 200: json(z.object({ owner_id: z.string(), previous_owner_id: z.string(), previous_owner_role: z.literal("admin") }), "Transferred") },
    }),
    async (c) => {
      const { orgId, orgKind } = c.var.org;
      const me = userActor(c.var.actor);
      const targetId = c.req.valid("json").user_id;
      const db = getDb(c.env.DB);
      assertTeamOrg(orgKind, "transferred");
      if (targetId === me.userId) throw new ApiError("invalid_request", "You already own this organization", { param: "user_id" });
      const target = await findMember(db, orgId, targetId);
      if (!target) throw new ApiError("not_found", "No such member in this organization", { param: "user_id" });
      if (target.role === "viewer") {
        throw new ApiError("permission_denied", "Ownership can only go to a member or an admin, never a viewer; change their role first");
      }
      // Demote first: the partial unique index allows at most one owner after every statement. The
      // statements re-check the target inside the batch, so a concurrent removal fails the transfer.
      const [demote, promote, assertPromoted] = transferOwnershipStatements(db, orgId, me.userId, targetId);
      try {
        await db.batch([
          demote,
          promote,
          assertPromoted,
          auditInsert(db, orgId, auditActorOf(c), {
            action: "org.transfer_ownership", targetType: "member", targetId,
            before: { owner_id: me.userId, target_role: target.role }, after: { owner_id: targetId, previous_owner_role: "admin" },
          }),
        ]);
      } catch (err) {
        if (!isNotNullViolation(err, "memberships.role")) throw err;
        const now = await findMember(db, orgId, targetId);
        if (!now) throw new ApiError("not_found", "No such member in this organization (they were removed meanwhile)", { param: "user_id" });
        throw new ApiError("conflict", "The memberships changed while transferring; nothing was transferred, try again");
      }
      return c.json({ owner_id: targetId, previous_owner_id: me.userId, previous_owner_role: "admin" as const }, 200);
    },
  )
  .openapi(
    orgRoute("viewer", {
      method: "post",
      path: "/orgs/{orgId}/leave",
      tags: ["orgs"],
      summary: "Leave the organization; the virtual keys you created are revoked",
      request: { params: OrgIdParam },
      responses: { 200: json(z.object({ left: z.literal(true), revoked_key_ids: z.array(z.string()) }), "Left") },
    }),
    async (c) => {
      const { orgId, role } = c.var.org;
      if (c.var.actor?.type !== "user") throw new ApiError("permission_denied", "Only a signed-in member can leave an organization, not a management token");
      const me = userActor(c.var.actor);
      if (role === "owner" && c.var.org.orgKind === "personal") throw new ApiError("conflict", "You cannot leave your personal organization");
      if (role === "owner") {
        throw new ApiError("conflict", "The owner cannot leave the organization; transfer ownership to another member first (or delete the organization)");
      }
      const db = getDb(c.env.DB);
      const keys = await listLiveKeysCreatedBy(db, orgId, me.userId);
      const left = controlPlaneEvent(db, orgId, "member.removed", { user_id: me.userId, role, reason: "left" });
      const ids = await endMembership(c.env, db, orgId, me.userId, me.userId, auditInsert(db, orgId, auditActorOf(c), {
        action: "member.leave", targetType: "member", targetId: me.userId,
        before: { role }, after: { revoked_key_ids: keys.map((k) => k.id) },
      }), left.stmt);
      left.wake(c.env, c.executionCtx);
      return c.json({ left: true as const, revoked_key_ids: ids }, 200);
    },
  );
