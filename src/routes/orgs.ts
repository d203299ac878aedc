/**
 * Organizations: list the caller's orgs, create team orgs, read, rename and delete one.
 * Ownership transfer and leaving live in `org-membership.ts`; settings in `org-settings.ts`.
 */
import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { auditActorOf, auditInsert } from "../db/audit";
import { getDb } from "../db/client";
import {
  deleteOrgStatements, findOrg, insertMembership, insertOrg, isSingleOrgViolation, isSlugTaken, isUniqueViolation,
  listOrgsOfUser, prepareMembershipInsert, updateOrg, userHasAnyOrg, type OrgRow,
} from "../db/orgs";
import { ROLES, type Role } from "../db/schema";
import { deleteGateOrg } from "../durable-objects/org-gate-client";
import { ApiError, validationHook } from "../errors";
import { newId } from "../lib/ids";
import { orgRoute, userRoute } from "../lib/route";
import { SLUG_PATTERN, slugify, withRandomSuffix } from "../lib/slug";
import { userActor } from "../middleware/auth";
import { cancelStripeSubscriptionBeforeOrgDeletion } from "../services/org-lifecycle";

export const OrgSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    slug: z.string(),
    kind: z.enum(["personal", "team"]),
    plan: z.string(),
    role: z.enum(ROLES),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("Org");

/** The API view of an org as seen by a caller holding `role`. */
export function orgView(org: OrgRow, role: Role): z.infer<typeof OrgSchema> {
  return {
    id: org.id, name: org.name, slug: org.slug, kind: org.kind, plan: org.plan, role,
    created_at: new Date(org.createdAt).toISOString(), updated_at: new Date(org.updatedAt).toISOString(),
  };
}

export const OrgNameSchema = z.string().trim().min(1, "name must not be empty").max(100, "name is at most 100 characters");
export const SlugSchema = z
  .string()
  .trim()
  .toLowerCase()
  .regex(SLUG_PATTERN, "slug must be 3–48 characters of a–z, 0–9 and single hyphens, starting and ending with a letter or digit");

const OrgIdParam = z.object({ orgId: z.string().openapi({ param: { name: "orgId", in: "path" } }) });
const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { "application/json": { schema } } });

/** Refuses changes to personal orgs, which are fixed to their single owner (docs/membership.md). */
export function assertTeamOrg(kind: "personal" | "team", what: string): void {
  if (kind === "personal") throw new ApiError("permission_denied", `Personal organizations cannot be ${what}; create a team organization instead`);
}

/** Throws 409 when another org holds `slug`. */
export async function assertSlugFree(db: ReturnType<typeof getDb>, slug: string, exceptOrgId?: string): Promise<void> {
  if (await isSlugTaken(db, slug, exceptOrgId)) throw new ApiError("conflict", `The slug '${slug}' is already taken`, { param: "slug" });
}

