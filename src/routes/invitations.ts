/**
 * Invitations of an org (admin+): list pending, invite one, invite many by CSV (plan feature),
 * resend, revoke. Tokens are shown only in the email; D1 keeps their SHA-256.
 * The invitee side (preview, accept, the `/invite/:token` page) is in `invitation-accept.ts` and `invite-link.ts`.
 */
import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../app-env";
import { auditActorOf, auditInsert } from "../db/audit";
import { getDb, type Db } from "../db/client";
import {
  findInvitation, insertInvitation, invitationStatus, listExistingTeamIds, listPendingInvitations, reissueInvitation, revokeInvitation, type InvitationRow,
} from "../db/invitations";
import { findUserBasics } from "../db/members";
import { findOrg, getOrgMode, isNotNullViolation, runBatch, type OrgRow } from "../db/orgs";
import { ApiError, validationHook } from "../errors";
import { newId } from "../lib/ids";
import { decodeCursor, pageQuery, toPage } from "../lib/page-cursor";
import { orgRoute } from "../lib/route";
import { PLANS, planOf } from "../plans";
import { parseInvitationCsv } from "../services/invitation-csv";
import { findInviteeConflicts } from "../services/invitation-checks";
import { invitationExpiresAt, newInvitationToken, sendInvitationEmail } from "../services/invitation-mail";
import { checkSeats, seatLimitError, seatRaceError } from "../services/seats";
import { seatGuardedRole } from "../db/members";
import { assertTeamOrg } from "./orgs";

const OrgIdParam = z.object({ orgId: z.string().openapi({ param: { name: "orgId", in: "path" } }) });
const InvitationParams = OrgIdParam.extend({ id: z.string().openapi({ param: { name: "id", in: "path" } }) });
const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { "application/json": { schema } } });
const InvitableRole = z.enum(["admin", "member", "viewer"]);

const InvitationSchema = z
  .object({
    id: z.string(),
    email: z.string(),
    role: InvitableRole,
    team_ids: z.array(z.string()),
    status: z.enum(["pending", "accepted", "revoked", "expired"]),
    invited_by: z.string(),
    expires_at: z.string(),
    created_at: z.string(),
    last_sent_at: z.string(),
    send_count: z.number().int(),
  })
  .openapi("Invitation");
const DeliverySchema = z.object({ ok: z.boolean(), transport: z.enum(["outbox", "sendgrid"]), error: z.string().nullable() });

function invitationView(inv: InvitationRow, now = Date.now()): z.infer<typeof InvitationSchema> {
  return {
    id: inv.id, email: inv.email, role: inv.role, team_ids: inv.teamIds, status: invitationStatus(inv, now), invited_by: inv.invitedBy,
    expires_at: new Date(inv.expiresAt).toISOString(), created_at: new Date(inv.createdAt).toISOString(),
    last_sent_at: new Date(inv.lastSentAt).toISOString(), send_count: inv.sendCount,
  };
}

/** The org (must be a team org: personal orgs have only their owner) and the name invitations are sent in. */
async function loadInvitingOrg(c: Context<AppEnv>, db: Db): Promise<{ org: OrgRow; inviterName: string }> {
  const { orgId, orgKind } = c.var.org;
  assertTeamOrg(orgKind, "joined by invitation");
  const org = await findOrg(db, orgId);
  if (!org) throw new ApiError("not_found", "Organization not found");
  const actor = c.var.actor;
  const user = actor?.type === "user" ? await findUserBasics(db, actor.userId) : undefined;
  return { org, inviterName: user?.name || user?.email || `An administrator of ${org.name}` };
}

async function assertSeatsFor(db: Db, orgId: string, plan: string, adding: number, excludeInvitationId?: string): Promise<void> {
  const seats = await checkSeats(db, orgId, plan, adding, { excludeInvitationId });
  if (!seats.ok) throw seatLimitError(seats);
}

