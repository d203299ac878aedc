/**
 * `GET /orgs/{orgId}/billing/credits`: the prepaid balance and its ledger (grants and top-ups, usage by
 * day), owner only like the rest of billing (docs/billing.md#prepaid-credits).
 */
import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { getDb } from "../db/client";
import { creditGrantTotal, creditUsageByDay, listCreditGrants, orgSpendSince } from "../db/credits";
import { validationHook } from "../errors";
import { orgRoute } from "../lib/route";
import { isoTime, jsonResponse, orgParams } from "../lib/route-io";
import { creditBalance } from "../services/credits";

const DAY_MS = 86_400_000;

const creditsSchema = z
  .object({
    enabled: z.boolean().openapi({ description: "Prepaid credits are on for this deployment" }),
    balance_micros: z.number().int().nullable().openapi({ description: "Σ grants − spend (never below 0); null when credits are off" }),
    reserved_micros: z.number().int().nullable().openapi({ description: "Held by requests in flight" }),
    granted_micros: z.number().int(),
    used_micros: z.number().int().nullable(),
    low_balance_threshold_micros: z.number().int(),
    /** Where the balance came from: the live gate, or D1 (cost events may lag by seconds) when the gate could not answer. */
    source: z.enum(["gate", "d1"]).nullable(),
    grants: z.array(z.object({ id: z.string(), kind: z.enum(["signup", "topup", "adjustment"]), amount_micros: z.number().int(), ref: z.string(), created_at: z.string() })),
    usage_by_day: z.array(z.object({ day: z.string(), cost_micros: z.number().int(), requests: z.number().int() })),
  })
  .openapi("Credits");

/** `GET /orgs/{orgId}/billing/credits`. */
export const creditsRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook }).openapi(
  orgRoute("owner", {
    method: "get",
    path: "/orgs/{orgId}/billing/credits",
    tags: ["billing"],
    summary: "Prepaid credit balance, grants and top-ups, and usage by day",
    request: {
      params: orgParams,
      query: z.object({ days: z.coerce.number().int().min(1).max(400).default(30).openapi({ description: "Usage by day for this many days back (UTC)" }) }),
    },
    responses: { 200: jsonResponse(creditsSchema, "The org's prepaid credits") },
  }),
  async (c) => {
    const orgId = c.var.org.orgId;
    const cfg = c.var.config;
    const db = getDb(c.env.DB);
    const { days } = c.req.valid("query");
    const from = Math.floor(Date.now() / DAY_MS) * DAY_MS - (days - 1) * DAY_MS;
    const [grants, usage] = await Promise.all([listCreditGrants(db, orgId), creditUsageByDay(db, orgId, from)]);
    const granted = grants.reduce((s, g) => s + g.amountMicros, 0);
    let live: { grantedMicros: number; spentMicros: number; reservedMicros: number } | null = null;
    let source: "gate" | "d1" | null = null;
    if (cfg.CREDITS_ENABLED) {
      try {
        live = await creditBalance(c.env, orgId);
        source = "gate";
      } catch (err) {
        console.error("credit balance from the gate failed; answering from D1", err instanceof Error ? err.message : String(err));
        live = { grantedMicros: await creditGrantTotal(db, orgId), spentMicros: await orgSpendSince(db, orgId, 0), reservedMicros: 0 };
        source = "d1";
      }
    }
    return c.json({
      enabled: cfg.CREDITS_ENABLED,
      balance_micros: live ? Math.max(0, live.grantedMicros - live.spentMicros) : null,
      reserved_micros: live ? live.reservedMicros : null,
      granted_micros: live?.grantedMicros ?? granted,
      used_micros: live ? live.spentMicros : null,
      low_balance_threshold_micros: cfg.CREDITS_LOW_THRESHOLD_MICROS,
      source,
      grants: grants.map((g) => ({ id: g.id, kind: g.kind, amount_micros: g.amountMicros, ref: g.ref, created_at: isoTime(g.createdAt) })),
      usage_by_day: usage,
    }, 200);
  },
);