export const orgRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(
    userRoute({
      method: "get",
      path: "/orgs",
      tags: ["orgs"],
      summary: "The caller's organizations, with their role in each",
      responses: { 200: json(z.object({ data: z.array(OrgSchema), next_cursor: z.null() }), "Organizations") },
    }),
    async (c) => {
      const user = userActor(c.var.actor);
      const rows = await listOrgsOfUser(getDb(c.env.DB), user.userId);
      return c.json({ data: rows.map((r) => orgView(r.org, r.role)), next_cursor: null }, 200);
    },
  )
  .openapi(
    userRoute({
      method: "post",
      path: "/orgs",
      tags: ["orgs"],
      summary: "Create a team organization; the caller becomes its owner",
      request: { body: { required: true, content: { "application/json": { schema: z.object({ name: OrgNameSchema, slug: SlugSchema.optional() }) } } } },
      responses: { 201: json(OrgSchema, "Created") },
    }),
    async (c) => {
      const user = userActor(c.var.actor);
      const body = c.req.valid("json");
      const db = getDb(c.env.DB);
      if ((await prepareMembershipInsert(db, c.var.config)) === "single" && (await userHasAnyOrg(db, user.userId))) {
        throw new ApiError("conflict", "This deployment allows one organization per user and you already belong to one; leave it first");
      }
      if (body.slug) await assertSlugFree(db, body.slug);
      const id = newId("org");
      // An auto slug that collides (now or in a race) gets a random suffix; an explicit one is the caller's choice: 409.
      let slug = body.slug ?? slugify(body.name);
      if (!body.slug && (await isSlugTaken(db, slug))) slug = withRandomSuffix(slug);
      for (let attempt = 0; ; attempt++) {
        try {
          await db.batch([
            insertOrg(db, { id, name: body.name, slug, kind: "team", createdBy: user.userId }),
            insertMembership(db, id, user.userId, "owner"),
            auditInsert(db, id, auditActorOf(c), { action: "org.create", targetType: "org", targetId: id, after: { name: body.name, slug, kind: "team" } }),
          ]);
          break;
        } catch (err) {
          if (isSingleOrgViolation(err)) throw new ApiError("conflict", "This deployment allows one organization per user and you already belong to one; leave it first");
          if (isUniqueViolation(err, "orgs.slug")) {
            if (body.slug || attempt >= 3) throw new ApiError("conflict", `The slug '${slug}' is already taken`, { param: "slug" });
            slug = withRandomSuffix(slugify(body.name));
            continue;
          }
          throw err;
        }
      }
      const org = await findOrg(db, id);
      return c.json(orgView(org!, "owner"), 201);
    },
  )
  .openapi(
    orgRoute("viewer", {
      method: "get",
      path: "/orgs/{orgId}",
      tags: ["orgs"],
      summary: "One organization",
      request: { params: OrgIdParam },
      responses: { 200: json(OrgSchema, "The organization") },
    }),
    async (c) => {
      const org = await findOrg(getDb(c.env.DB), c.var.org.orgId);
      if (!org) throw new ApiError("not_found", "Organization not found");
      return c.json(orgView(org, c.var.org.role), 200);
    },
  )
  .openapi(
    orgRoute("admin", {
      method: "patch",
      path: "/orgs/{orgId}",
      tags: ["orgs"],
      summary: "Rename an organization or change its slug (team orgs only)",
      request: {
        params: OrgIdParam,
        body: {
          required: true,
          content: {
            "application/json": {
              schema: z
                .object({ name: OrgNameSchema.optional(), slug: SlugSchema.optional() })
                .refine((b) => b.name !== undefined || b.slug !== undefined, { message: "send name and/or slug" }),
            },
          },
        },
      },
      responses: { 200: json(OrgSchema, "Updated") },
    }),
    async (c) => {
      const { orgId, role, orgKind } = c.var.org;
      const body = c.req.valid("json");
      const db = getDb(c.env.DB);
      assertTeamOrg(orgKind, "renamed");
      const org = await findOrg(db, orgId);
      if (!org) throw new ApiError("not_found", "Organization not found");
      const patch: { name?: string; slug?: string } = {};
      if (body.name !== undefined && body.name !== org.name) patch.name = body.name;
      if (body.slug !== undefined && body.slug !== org.slug) patch.slug = body.slug;
      if (Object.keys(patch).length === 0) return c.json(orgView(org, role), 200);
      if (patch.slug) await assertSlugFree(db, patch.slug, orgId);
      const before = { name: org.name, slug: org.slug };
      try {
        await db.batch([
          updateOrg(db, orgId, patch),
          auditInsert(db, orgId, auditActorOf(c), { action: "org.update", targetType: "org", targetId: orgId, before, after: { ...before, ...patch } }),
        ]);
      } catch (err) {
        if (isUniqueViolation(err, "orgs.slug")) throw new ApiError("conflict", `The slug '${patch.slug}' is already taken`, { param: "slug" });
        throw err;
      }
      return c.json(orgView((await findOrg(db, orgId))!, role), 200);
    },
  )
  .openapi(
    orgRoute("owner", {
      method: "delete",
      path: "/orgs/{orgId}",
      tags: ["orgs"],
      summary: "Delete a team organization (irreversible; confirm by typing its slug)",
      description:
        "Cancels the subscription, revokes every virtual key at once (the gate refuses them on the next request), " +
        "removes members and invitations and deletes every resource of the org. The audit trail keeps the deletion.",
      request: {
        params: OrgIdParam,
        body: { required: true, content: { "application/json": { schema: z.object({ confirm: z.string().min(1, "type the org's slug to confirm") }) } } },
      },
      responses: { 200: json(z.object({ id: z.string(), deleted: z.literal(true) }), "Deleted") },
    }),
    async (c) => {
      const { orgId, orgKind } = c.var.org;
      const db = getDb(c.env.DB);
      assertTeamOrg(orgKind, "deleted");
      const org = await findOrg(db, orgId);
      if (!org) throw new ApiError("not_found", "Organization not found");
      if (c.req.valid("json").confirm !== org.slug) {
        throw new ApiError("invalid_request", `Type the organization's slug '${org.slug}' to confirm deletion`, { param: "confirm" });
      }
      const billing = await cancelStripeSubscriptionBeforeOrgDeletion(c.var.config, org);
      if (!billing.ok) throw new ApiError("upstream_error", `Organization not deleted: ${billing.reason}`);
      const actor = auditActorOf(c);
      await db.batch([
        auditInsert(db, orgId, actor, { action: "org.delete", targetType: "org", targetId: orgId, before: { name: org.name, slug: org.slug, plan: org.plan } }),
        ...deleteOrgStatements(db, orgId, actor.actorId),
      ]);
      // D1 first, then the gate before answering (retried; if it never confirms, the gate finds the org row
      // gone at its next reconciliation): every key of the org is refused from the next request on.
      await deleteGateOrg(c.env, orgId);
      return c.json({ id: orgId, deleted: true as const }, 200);
    },
  );
