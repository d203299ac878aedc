/**
 * Members of an org: list, change roles, preview and perform removal.
 * Boundaries (docs/membership.md): admins cannot change or remove admins or the owner; nobody changes their own
 * role or removes themselves (they leave); the owner role moves only by transfer; promoting a viewer
 * re-checks the seat limit. Removing a member revokes exactly the keys they created.
 */
import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv, OrgAccess } from "../app-env";
import { auditActorOf, auditInsert } from "../db/audit";
import type { Context } from "hono";
import { getDb, type Db } from "../db/client";
import {
  findMember, listLiveKeysCreatedBy, listMembers, listTeamsOfUsers, refuseIfOwnerStmt, seatGuardedRole, updateMemberRole, type MemberRow,
} from "../db/members";
import { ROLES } from "../db/schema";
import { endMembership } from "../services/end-membership";
import { ApiError, validationHook } from "../errors";
import { decodeCursor, pageQuery, toPage } from "../lib/page-cursor";
import { roleRank } from "../lib/roles";
import { orgRoute } from "../lib/route";
import { checkSeats, seatLimitError, seatRaceError } from "../services/seats";
import { isNotNullViolation } from "../db/orgs";
import { planOf } from "../plans";
import type { Actor } from "../app-env";
import { controlPlaneEvent } from "../services/webhook-events";

const MemberParams = z.object({
  orgId: z.string().openapi({ param: { name: "orgId", in: "path" } }),
  userId: z.string().openapi({ param: { name: "userId", in: "path" } }),
});
const OrgIdParam = z.object({ orgId: z.string().openapi({ param: { name: "orgId", in: "path" } }) });
const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { "application/json": { schema } } });

const MemberSchema = z
  .object({
    user_id: z.string(),
    email: z.string(),
    name: z.string(),
    role: z.enum(ROLES),
    joined_at: z.string(),
    teams: z.array(z.object({ id: z.string(), name: z.string() })),
  })
  .openapi("Member");

const KeySummarySchema = z.object({ id: z.string(), name: z.string(), hint: z.string(), team_id: z.string().nullable(), created_at: z.string() });

function memberView(m: MemberRow, teams: Array<{ id: string; name: string }>): z.infer<typeof MemberSchema> {
  return { user_id: m.userId, email: m.email, name: m.name, role: m.role, joined_at: new Date(m.joinedAt).toISOString(), teams };
}

/** The user id behind the caller (management tokens act for nobody: they never hit the "self" rule). */
const selfId = (actor: Actor | undefined) => (actor?.type === "user" ? actor.userId : undefined);

/**
 * Why the caller may not change or remove `target`, or undefined when they may.
 * Shared by role change, removal and the removal preview so they never disagree.
 */
function boundaryViolation(caller: OrgAccess, callerId: string | undefined, target: MemberRow, verb: "change the role of" | "remove"): string | undefined {
  if (target.userId === callerId) {
    return verb === "remove" ? "You cannot remove yourself; leave the organization instead" : "You cannot change your own role";
  }
  if (target.role === "owner") return `You cannot ${verb} the owner; the owner role moves only by transfer of ownership`;
  if (roleRank(target.role) >= roleRank(caller.role)) return `Admins cannot ${verb} other admins; ask the owner`;
  return undefined;
}

/** The member `userId` of the caller's org, if the caller may `verb` them; throws 404 / 403 otherwise. */
async function actionableMember(c: Context<AppEnv>, db: Db, userId: string, verb: "change the role of" | "remove"): Promise<MemberRow> {
  const target = await findMember(db, c.var.org.orgId, userId);
  if (!target) throw new ApiError("not_found", "No such member in this organization");
  const violation = boundaryViolation(c.var.org, selfId(c.var.actor), target, verb);
  if (violation) throw new ApiError("permission_denied", violation);
  return target;
}

