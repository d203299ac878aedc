/**
 * Teams inside an org (docs/resources.md): list/get for every member, create/edit/delete and team
 * membership for admins. Deleting a team keeps its keys working (they lose the team).
 */
import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { auditActorOf, auditInsert } from "../db/audit";
import { getDb } from "../db/client";
import {
  addTeamMemberStmt, deleteTeamStmts, findOrgMember, findTeam, findTeamByName, insertTeamStmt, isTeamMember,
  listTeamKeyIds, listTeamMembers, listTeams, removeTeamMemberStmt, updateTeamStmt, type TeamRow,
} from "../db/teams";
import { refreshGate } from "../durable-objects/org-gate-client";
import { ApiError, validationHook } from "../errors";
import { newId } from "../lib/ids";
import { decodeCursor, pageQuery } from "../lib/page-cursor";
import { orgRoute } from "../lib/route";
import { errorChainText, isoTime, jsonBody, jsonResponse, orgParams, presentPage } from "../lib/route-io";

const teamParams = orgParams.extend({ teamId: z.string() });
const teamMemberParams = teamParams.extend({ userId: z.string() });

const teamName = z.string().trim().min(1).max(100);
const teamDescription = z.string().trim().max(1000).nullable();
const membersManageBudgets = z.boolean()
  .openapi({ description: "Members on this team may create its team budgets and its default member budget (default false: admins only)" });

const teamSchema = z
  .object({
    id: z.string(), name: z.string(), description: z.string().nullable(), members_manage_budgets: z.boolean(), member_count: z.number().int(),
    created_at: z.string(), updated_at: z.string(),
  })
  .openapi("Team");
const teamMemberSchema = z
  .object({ user_id: z.string(), email: z.string(), name: z.string(), role: z.enum(["owner", "admin", "member", "viewer"]), added_at: z.string() })
  .openapi("TeamMember");
const teamDetailSchema = teamSchema.extend({ members: z.array(teamMemberSchema) }).openapi("TeamDetail");

function presentTeam(t: TeamRow & { memberCount: number }) {
  return {
    id: t.id, name: t.name, description: t.description, members_manage_budgets: t.membersManageBudgets, member_count: t.memberCount,
    created_at: isoTime(t.createdAt), updated_at: isoTime(t.updatedAt),
  };
}
/** Audit-friendly snapshot of a team. */
const teamAudit = (t: TeamRow) => ({ name: t.name, description: t.description, members_manage_budgets: t.membersManageBudgets });

async function teamDetail(c: { env: AppEnv["Bindings"] }, orgId: string, team: TeamRow) {
  const members = await listTeamMembers(getDb(c.env.DB), orgId, team.id);
  return {
    ...presentTeam({ ...team, memberCount: members.length }),
    members: members.map((m) => ({ user_id: m.userId, email: m.email, name: m.name, role: m.role, added_at: isoTime(m.addedAt) })),
  };
}

async function requireTeam(db: ReturnType<typeof getDb>, orgId: string, teamId: string): Promise<TeamRow> {
  const team = await findTeam(db, orgId, teamId);
  if (!team) throw new ApiError("not_found", "Team not found", { param: "teamId" });
  return team;
}

async function assertNameFree(db: ReturnType<typeof getDb>, orgId: string, name: string, exceptId?: string) {
  const other = await findTeamByName(db, orgId, name);
  if (other && other.id !== exceptId) throw new ApiError("conflict", `A team named '${name}' already exists in this org`, { param: "name" });
}

/** Runs a batch; a unique-index race on the team name becomes 409 instead of 500. */
async function runBatch(db: ReturnType<typeof getDb>, stmts: Parameters<ReturnType<typeof getDb>["batch"]>[0]) {
  try {
    await db.batch(stmts);
  } catch (err) {
    if (errorChainText(err).includes("UNIQUE constraint failed: teams.org_id, teams.name")) {
      throw new ApiError("conflict", "A team with this name already exists in this org", { param: "name" });
    }
    throw err;
  }
}

