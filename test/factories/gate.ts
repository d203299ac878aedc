/**
 * Gate factories: providers, budgets and pricing overrides written to D1 the way the control plane
 * does (then the gate is refreshed), plus builders for admit/settle/release requests.
 */
import { env } from "cloudflare:test";
import { getDb } from "../../src/db/client";
import { budgets, pricingOverrides, providers } from "../../src/db/schema";
import { orgGate } from "../../src/durable-objects/org-gate-client";
import type { AdmitOk, AdmitRequest, Attribution, ReleaseRequest, SettleRequest, Usage } from "../../src/durable-objects/gate-protocol";
import { sha256Hex } from "../../src/lib/crypto";
import { newId } from "../../src/lib/ids";
import type { TestOrg, TestUser } from "../factories";
import type { TestKey } from "./keys";

/** A provider row (sealed key is a placeholder: the gate never opens it). */
export async function createProvider(org: TestOrg, opts: { name?: string; type?: "openai" | "anthropic" | "openai_compatible"; baseUrl?: string; isDefault?: boolean } = {}) {
  const row = {
    id: newId("prv"), orgId: org.id, name: opts.name ?? "openai", type: opts.type ?? "openai", baseUrl: opts.baseUrl ?? "https://api.openai.com/v1",
    apiKeySealed: "sealed.placeholder", apiKeyHint: "sk-…test", isDefault: opts.isDefault ?? true,
  };
  await getDb(env.DB).insert(providers).values(row);
  await orgGate(env, org.id).refresh(org.id, ["providers"]);
  return row;
}

export type BudgetInput = {
  scope?: "org" | "team" | "key" | "customer" | "tag" | "member";
  scopeId?: string | null;
  /** Team of a default member budget (scope `member`, no scope id). */
  teamId?: string | null;
  /** Role recorded as the creator's; member budgets set by a member do not displace a team default. */
  createdByRole?: "owner" | "admin" | "member";
  limitMicros?: number | null;
  period?: "daily" | "weekly" | "monthly" | "total";
  mode?: "hard" | "soft";
  rpm?: number | null;
  tpm?: number | null;
  alertThresholds?: number[];
  velocity?: { limitMicros: number; windowSeconds: number; cooldownSeconds: number } | null;
};

/** A budget row in D1, then the gate refreshed (as the budgets route does). */
export async function createBudgetRow(org: TestOrg, creator: TestUser, b: BudgetInput = {}) {
  const id = newId("bud");
  await getDb(env.DB).insert(budgets).values({
    id, orgId: org.id, scope: b.scope ?? "org", scopeId: b.scopeId ?? null, limitMicros: b.limitMicros === undefined ? 1_000_000 : b.limitMicros,
    period: b.period ?? "monthly", mode: b.mode ?? "hard", rpm: b.rpm ?? null, tpm: b.tpm ?? null,
    alertThresholds: b.alertThresholds ?? [50, 80, 90, 100],
    velocityLimitMicros: b.velocity?.limitMicros ?? null, velocityWindowSeconds: b.velocity?.windowSeconds ?? null,
    velocityCooldownSeconds: b.velocity?.cooldownSeconds ?? null, createdBy: creator.id, teamId: b.teamId ?? null, createdByRole: b.createdByRole ?? "admin",
  });
  await orgGate(env, org.id).refresh(org.id, ["budgets"]);
  return id;
}

/** An org price override (micro-dollars per Mtok), then the gate refreshed. */
export async function createPriceOverride(org: TestOrg, model: string, p: { input: number; output: number; cached?: number; cacheWrite?: number; cacheWrite1h?: number; maxOutput?: number }) {
  await getDb(env.DB).insert(pricingOverrides).values({
    orgId: org.id, model, inputPerMtok: p.input, outputPerMtok: p.output, cachedInputPerMtok: p.cached ?? null,
    cacheWritePerMtok: p.cacheWrite ?? null, cacheWrite1hPerMtok: p.cacheWrite1h ?? null, maxOutputTokens: p.maxOutput ?? null,
  });
  await orgGate(env, org.id).refresh(org.id, ["pricing"]);
}

const noAttribution: Attribution = { customerId: null, tags: {}, traceId: null };

/** An admit request for `key` (hash computed from the full key). */
export async function admitRequest(key: TestKey, over: Partial<AdmitRequest> = {}): Promise<AdmitRequest> {
  return {
    orgId: key.orgId, keyId: key.id, keyHash: await sha256Hex(key.key), requestId: newId("req"), endpoint: "chat.completions",
    model: "gpt-4o-mini", estimate: { inputTokens: 1000, outputTokens: 1000 }, attribution: noAttribution, ...over,
  };
}

/** Usage with only the given fields set. */
export function usage(u: Partial<Usage> = {}): Usage {
  return { uncachedInputTokens: 0, cachedInputTokens: 0, cacheWriteTokens: 0, cacheWrite1hTokens: 0, outputTokens: 0, reasoningTokens: 0, ...u };
}

/** A settle request for an admission, as the data plane builds it. */
export function settleRequest(req: AdmitRequest, ok: AdmitOk, u: Usage, over: Partial<SettleRequest> = {}): SettleRequest {
  return {
    orgId: req.orgId, reservationId: ok.reservationId, status: 200, usage: u, estimated: false, latencyMs: 42, ttfbMs: 10,
    context: {
      requestId: req.requestId, keyId: ok.keyId, teamId: ok.teamId, endpoint: req.endpoint, providerName: ok.route.providerName,
      model: req.model, price: ok.price, attribution: req.attribution, createdAt: Date.now(),
    },
    ...over,
  };
}

/** A release request for an admission. */
export function releaseRequest(req: AdmitRequest, ok: AdmitOk, status = 502): ReleaseRequest {
  const s = settleRequest(req, ok, usage());
  return { orgId: req.orgId, reservationId: ok.reservationId, status, latencyMs: 5, context: s.context };
}

/** Usage whose exact cost equals the admission's reservation (all estimated tokens, full price). */
export function usageAtEstimate(req: AdmitRequest): Usage {
  return usage({ uncachedInputTokens: req.estimate.inputTokens, outputTokens: req.estimate.outputTokens });
}

/** The (request, admission) pairs that were admitted, in order. */
export function admittedPairs(reqs: AdmitRequest[], results: Array<{ ok: boolean }>): Array<[AdmitRequest, AdmitOk]> {
  const out: Array<[AdmitRequest, AdmitOk]> = [];
  results.forEach((r, i) => {
    if (r.ok) out.push([reqs[i]!, r as AdmitOk]);
  });
  return out;
}

/** A team row in D1 (the teams route belongs to another area; budgets only need the row). */
export async function createTeamRow(org: TestOrg, name = `team-${Math.random().toString(36).slice(2, 8)}`) {
  const { teams } = await import("../../src/db/schema");
  const id = newId("team");
  await getDb(env.DB).insert(teams).values({ id, orgId: org.id, name });
  return { id, name };
}

/** Audit actions recorded for a target in an org, oldest first. */
export async function auditActions(orgId: string, targetId: string): Promise<string[]> {
  const { results } = await env.DB.prepare("SELECT action FROM audit_log WHERE org_id = ? AND target_id = ? ORDER BY created_at, rowid").bind(orgId, targetId).all<{ action: string }>();
  return results.map((r) => r.action);
}