export const memberRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(
    orgRoute("viewer", {
      method: "get",
      path: "/orgs/{orgId}/members",
      tags: ["members"],
      summary: "Members of the organization with their role and teams",
      request: { params: OrgIdParam, query: pageQuery },
      responses: { 200: json(z.object({ data: z.array(MemberSchema), next_cursor: z.string().nullable() }), "A page of members") },
    }),
    async (c) => {
      const { orgId } = c.var.org;
      const { cursor, limit } = c.req.valid("query");
      const db = getDb(c.env.DB);
      const rows = await listMembers(db, orgId, decodeCursor(cursor), limit);
      const page = toPage(rows, limit, (m) => ({ at: m.joinedAt, id: m.userId }));
      const teams = await listTeamsOfUsers(db, orgId, page.data.map((m) => m.userId));
      return c.json({ data: page.data.map((m) => memberView(m, teams.get(m.userId) ?? [])), next_cursor: page.next_cursor }, 200);
    },
  )
  .openapi(
    orgRoute("admin", {
      method: "patch",
      path: "/orgs/{orgId}/members/{userId}",
      tags: ["members"],
      summary: "Change a member's role (admin, member or viewer)",
      request: { params: MemberParams, body: { required: true, content: { "application/json": { schema: z.object({ role: z.enum(ROLES) }) } } } },
      responses: { 200: json(MemberSchema, "The member with the new role") },
    }),
    async (c) => {
      const { orgId, orgPlan } = c.var.org;
      const { userId } = c.req.valid("param");
      const { role } = c.req.valid("json");
      const db = getDb(c.env.DB);
      const target = await actionableMember(c, db, userId, "change the role of");
      if (role === "owner") throw new ApiError("permission_denied", "The owner role cannot be assigned; the owner transfers ownership instead", { param: "role" });
      const teams = (await listTeamsOfUsers(db, orgId, [userId])).get(userId) ?? [];
      if (role === target.role) return c.json(memberView(target, teams), 200);
      const promotesViewer = target.role === "viewer";
      if (promotesViewer) {
        const seats = await checkSeats(db, orgId, orgPlan, 1);
        if (!seats.ok) throw seatLimitError(seats);
      }
      const roleEvent = controlPlaneEvent(db, orgId, "member.role_changed", { user_id: userId, from_role: target.role, to_role: role });
      try {
        await db.batch([
          // A transfer of ownership may have made them owner since we read their role: never demote an owner here.
          refuseIfOwnerStmt(db, orgId, userId),
          updateMemberRole(db, orgId, userId, promotesViewer ? seatGuardedRole(role, orgId, planOf(orgPlan).seats) : role),
          auditInsert(db, orgId, auditActorOf(c), { action: "member.role_change", targetType: "member", targetId: userId, before: { role: target.role }, after: { role } }),
          roleEvent.stmt,
        ]);
        roleEvent.wake(c.env, c.executionCtx);
      } catch (err) {
        if (isNotNullViolation(err, "memberships.role")) {
          if ((await findMember(db, orgId, userId))?.role === "owner") throw new ApiError("conflict", "This member has just become the owner; the owner's role changes only by transfer of ownership");
          throw await seatRaceError(db, orgId, orgPlan);
        }
        throw err;
      }
      return c.json(memberView({ ...target, role }, teams), 200);
    },
  )
  .openapi(
    orgRoute("admin", {
      method: "get",
      path: "/orgs/{orgId}/members/{userId}/removal-preview",
      tags: ["members"],
      summary: "What removing this member would do: the keys they created that would be revoked",
      request: { params: MemberParams },
      responses: {
        200: json(
          z.object({ member: MemberSchema, can_remove: z.boolean(), reason: z.string().nullable(), keys_to_revoke: z.array(KeySummarySchema) }),
          "Removal preview",
        ),
      },
    }),
    async (c) => {
      const { orgId } = c.var.org;
      const { userId } = c.req.valid("param");
      const db = getDb(c.env.DB);
      const target = await findMember(db, orgId, userId);
      if (!target) throw new ApiError("not_found", "No such member in this organization");
      const reason = boundaryViolation(c.var.org, selfId(c.var.actor), target, "remove") ?? null;
      const keys = await listLiveKeysCreatedBy(db, orgId, userId);
      const teams = (await listTeamsOfUsers(db, orgId, [userId])).get(userId) ?? [];
      return c.json(
        {
          member: memberView(target, teams),
          can_remove: reason === null,
          reason,
          keys_to_revoke: keys.map((k) => ({ id: k.id, name: k.name, hint: k.hint, team_id: k.teamId, created_at: new Date(k.createdAt).toISOString() })),
        },
        200,
      );
    },
  )
  .openapi(
    orgRoute("admin", {
      method: "delete",
      path: "/orgs/{orgId}/members/{userId}",
      tags: ["members"],
      summary: "Remove a member; the virtual keys they created are revoked at once, everything else stays",
      request: { params: MemberParams },
      responses: { 200: json(z.object({ user_id: z.string(), removed: z.literal(true), revoked_key_ids: z.array(z.string()) }), "Removed") },
    }),
    async (c) => {
      const { orgId } = c.var.org;
      const { userId } = c.req.valid("param");
      const db = getDb(c.env.DB);
      const target = await actionableMember(c, db, userId, "remove");
      const actor = auditActorOf(c);
      const keys = await listLiveKeysCreatedBy(db, orgId, userId);
      const removed = controlPlaneEvent(db, orgId, "member.removed", { user_id: userId, role: target.role, reason: "removed" });
      const ids = await endMembership(c.env, db, orgId, userId, actor.actorId, auditInsert(db, orgId, actor, {
        action: "member.remove", targetType: "member", targetId: userId,
        before: { email: target.email, role: target.role }, after: { revoked_key_ids: keys.map((k) => k.id) },
      }), removed.stmt);
      removed.wake(c.env, c.executionCtx);
      return c.json({ user_id: userId, removed: true as const, revoked_key_ids: ids }, 200);
    },
  );