/** Runs an invitation batch whose inserts carry seat guards, turning a guard's refusal into 403 `plan_limit`. */
async function runSeatGuarded(db: Db, orgId: string, plan: string, run: () => Promise<unknown>): Promise<void> {
  try {
    await run();
  } catch (err) {
    if (isNotNullViolation(err, "invitations.role")) throw await seatRaceError(db, orgId, plan);
    throw err;
  }
}

const delivery = (r: Awaited<ReturnType<typeof sendInvitationEmail>>) => ({ ok: r.ok, transport: r.transport, error: r.ok ? null : r.error });

export const invitationRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(
    orgRoute("admin", {
      method: "get",
      path: "/orgs/{orgId}/invitations",
      tags: ["invitations"],
      summary: "Pending invitations (not accepted, revoked or expired)",
      request: { params: OrgIdParam, query: pageQuery },
      responses: { 200: json(z.object({ data: z.array(InvitationSchema), next_cursor: z.string().nullable() }), "A page of pending invitations") },
    }),
    async (c) => {
      const { cursor, limit } = c.req.valid("query");
      const now = Date.now();
      const rows = await listPendingInvitations(getDb(c.env.DB), c.var.org.orgId, decodeCursor(cursor), limit, now);
      const page = toPage(rows, limit, (i) => ({ at: i.createdAt, id: i.id }));
      return c.json({ data: page.data.map((i) => invitationView(i, now)), next_cursor: page.next_cursor }, 200);
    },
  )
  .openapi(
    orgRoute("admin", {
      method: "post",
      path: "/orgs/{orgId}/invitations",
      tags: ["invitations"],
      summary: "Invite someone by email; non-viewer invitations take a seat while pending",
      request: {
        params: OrgIdParam,
        body: {
          required: true,
          content: {
            "application/json": {
              schema: z.object({ email: z.email().max(254).toLowerCase(), role: InvitableRole, team_ids: z.array(z.string()).max(50).optional() }),
            },
          },
        },
      },
      responses: { 201: json(InvitationSchema.extend({ delivery: DeliverySchema }), "Invited; `delivery` says whether the email went out") },
    }),
    async (c) => {
      const { orgId, orgPlan } = c.var.org;
      const body = c.req.valid("json");
      const cfg = c.var.config;
      const db = getDb(c.env.DB);
      const { org, inviterName } = await loadInvitingOrg(c, db);
      const teamIds = [...new Set(body.team_ids ?? [])];
      const known = await listExistingTeamIds(db, orgId, teamIds);
      const unknown = teamIds.find((t) => !known.includes(t));
      if (unknown) throw new ApiError("invalid_request", `team_ids: no team ${unknown} in this organization`, { param: "team_ids" });
      const conflict = (await findInviteeConflicts(db, orgId, await getOrgMode(db, cfg), [body.email])).get(body.email);
      if (conflict) throw new ApiError("conflict", conflict.message, { param: "email" });
      if (body.role !== "viewer") await assertSeatsFor(db, orgId, orgPlan, 1);

      const { token, tokenHash } = await newInvitationToken();
      const inv = { id: newId("inv"), orgId, email: body.email, role: body.role, teamIds, tokenHash, invitedBy: auditActorOf(c).actorId, expiresAt: invitationExpiresAt(org.settings, cfg) };
      const seatLimit = planOf(orgPlan).seats;
      await runSeatGuarded(db, orgId, orgPlan, () =>
        db.batch([
          insertInvitation(db, { ...inv, role: seatGuardedRole(inv.role, orgId, seatLimit) }),
          auditInsert(db, orgId, auditActorOf(c), { action: "invitation.create", targetType: "invitation", targetId: inv.id, after: { email: inv.email, role: inv.role, team_ids: teamIds, expires_at: inv.expiresAt } }),
        ]),
      );
      const sent = await sendInvitationEmail(cfg, db, { to: inv.email, org, inviterName, role: inv.role, token, expiresAt: inv.expiresAt });
      const row = (await findInvitation(db, orgId, inv.id))!;
      return c.json({ ...invitationView(row), delivery: delivery(sent) }, 201);
    },
  )
  .openapi(
    orgRoute("admin", {
      method: "post",
      path: "/orgs/{orgId}/invitations/bulk",
      tags: ["invitations"],
      summary: "Invite many people from CSV (`email,role` per line); all or nothing; Pro and Enterprise plans",
      description: "Send the CSV as the body with Content-Type text/csv, or as JSON {\"csv\": \"…\"}. Every row is checked first; one bad row refuses the whole file and names the row.",
      request: {
        params: OrgIdParam,
        // Not `required`: a text/csv body must get past the JSON validator, which then checks JSON bodies only.
        body: {
          required: false,
          content: {
            "application/json": { schema: z.object({ csv: z.string().min(1).max(200_000) }) },
            "text/csv": { schema: z.string().openapi({ example: "email,role\nana@example.com,member\nbo@example.com,viewer" }) },
          },
        },
      },
      responses: { 201: json(z.object({ data: z.array(InvitationSchema), delivery: z.array(DeliverySchema.extend({ email: z.string() })) }), "All invited") },
    }),
    async (c) => {
      const { orgId, orgPlan } = c.var.org;
      const cfg = c.var.config;
      const plan = planOf(orgPlan);
      if (!plan.bulkInvite) {
        throw new ApiError("plan_limit", `Bulk CSV invite is not included in the ${plan.name} plan; upgrade to Pro or invite people one by one`, {
          limit_name: "bulk_invite", plan: plan.id, upgrade_plan: Object.values(PLANS).sort((a, b) => a.rank - b.rank).find((p) => p.bulkInvite)?.id ?? null,
        });
      }
      const isCsv = (c.req.header("content-type") ?? "").toLowerCase().startsWith("text/csv");
      const text = isCsv ? await c.req.text() : (c.req.valid("json") as { csv?: string }).csv;
      if (!text) throw new ApiError("invalid_request", "Send the CSV as a text/csv body or as JSON {\"csv\": \"…\"}", { param: "csv" });
      if (text.length > 200_000) throw new ApiError("invalid_request", "The CSV is larger than 200,000 characters; split it", { param: "csv" });
      const db = getDb(c.env.DB);
      const { org, inviterName } = await loadInvitingOrg(c, db);
      const { invitees, problems } = parseInvitationCsv(text);
      const conflicts = await findInviteeConflicts(db, orgId, await getOrgMode(db, cfg), invitees.map((i) => i.email));
      for (const i of invitees) {
        const conflict = conflicts.get(i.email);
        if (conflict) problems.push({ row: i.row, reason: conflict.message });
      }
      if (problems.length) {
        problems.sort((a, b) => a.row - b.row);
        const list = problems.slice(0, 10).map((p) => `row ${p.row}: ${p.reason}`).join("; ");
        const more = problems.length > 10 ? ` (and ${problems.length - 10} more)` : "";
        throw new ApiError("invalid_request", `Nothing was invited. Fix the CSV and send it again — ${list}${more}`, { param: "csv", row: problems[0]!.row, bad_rows: problems.length });
      }
      await assertSeatsFor(db, orgId, orgPlan, invitees.filter((i) => i.role !== "viewer").length);

      const invitedBy = auditActorOf(c).actorId;
      const expiresAt = invitationExpiresAt(org.settings, cfg);
      const issued = await Promise.all(invitees.map(async (i) => ({ ...(await newInvitationToken()), id: newId("inv"), email: i.email, role: i.role })));
      await runSeatGuarded(db, orgId, orgPlan, () => runBatch(db, [
        ...issued.map((i) => insertInvitation(db, { id: i.id, orgId, email: i.email, role: seatGuardedRole(i.role, orgId, plan.seats), teamIds: [], tokenHash: i.tokenHash, invitedBy, expiresAt })),
        auditInsert(db, orgId, auditActorOf(c), {
          action: "invitation.bulk_create", targetType: "invitation", targetId: null,
          after: { count: issued.length, invitations: issued.map((i) => ({ id: i.id, email: i.email, role: i.role })), expires_at: expiresAt },
        }),
      ]));
      // A few sends at a time: Workers cap simultaneous outbound connections at 6.
      const deliveries: Array<ReturnType<typeof delivery> & { email: string }> = [];
      for (let at = 0; at < issued.length; at += 6) {
        const chunk = issued.slice(at, at + 6);
        const sent = await Promise.all(chunk.map((i) => sendInvitationEmail(cfg, db, { to: i.email, org, inviterName, role: i.role, token: i.token, expiresAt })));
        sent.forEach((r, k) => deliveries.push({ email: chunk[k]!.email, ...delivery(r) }));
      }
      const now = Date.now();
      const rows = await Promise.all(issued.map((i) => findInvitation(db, orgId, i.id)));
      return c.json({ data: rows.map((r) => invitationView(r!, now)), delivery: deliveries }, 201);
    },
  )
  .openapi(
    orgRoute("admin", {
      method: "post",
      path: "/orgs/{orgId}/invitations/{id}/resend",
      tags: ["invitations"],
      summary: "Send the invitation again with a new link and a fresh expiry (the old link stops working)",
      request: { params: InvitationParams },
      responses: { 200: json(InvitationSchema.extend({ delivery: DeliverySchema }), "Resent") },
    }),
    async (c) => {
      const { orgId, orgPlan } = c.var.org;
      const { id } = c.req.valid("param");
      const cfg = c.var.config;
      const db = getDb(c.env.DB);
      const inv = await findInvitation(db, orgId, id);
      if (!inv) throw new ApiError("not_found", "Invitation not found");
      const status = invitationStatus(inv);
      if (status === "accepted" || status === "revoked") throw new ApiError("conflict", `This invitation was ${status}; create a new one instead`);
      const { org, inviterName } = await loadInvitingOrg(c, db);
      // An expired invitation held no seat; reviving it takes one again.
      if (status === "expired" && inv.role !== "viewer") await assertSeatsFor(db, orgId, orgPlan, 1, inv.id);
      const { token, tokenHash } = await newInvitationToken();
      const expiresAt = invitationExpiresAt(org.settings, cfg);
      // Reviving an expired invitation takes a seat again; the statement re-checks it (see seatGuardedRole).
      const revivedRole = status === "expired" ? seatGuardedRole(inv.role, orgId, planOf(orgPlan).seats) : undefined;
      await runSeatGuarded(db, orgId, orgPlan, () => db.batch([
        reissueInvitation(db, orgId, id, tokenHash, expiresAt, revivedRole),
        auditInsert(db, orgId, auditActorOf(c), {
          action: "invitation.resend", targetType: "invitation", targetId: id,
          before: { expires_at: inv.expiresAt, send_count: inv.sendCount }, after: { expires_at: expiresAt, send_count: inv.sendCount + 1 },
        }),
      ]));
      const sent = await sendInvitationEmail(cfg, db, { to: inv.email, org, inviterName, role: inv.role, token, expiresAt });
      return c.json({ ...invitationView((await findInvitation(db, orgId, id))!), delivery: delivery(sent) }, 200);
    },
  )
  .openapi(
    orgRoute("admin", {
      method: "delete",
      path: "/orgs/{orgId}/invitations/{id}",
      tags: ["invitations"],
      summary: "Revoke a pending invitation; its link answers 410 from now on",
      request: { params: InvitationParams },
      responses: { 200: json(InvitationSchema, "Revoked") },
    }),
    async (c) => {
      const { orgId } = c.var.org;
      const { id } = c.req.valid("param");
      const db = getDb(c.env.DB);
      const inv = await findInvitation(db, orgId, id);
      if (!inv) throw new ApiError("not_found", "Invitation not found");
      const status = invitationStatus(inv);
      if (status === "accepted" || status === "revoked") throw new ApiError("conflict", `This invitation was already ${status}`);
      await db.batch([
        revokeInvitation(db, orgId, id),
        auditInsert(db, orgId, auditActorOf(c), { action: "invitation.revoke", targetType: "invitation", targetId: id, before: { email: inv.email, role: inv.role, status }, after: { status: "revoked" } }),
      ]);
      return c.json(invitationView((await findInvitation(db, orgId, id))!), 200);
    },
  );