/** `/orgs/{orgId}/teams…` routes. */
export const teamsRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(
    orgRoute("viewer", {
      method: "get",
      path: "/orgs/{orgId}/teams",
      tags: ["teams"],
      summary: "List the org's teams",
      request: { params: orgParams, query: pageQuery },
      responses: { 200: jsonResponse(z.object({ data: z.array(teamSchema), next_cursor: z.string().nullable() }), "A page of teams") },
    }),
    async (c) => {
      const { orgId } = c.var.org;
      const q = c.req.valid("query");
      const rows = await listTeams(getDb(c.env.DB), orgId, { cursor: decodeCursor(q.cursor), limit: q.limit });
      return c.json(presentPage(rows, q.limit, presentTeam), 200);
    },
  )
  .openapi(
    orgRoute("admin", {
      method: "post",
      path: "/orgs/{orgId}/teams",
      tags: ["teams"],
      summary: "Create a team",
      request: { params: orgParams, body: jsonBody(z.object({ name: teamName, description: teamDescription.optional(), members_manage_budgets: membersManageBudgets.optional() })) },
      responses: { 201: jsonResponse(teamDetailSchema, "The new team") },
    }),
    async (c) => {
      const { orgId } = c.var.org;
      const body = c.req.valid("json");
      const db = getDb(c.env.DB);
      await assertNameFree(db, orgId, body.name);
      const now = Date.now();
      const team: TeamRow = {
        id: newId("team"), orgId, name: body.name, description: body.description ?? null, membersManageBudgets: body.members_manage_budgets ?? false, createdAt: now, updatedAt: now,
      };
      await runBatch(db, [
        insertTeamStmt(db, team),
        auditInsert(db, orgId, auditActorOf(c), { action: "team.create", targetType: "team", targetId: team.id, after: teamAudit(team) }),
      ]);
      return c.json({ ...presentTeam({ ...team, memberCount: 0 }), members: [] }, 201);
    },
  )
  .openapi(
    orgRoute("viewer", {
      method: "get",
      path: "/orgs/{orgId}/teams/{teamId}",
      tags: ["teams"],
      summary: "Get a team with its members",
      request: { params: teamParams },
      responses: { 200: jsonResponse(teamDetailSchema, "The team") },
    }),
    async (c) => {
      const { orgId } = c.var.org;
      const team = await requireTeam(getDb(c.env.DB), orgId, c.req.valid("param").teamId);
      return c.json(await teamDetail(c, orgId, team), 200);
    },
  )
  .openapi(
    orgRoute("admin", {
      method: "patch",
      path: "/orgs/{orgId}/teams/{teamId}",
      tags: ["teams"],
      summary: "Rename or describe a team, or let its members manage its budgets",
      request: {
        params: teamParams,
        body: jsonBody(z.object({ name: teamName.optional(), description: teamDescription.optional(), members_manage_budgets: membersManageBudgets.optional() })),
      },
      responses: { 200: jsonResponse(teamDetailSchema, "The updated team") },
    }),
    async (c) => {
      const { orgId } = c.var.org;
      const body = c.req.valid("json");
      const db = getDb(c.env.DB);
      const team = await requireTeam(db, orgId, c.req.valid("param").teamId);
      if (body.name === undefined && body.description === undefined && body.members_manage_budgets === undefined) {
        throw new ApiError("invalid_request", "Nothing to change: send name, description or members_manage_budgets", { param: null });
      }
      if (body.name !== undefined && body.name !== team.name) await assertNameFree(db, orgId, body.name, team.id);
      const updated: TeamRow = {
        ...team, name: body.name ?? team.name, description: body.description === undefined ? team.description : body.description,
        membersManageBudgets: body.members_manage_budgets ?? team.membersManageBudgets, updatedAt: Date.now(),
      };
      await runBatch(db, [
        updateTeamStmt(db, orgId, team.id, { name: updated.name, description: updated.description, membersManageBudgets: updated.membersManageBudgets, updatedAt: updated.updatedAt }),
        auditInsert(db, orgId, auditActorOf(c), { action: "team.update", targetType: "team", targetId: team.id, before: teamAudit(team), after: teamAudit(updated) }),
      ]);
      return c.json(await teamDetail(c, orgId, updated), 200);
    },
  )
  .openapi(
    orgRoute("admin", {
      method: "delete",
      path: "/orgs/{orgId}/teams/{teamId}",
      tags: ["teams"],
      summary: "Delete a team (its keys keep working without a team; its team budgets and default member budgets are removed)",
      request: { params: teamParams },
      responses: { 200: jsonResponse(z.object({ id: z.string(), deleted: z.literal(true), detached_key_ids: z.array(z.string()) }), "Deleted") },
    }),
    async (c) => {
      const { orgId } = c.var.org;
      const db = getDb(c.env.DB);
      const team = await requireTeam(db, orgId, c.req.valid("param").teamId);
      const keyIds = await listTeamKeyIds(db, orgId, team.id);
      await db.batch([
        ...deleteTeamStmts(db, orgId, team.id, Date.now()),
        auditInsert(db, orgId, auditActorOf(c), { action: "team.delete", targetType: "team", targetId: team.id, before: { ...teamAudit(team), key_ids: keyIds } }),
      ]);
      await refreshGate(c.env, orgId, ["keys", "budgets"]);
      return c.json({ id: team.id, deleted: true as const, detached_key_ids: keyIds }, 200);
    },
  )
  .openapi(
    orgRoute("admin", {
      method: "put",
      path: "/orgs/{orgId}/teams/{teamId}/members/{userId}",
      tags: ["teams"],
      summary: "Add an org member to a team (idempotent)",
      request: { params: teamMemberParams },
      responses: { 200: jsonResponse(teamDetailSchema, "The team with its members") },
    }),
    async (c) => {
      const { orgId } = c.var.org;
      const { teamId, userId } = c.req.valid("param");
      const db = getDb(c.env.DB);
      const team = await requireTeam(db, orgId, teamId);
      const member = await findOrgMember(db, orgId, userId);
      if (!member) throw new ApiError("not_found", "User is not a member of this org", { param: "userId" });
      if (!(await isTeamMember(db, orgId, team.id, userId))) {
        await db.batch([
          addTeamMemberStmt(db, orgId, team.id, userId, Date.now()),
          auditInsert(db, orgId, auditActorOf(c), { action: "team.member_add", targetType: "team", targetId: team.id, after: { user_id: userId, email: member.email } }),
        ]);
      }
      return c.json(await teamDetail(c, orgId, team), 200);
    },
  )
  .openapi(
    orgRoute("admin", {
      method: "delete",
      path: "/orgs/{orgId}/teams/{teamId}/members/{userId}",
      tags: ["teams"],
      summary: "Remove a user from a team",
      request: { params: teamMemberParams },
      responses: { 200: jsonResponse(teamDetailSchema, "The team with its members") },
    }),
    async (c) => {
      const { orgId } = c.var.org;
      const { teamId, userId } = c.req.valid("param");
      const db = getDb(c.env.DB);
      const team = await requireTeam(db, orgId, teamId);
      if (!(await isTeamMember(db, orgId, team.id, userId))) throw new ApiError("not_found", "User is not on this team", { param: "userId" });
      await db.batch([
        removeTeamMemberStmt(db, orgId, team.id, userId),
        auditInsert(db, orgId, auditActorOf(c), { action: "team.member_remove", targetType: "team", targetId: team.id, before: { user_id: userId } }),
      ]);
      return c.json(await teamDetail(c, orgId, team), 200);
    },
  );
