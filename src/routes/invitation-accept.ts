/**
 * The invitee side of invitations: a public preview of a token and its acceptance by the signed-in
 * user whose email it was sent to. Acceptance is rate limited per user and per IP. Accepting verifies
 * the user's email (the emailed token proves the mailbox); see docs/membership.md.
 */
import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { auditActorOf, auditInsert } from "../db/audit";
import { getDb } from "../db/client";
import { insertTeamMemberships, isEmailVerified, listExistingTeamIds, markEmailVerifiedByInvitation, markInvitationAccepted } from "../db/invitations";
import { findMember, insertMembershipFromInvitation } from "../db/members";
import { isNotNullViolation, isSingleOrgViolation, isUniqueViolation, prepareMembershipInsert, runBatch, userHasAnyOrg } from "../db/orgs";
import { hitRateLimit } from "../db/rate-limits";
import { ApiError, validationHook } from "../errors";
import { publicRoute, userRoute } from "../lib/route";
import { userActor } from "../middleware/auth";
import { findInvitationByToken, maskEmail, unusableMessage } from "../services/invitation-lookup";
import { checkSeats, seatLimitError, seatRaceError } from "../services/seats";
import { planOf } from "../plans";
import { OrgSchema, orgView } from "./orgs";
import { controlPlaneEvent } from "../services/webhook-events";

/** Accept attempts allowed per minute, per user and per client IP. */
export const ACCEPT_LIMITS = { perUser: 10, perIp: 60, windowMs: 60_000 } as const;

const TokenParam = z.object({ token: z.string().max(64).openapi({ param: { name: "token", in: "path" } }) });
const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { "application/json": { schema } } });
const SINGLE_ORG_CONFLICT = "You already belong to an organization, and this deployment allows one organization per user; leave it first";

export const invitationAcceptRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(
    publicRoute({
      method: "get",
      path: "/invitations/{token}",
      tags: ["invitations"],
      summary: "Preview an invitation (public): org, role, masked email, expiry. Used, expired or revoked tokens answer 410",
      request: { params: TokenParam },
      responses: {
        200: json(
          z.object({
            org: z.object({ id: z.string(), name: z.string(), slug: z.string() }),
            role: z.enum(["admin", "member", "viewer"]),
            email: z.string(),
            invited_by: z.string(),
            expires_at: z.string(),
            status: z.literal("pending"),
          }),
          "A pending invitation",
        ),
      },
    }),
    async (c) => {
      const found = await findInvitationByToken(getDb(c.env.DB), c.req.valid("param").token);
      if (!found) throw new ApiError("not_found", "Invitation not found; check the link in your email");
      if (found.status !== "pending") throw new ApiError("invitation_expired", unusableMessage(found.status), { status: found.status });
      const { inv, org } = found;
      return c.json(
        {
          org: { id: org.id, name: org.name, slug: org.slug }, role: inv.role, email: maskEmail(inv.email), invited_by: found.inviterName,
          expires_at: new Date(inv.expiresAt).toISOString(), status: "pending" as const,
        },
        200,
      );
    },
  )
  .openapi(
    userRoute({
      method: "post",
      path: "/invitations/{token}/accept",
      tags: ["invitations"],
      summary: "Accept an invitation as the signed-in user it was sent to",
      request: { params: TokenParam },
      responses: { 200: json(z.object({ org: OrgSchema, team_ids: z.array(z.string()) }), "Joined") },
    }),
    async (c) => {
      const user = userActor(c.var.actor);
      const db = getDb(c.env.DB);
      const ip = c.req.header("cf-connecting-ip") ?? "unknown";
      for (const [scope, bucket, limit] of [["user", `invite-accept:user:${user.userId}`, ACCEPT_LIMITS.perUser], ["ip", `invite-accept:ip:${ip}`, ACCEPT_LIMITS.perIp]] as const) {
        const hit = await hitRateLimit(db, bucket, limit, ACCEPT_LIMITS.windowMs);
        if (!hit.allowed) {
          throw new ApiError("rate_limit_exceeded", `Too many invitation acceptance attempts; try again in ${hit.retryAfterSeconds} s`, { scope }, { "Retry-After": String(hit.retryAfterSeconds) });
        }
      }

      const found = await findInvitationByToken(db, c.req.valid("param").token);
      if (!found) throw new ApiError("not_found", "Invitation not found; check the link in your email");
      if (found.status !== "pending") throw new ApiError("invitation_expired", unusableMessage(found.status), { status: found.status });
      const { inv, org } = found;
      if (inv.email.toLowerCase() !== user.email.toLowerCase()) {
        throw new ApiError("permission_denied", `This invitation was sent to ${maskEmail(inv.email)}; sign in with that email address to accept it`);
      }
      if (await findMember(db, org.id, user.userId)) throw new ApiError("conflict", `You are already a member of ${org.name}`);
      // Acceptance needs a verified address. This path holds the token that was emailed to exactly this
      // address, which proves control of the mailbox: an unverified address is verified by the act.
      const verifiesEmail = !(await isEmailVerified(db, user.userId));
      if ((await prepareMembershipInsert(db, c.var.config)) === "single" && (await userHasAnyOrg(db, user.userId, org.id))) {
        throw new ApiError("conflict", SINGLE_ORG_CONFLICT);
      }
      if (inv.role !== "viewer") {
        // The pending invitation already holds its seat: leave it out and count the new member instead.
        const seats = await checkSeats(db, org.id, org.plan, 1, { excludeInvitationId: inv.id });
        if (!seats.ok) throw seatLimitError(seats);
      }
      // Teams deleted since the invitation was sent are skipped.
      const teamIds = await listExistingTeamIds(db, org.id, inv.teamIds);
      const accepted = controlPlaneEvent(db, org.id, "invitation.accepted", { invitation_id: inv.id, user_id: user.userId, email: inv.email, role: inv.role });
      const added = controlPlaneEvent(db, org.id, "member.added", { user_id: user.userId, email: inv.email, role: inv.role, via: "invitation" });
      try {
        await runBatch(db, [
          // Role read from the still-pending invitation inside the statement: a concurrent accept,
          // revoke or seat grab fails the whole batch instead of slipping a membership in.
          insertMembershipFromInvitation(db, org.id, user.userId, inv.id, planOf(org.plan).seats),
          ...insertTeamMemberships(db, org.id, user.userId, teamIds),
          markInvitationAccepted(db, org.id, inv.id, user.userId),
          ...(verifiesEmail ? [markEmailVerifiedByInvitation(db, user.userId, inv.email)] : []),
          auditInsert(db, org.id, auditActorOf(c), {
            action: "invitation.accept", targetType: "invitation", targetId: inv.id,
            after: { user_id: user.userId, role: inv.role, team_ids: teamIds, email_verified_by_invitation: verifiesEmail },
          }),
          accepted.stmt,
          added.stmt,
        ]);
        accepted.wake(c.env, c.executionCtx);
      } catch (err) {
        if (isSingleOrgViolation(err)) throw new ApiError("conflict", SINGLE_ORG_CONFLICT);
        if (isUniqueViolation(err, "memberships")) throw new ApiError("conflict", `You are already a member of ${org.name}`);
        if (isNotNullViolation(err, "memberships.role")) {
          const now = await findInvitationByToken(db, c.req.valid("param").token);
          if (now && now.status !== "pending") throw new ApiError("invitation_expired", unusableMessage(now.status), { status: now.status });
          throw await seatRaceError(db, org.id, org.plan);
        }
        throw err;
      }
      return c.json({ org: orgView(org, inv.role), team_ids: teamIds }, 200);
    },
  );
