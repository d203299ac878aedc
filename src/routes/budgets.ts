/**
 * Budgets and limits (docs/budgets.md): list and status for every member; create for admins on any
 * scope and for members only on scopes they own (their keys, themselves, a team of theirs that lets
 * members manage its budgets), so a member can only tighten; edit/delete for admins. Every change is
 * written to D1 with its audit row in one batch, then the org's gate reloads its budgets before the
 * answer, so the very next request sees the change.
 */
import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../app-env";
import { auditActorOf, auditInsert } from "../db/audit";
import {
  countBudgets, decodeBudgetCursor, deleteBudgetStmt, encodeBudgetCursor, findBudget, findBudgetBySlot, insertBudgetStmt, isOrgMember, keyCreator,
  listBudgets, updateBudgetStmt, type BudgetRow,
} from "../db/budgets";
import { findTeam, isTeamMember, type TeamRow } from "../db/teams";
import { getDb, type Db } from "../db/client";
import { orgGate, refreshGate } from "../durable-objects/org-gate-client";
import { ApiError, validationHook } from "../errors";
import { newId } from "../lib/ids";
import { roleAtLeast } from "../lib/roles";
import { orgRoute } from "../lib/route";
import { planOf } from "../plans";
import { planLimitError } from "../services/plan-limits";
import { formatMicrosFixed, parseUsdToMicros } from "../lib/usd";

const orgParams = z.object({ orgId: z.string() });
const budgetParams = orgParams.extend({ budgetId: z.string() });

const SCOPES = ["org", "team", "key", "customer", "tag", "member"] as const;
const PERIODS = ["daily", "weekly", "monthly", "total"] as const;

const usdAmount = z
  .union([z.string(), z.number()])
  .openapi({ description: "US dollars as a decimal string or number, up to 6 decimals (e.g. \"500\", \"12.50\")", example: "500.00" });
const positiveInt = z.number().int().min(1).max(1_000_000_000);
const thresholds = z
  .array(z.number().int().min(1).max(1000))
  .max(10)
  .refine((a) => new Set(a).size === a.length, "thresholds must be distinct")
  .openapi({ description: "Alert thresholds in percent of the limit (default 50, 80, 90, 100)" });
const velocityInput = z.object({
  limit_usd: usdAmount,
  window_seconds: z.number().int().min(10).max(86_400),
  cooldown_seconds: z.number().int().min(10).max(604_800),
});

const createBody = z
  .object({
    scope: z.enum(SCOPES),
    scope_id: z.string().trim().min(1).max(200).nullable().optional()
      .openapi({ description: "team id, key id, customer id, `name=value` tag, or user id (member); none for org, the default customer budget and a team's default member budget" }),
    team_id: z.string().trim().min(1).max(200).nullable().optional()
      .openapi({ description: "Only with scope `member` and no scope_id: the team whose members each get this budget by default" }),
    limit_usd: usdAmount.nullable().optional(),
    period: z.enum(PERIODS),
    mode: z.enum(["hard", "soft"]).default("hard"),
    rpm: positiveInt.nullable().optional(),
    tpm: positiveInt.nullable().optional(),
    alert_thresholds: thresholds.optional(),
    velocity: velocityInput.nullable().optional(),
  })
  .openapi("BudgetCreate");

const patchBody = z
  .object({
    limit_usd: usdAmount.nullable().optional(),
    period: z.enum(PERIODS).optional(),
    mode: z.enum(["hard", "soft"]).optional(),
    rpm: positiveInt.nullable().optional(),
    tpm: positiveInt.nullable().optional(),
    alert_thresholds: thresholds.optional(),
    velocity: velocityInput.nullable().optional(),
  })
  .strict()
  .openapi("BudgetPatch");

