import type { Env } from "../env";
import type { AdmitRequest, AdmitResult, ModelsRequest, ModelsResult, ReleaseRequest, ReleaseResult, SettleRequest, SettleResult } from "./gate-protocol";

/** The org's gate stub. The DO is named by the org id: the same id as in the key and the session. */
export function orgGate(env: Pick<Env, "ORG_GATE">, orgId: string) {
  return env.ORG_GATE.get(env.ORG_GATE.idFromName(orgId));
}

/** The gate could not be reached or failed: the data plane fails closed (503 `budget_unavailable`). */
export type GateUnavailable = { ok: false; reason: "unavailable"; overloaded: boolean; message: string };

type DoError = Error & { retryable?: boolean; overloaded?: boolean };

function unavailable(err: unknown): GateUnavailable {
  const e = err as DoError;
  return { ok: false, reason: "unavailable", overloaded: e?.overloaded === true, message: e instanceof Error ? e.message : String(err) };
}

/** True for the `GateUnavailable` branch (as opposed to a typed denial or success). */
export function isGateUnavailable(r: unknown): r is GateUnavailable {
  return typeof r === "object" && r !== null && (r as { reason?: unknown }).reason === "unavailable";
}

/**
 * Runs one gate call; exceptions become {@link GateUnavailable}. When `idempotent` is set, one retry
 * is made for errors the runtime marks retryable, but never for `overloaded` (retrying an
 * overloaded object only makes it worse).
 */
async function callGate<T>(fn: () => Promise<T>, idempotent: boolean): Promise<T | GateUnavailable> {
  try {
    return await fn();
  } catch (err) {
    const e = err as DoError;
    if (!idempotent || e?.overloaded || !e?.retryable) return unavailable(err);
    try {
      return await fn();
    } catch (again) {
      return unavailable(again);
    }
  }
}

/**
 * `admit` through the org's gate. Never retried: a retry after an admission whose answer was lost
 * would reserve twice (the lost reservation expires on its own).
 */
export function gateAdmit(env: Pick<Env, "ORG_GATE">, req: AdmitRequest): Promise<AdmitResult | GateUnavailable> {
  return callGate(() => orgGate(env, req.orgId).admit(req) as Promise<AdmitResult>, false);
}

/** `listModels` through the org's gate (read-only, so retried once unless overloaded). */
export function gateListModels(env: Pick<Env, "ORG_GATE">, req: ModelsRequest): Promise<ModelsResult | GateUnavailable> {
  return callGate(() => orgGate(env, req.orgId).listModels(req) as Promise<ModelsResult>, true);
}

/** `settle` through the org's gate (idempotent, so retried once unless overloaded). */
export function gateSettle(env: Pick<Env, "ORG_GATE">, req: SettleRequest): Promise<SettleResult | GateUnavailable> {
  return callGate(() => orgGate(env, req.orgId).settle(req) as Promise<SettleResult>, true);
}

/** `release` through the org's gate (idempotent, so retried once unless overloaded). */
export function gateRelease(env: Pick<Env, "ORG_GATE">, req: ReleaseRequest): Promise<ReleaseResult | GateUnavailable> {
  return callGate(() => orgGate(env, req.orgId).release(req) as Promise<ReleaseResult>, true);
}

/** Reloads parts of the org's hot copy from D1; the control plane calls it after writing D1, before answering. */
export async function refreshGate(env: Pick<Env, "ORG_GATE">, orgId: string, parts: Array<"keys" | "providers" | "budgets" | "pricing" | "org">): Promise<void> {
  await orgGate(env, orgId).refresh(orgId, parts);
}