const budgetSchema = z
  .object({
    id: z.string(),
    scope: z.enum(SCOPES),
    scope_id: z.string().nullable(),
    team_id: z.string().nullable().openapi({ description: "Team of a default member budget; null otherwise" }),
    limit_micros: z.number().int().nullable(),
    limit_usd: z.string().nullable(),
    period: z.enum(PERIODS),
    mode: z.enum(["hard", "soft"]),
    rpm: z.number().int().nullable(),
    tpm: z.number().int().nullable(),
    alert_thresholds: z.array(z.number().int()),
    velocity: z.object({ limit_micros: z.number().int(), limit_usd: z.string(), window_seconds: z.number().int(), cooldown_seconds: z.number().int() }).nullable(),
    created_by: z.string(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("Budget");

const statusSchema = z
  .object({
    budget_id: z.string(),
    spent_micros: z.number().int(),
    reserved_micros: z.number().int(),
    limit_micros: z.number().int().nullable(),
    spent_usd: z.string(),
    limit_usd: z.string().nullable(),
    period_start: z.string(),
    resets_at: z.string().nullable(),
    instances: z.number().int(),
    breaker: z.object({ tripped: z.boolean(), tripped_until: z.string().nullable() }),
  })
  .openapi("BudgetStatus");

const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { "application/json": { schema } } });
const body = <T extends z.ZodType>(schema: T) => ({ content: { "application/json": { schema } }, required: true });

function present(b: BudgetRow) {
  return {
    id: b.id, scope: b.scope, scope_id: b.scopeId, team_id: b.teamId, limit_micros: b.limitMicros, limit_usd: b.limitMicros === null ? null : formatMicrosFixed(b.limitMicros),
    period: b.period, mode: b.mode, rpm: b.rpm, tpm: b.tpm, alert_thresholds: b.alertThresholds,
    velocity: b.velocityLimitMicros !== null && b.velocityWindowSeconds !== null
      ? { limit_micros: b.velocityLimitMicros, limit_usd: formatMicrosFixed(b.velocityLimitMicros), window_seconds: b.velocityWindowSeconds, cooldown_seconds: b.velocityCooldownSeconds ?? 300 }
      : null,
    created_by: b.createdBy, created_at: new Date(b.createdAt).toISOString(), updated_at: new Date(b.updatedAt).toISOString(),
  };
}

/** Audit snapshot of a budget (no secrets in budgets, but keep it to the meaningful fields). */
const auditView = (b: BudgetRow) => {
  const { createdAt: _c, updatedAt: _u, orgId: _o, ...rest } = b;
  return rest;
};

function parseUsd(value: string | number, param: string): number {
  const micros = parseUsdToMicros(value);
  if (micros === null) throw new ApiError("invalid_request", `${param}: expected a non-negative USD amount with at most 6 decimals`, { param });
  return micros;
}

function parseVelocity(v: z.infer<typeof velocityInput> | null | undefined) {
  if (v === undefined) return undefined;
  if (v === null) return { velocityLimitMicros: null, velocityWindowSeconds: null, velocityCooldownSeconds: null };
  const limit = parseUsd(v.limit_usd, "velocity.limit_usd");
  if (limit <= 0) throw new ApiError("invalid_request", "velocity.limit_usd must be greater than 0", { param: "velocity.limit_usd" });
  return { velocityLimitMicros: limit, velocityWindowSeconds: v.window_seconds, velocityCooldownSeconds: v.cooldown_seconds };
}

/** What a budget applies to, resolved against the org (the key's creator and the team for the permission rules). */
type Target = { scopeId: string | null; teamId: string | null; keyCreatedBy?: string; team?: TeamRow };

/**
 * Checks the scope target: team/key/member must exist in this org (404 otherwise), tags look like
 * `name=value`, `team_id` only names the team of a default member budget.
 */
async function resolveTarget(db: Db, orgId: string, scope: BudgetRow["scope"], scopeId: string | null | undefined, teamId: string | null | undefined): Promise<Target> {
  const id = scopeId ?? null;
  const team = teamId ?? null;
  if (team !== null && !(scope === "member" && id === null)) {
    throw new ApiError("invalid_request", "team_id is only for a team's default member budget (scope 'member' without scope_id)", { param: "team_id" });
  }
  switch (scope) {
    case "org":
      if (id !== null) throw new ApiError("invalid_request", "An org budget takes no scope_id", { param: "scope_id" });
      return { scopeId: null, teamId: null };
    case "team": {
      if (id === null) throw new ApiError("invalid_request", "A team budget needs scope_id (the team id)", { param: "scope_id" });
      const row = await findTeam(db, orgId, id);
      if (!row) throw new ApiError("not_found", "Team not found", { param: "scope_id" });
      return { scopeId: id, teamId: null, team: row };
    }
    case "key": {
      if (id === null) throw new ApiError("invalid_request", "A key budget needs scope_id (the key id)", { param: "scope_id" });
      const createdBy = await keyCreator(db, orgId, id);
      if (createdBy === undefined) throw new ApiError("not_found", "Key not found", { param: "scope_id" });
      return { scopeId: id, teamId: null, keyCreatedBy: createdBy };
    }
    case "member": {
      if (id !== null) {
        if (!(await isOrgMember(db, orgId, id))) throw new ApiError("not_found", "User is not a member of this org", { param: "scope_id" });
        return { scopeId: id, teamId: null };
      }
      if (team === null) {
        throw new ApiError("invalid_request", "A member budget needs scope_id (the user id) or team_id (a team's default member budget)", { param: "scope_id" });
      }
      const row = await findTeam(db, orgId, team);
      if (!row) throw new ApiError("not_found", "Team not found", { param: "team_id" });
      return { scopeId: null, teamId: team, team: row };
    }
    case "customer":
      return { scopeId: id, teamId: null }; // null = the default budget of every customer
    case "tag":
      if (id === null || !/^[^=\s,]{1,100}=[^=,]{1,100}$/.test(id)) {
        throw new ApiError("invalid_request", "A tag budget needs scope_id 'name=value'", { param: "scope_id" });
      }
      return { scopeId: id, teamId: null };
  }
}

/** The user a caller acts as: the signed-in user, or the user who made the management token. */
function callerUserId(c: Context<AppEnv>): string {
  const a = c.var.actor!;
  return a.type === "user" ? a.userId : a.createdBy;
}

/**
 * Below admin, a budget may only be created on a scope the caller owns, so it can only tighten their
 * own traffic (or their team's, when the team allows it). Rules: docs/budgets.md, "Who may set budgets".
 */
async function assertMayCreate(c: Context<AppEnv>, db: Db, scope: BudgetRow["scope"], t: Target): Promise<void> {
  if (roleAtLeast(c.var.org.role, "admin")) return;
  const me = callerUserId(c);
  switch (scope) {
    case "key":
      if (t.keyCreatedBy === me) return;
      throw new ApiError("permission_denied", "Members may only create budgets on keys they created", { param: "scope_id" });
    case "member":
      if (t.scopeId !== null) {
        if (t.scopeId === me) return;
        throw new ApiError("permission_denied", "Members may only create member budgets for themselves", { param: "scope_id" });
      }
    // falls through: a team's default member budget follows the team rule
    case "team":
      if (t.team && t.team.membersManageBudgets && (await isTeamMember(db, c.var.org.orgId, t.team.id, me))) return;
      throw new ApiError(
        "permission_denied",
        "Members may create budgets on a team only when they are on it and the team lets its members manage its budgets",
        { param: t.teamId !== null ? "team_id" : "scope_id" },
      );
    default:
      throw new ApiError("permission_denied", `Only admins can create ${scope} budgets: they bind everyone in the org`, { param: "scope" });
  }
}

async function requireBudget(db: Db, orgId: string, budgetId: string): Promise<BudgetRow> {
  const b = await findBudget(db, orgId, budgetId);
  if (!b) throw new ApiError("not_found", "Budget not found", { param: "budgetId" });
  return b;
}

async function refreshBudgets(c: Context<AppEnv>, orgId: string) {
  await refreshGate(c.env, orgId, ["budgets"]);
}

export const budgetsRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(
    orgRoute("viewer", {
      method: "get",
      path: "/orgs/{orgId}/budgets",
      tags: ["budgets"],
      summary: "List the org's budgets",
      request: { params: orgParams, query: z.object({ cursor: z.string().optional(), limit: z.coerce.number().int().min(1).max(200).default(50) }) },
      responses: { 200: json(z.object({ data: z.array(budgetSchema), next_cursor: z.string().nullable() }), "A page of budgets") },
    }),
    async (c) => {
      const { orgId } = c.var.org;
      const q = c.req.valid("query");
      const after = q.cursor ? decodeBudgetCursor(q.cursor) : null;
      if (q.cursor && !after) throw new ApiError("invalid_request", "Malformed cursor", { param: "cursor" });
      const rows = await listBudgets(getDb(c.env.DB), orgId, { after, limit: q.limit });
      const page = rows.slice(0, q.limit);
      return c.json({ data: page.map(present), next_cursor: rows.length > q.limit ? encodeBudgetCursor(page[page.length - 1]!) : null }, 200);
    },
  )
  .openapi(
    orgRoute("member", {
      method: "post",
      path: "/orgs/{orgId}/budgets",
      tags: ["budgets"],
      summary: "Create a budget (dollar limit, RPM/TPM, alerts, velocity breaker)",
      request: { params: orgParams, body: body(createBody) },
      responses: { 201: json(budgetSchema, "The new budget") },
    }),
    async (c) => {
      const { orgId, orgPlan } = c.var.org;
      const input = c.req.valid("json");
      const db = getDb(c.env.DB);
      const limitMicros = input.limit_usd === undefined || input.limit_usd === null ? null : parseUsd(input.limit_usd, "limit_usd");
      const velocity = parseVelocity(input.velocity);
      if (limitMicros === null && !input.rpm && !input.tpm && !velocity?.velocityLimitMicros) {
        throw new ApiError("invalid_request", "A budget needs at least one of limit_usd, rpm, tpm or velocity", { param: "limit_usd" });
      }
      const target = await resolveTarget(db, orgId, input.scope, input.scope_id, input.team_id);
      await assertMayCreate(c, db, input.scope, target);
      const { scopeId, teamId } = target;
      const maxBudgets = planOf(orgPlan).budgets;
      const budgetCount = maxBudgets !== null ? await countBudgets(db, orgId) : 0;
      if (maxBudgets !== null && budgetCount >= maxBudgets) throw planLimitError(planOf(orgPlan), "budgets", budgetCount);
      if (await findBudgetBySlot(db, orgId, { scope: input.scope, scopeId, teamId, period: input.period })) {
        throw new ApiError("conflict", `A ${input.period} ${input.scope} budget for this target already exists; edit it instead`, { param: "scope_id" });
      }
      const actor = c.var.actor!;
      const now = Date.now();
      const row: BudgetRow = {
        id: newId("bud"), orgId, scope: input.scope, scopeId, teamId, createdByRole: c.var.org.role, limitMicros, period: input.period, mode: input.mode,
        rpm: input.rpm ?? null, tpm: input.tpm ?? null, alertThresholds: [...(input.alert_thresholds ?? [50, 80, 90, 100])].sort((a, b) => a - b),
        velocityLimitMicros: velocity?.velocityLimitMicros ?? null, velocityWindowSeconds: velocity?.velocityWindowSeconds ?? null,
        velocityCooldownSeconds: velocity?.velocityCooldownSeconds ?? null,
        createdBy: actor.type === "user" ? actor.userId : actor.tokenId, createdAt: now, updatedAt: now,
      };
      await db.batch([
        insertBudgetStmt(db, row),
        auditInsert(db, orgId, auditActorOf(c), { action: "budget.create", targetType: "budget", targetId: row.id, after: auditView(row) }),
      ]);
      await refreshBudgets(c, orgId);
      return c.json(present(row), 201);
    },
  )
  .openapi(
    orgRoute("viewer", {
      method: "get",
      path: "/orgs/{orgId}/budgets/{budgetId}",
      tags: ["budgets"],
      summary: "Get a budget",
      request: { params: budgetParams },
      responses: { 200: json(budgetSchema, "The budget") },
    }),
    async (c) => {
      const { orgId } = c.var.org;
      return c.json(present(await requireBudget(getDb(c.env.DB), orgId, c.req.valid("param").budgetId)), 200);
    },
  )
  .openapi(
    orgRoute("admin", {
      method: "patch",
      path: "/orgs/{orgId}/budgets/{budgetId}",
      tags: ["budgets"],
      summary: "Change a budget's limit, period, mode, rate limits, thresholds or velocity (applies to the next request)",
      request: { params: budgetParams, body: body(patchBody) },
      responses: { 200: json(budgetSchema, "The updated budget") },
    }),
    async (c) => {
      const { orgId } = c.var.org;
      const input = c.req.valid("json");
      const db = getDb(c.env.DB);
      const before = await requireBudget(db, orgId, c.req.valid("param").budgetId);
      if (!Object.keys(input).length) throw new ApiError("invalid_request", "Nothing to change", { param: null });
      const patch: Partial<BudgetRow> = { updatedAt: Date.now() };
      if (input.limit_usd !== undefined) patch.limitMicros = input.limit_usd === null ? null : parseUsd(input.limit_usd, "limit_usd");
      if (input.period !== undefined) patch.period = input.period;
      if (input.mode !== undefined) patch.mode = input.mode;
      if (input.rpm !== undefined) patch.rpm = input.rpm;
      if (input.tpm !== undefined) patch.tpm = input.tpm;
      if (input.alert_thresholds !== undefined) patch.alertThresholds = [...input.alert_thresholds].sort((a, b) => a - b);
      Object.assign(patch, parseVelocity(input.velocity) ?? {});
      const after: BudgetRow = { ...before, ...patch };
      if (after.limitMicros === null && !after.rpm && !after.tpm && after.velocityLimitMicros === null) {
        throw new ApiError("invalid_request", "A budget needs at least one of limit_usd, rpm, tpm or velocity", { param: "limit_usd" });
      }
      if (after.period !== before.period) {
        const clash = await findBudgetBySlot(db, orgId, { scope: after.scope, scopeId: after.scopeId, teamId: after.teamId, period: after.period });
        if (clash) throw new ApiError("conflict", `A ${after.period} budget for this target already exists`, { param: "period" });
      }
      await db.batch([
        updateBudgetStmt(db, orgId, before.id, patch),
        auditInsert(db, orgId, auditActorOf(c), { action: "budget.update", targetType: "budget", targetId: before.id, before: auditView(before), after: auditView(after) }),
      ]);
      await refreshBudgets(c, orgId);
      return c.json(present(after), 200);
    },
  )
  .openapi(
    orgRoute("admin", {
      method: "delete",
      path: "/orgs/{orgId}/budgets/{budgetId}",
      tags: ["budgets"],
      summary: "Delete a budget",
      request: { params: budgetParams },
      responses: { 200: json(z.object({ id: z.string(), deleted: z.literal(true) }), "Deleted") },
    }),
    async (c) => {
      const { orgId } = c.var.org;
      const db = getDb(c.env.DB);
      const before = await requireBudget(db, orgId, c.req.valid("param").budgetId);
      await db.batch([
        deleteBudgetStmt(db, orgId, before.id),
        auditInsert(db, orgId, auditActorOf(c), { action: "budget.delete", targetType: "budget", targetId: before.id, before: auditView(before) }),
      ]);
      await refreshBudgets(c, orgId);
      return c.json({ id: before.id, deleted: true as const }, 200);
    },
  )
  .openapi(
    orgRoute("viewer", {
      method: "get",
      path: "/orgs/{orgId}/budgets/{budgetId}/status",
      tags: ["budgets"],
      summary: "Live spend, reservations and breaker state of a budget in its current period (from the org's gate)",
      request: { params: budgetParams },
      responses: { 200: json(statusSchema, "Live status") },
    }),
    async (c) => {
      const { orgId } = c.var.org;
      const b = await requireBudget(getDb(c.env.DB), orgId, c.req.valid("param").budgetId);
      let s: Awaited<ReturnType<ReturnType<typeof orgGate>["budgetStatus"]>>;
      try {
        s = await orgGate(c.env, orgId).budgetStatus(orgId, b.id);
      } catch {
        throw new ApiError("budget_unavailable", "The org's budget service could not be reached; try again");
      }
      if (!s.ok) throw new ApiError("not_found", "Budget not found", { param: "budgetId" });
      return c.json({
        budget_id: b.id, spent_micros: s.spentMicros, reserved_micros: s.reservedMicros, limit_micros: s.limitMicros,
        spent_usd: formatMicrosFixed(s.spentMicros), limit_usd: s.limitMicros === null ? null : formatMicrosFixed(s.limitMicros),
        period_start: s.periodStart, resets_at: s.resetsAt, instances: s.instances,
        breaker: { tripped: s.breaker.tripped, tripped_until: s.breaker.trippedUntil },
      }, 200);
    },
  );
