import type { Env } from "../env";
import type { GateKey, HotPart } from "./gate-hot-copy";
import type { AdmitRequest, AdmitResult, LeaseRequest, LeaseResult, ModelsRequest, ModelsResult, PromptRequest, PromptResult, ReleaseRequest, ReleaseResult, SettleRequest, SettleResult } from "./gate-protocol";

/** The org's gate stub. The DO is named by the org id: the same id as in the key and the session. */
export function orgGate(env: Pick<Env, "ORG_GATE">, orgId: string) {
  return env.ORG_GATE.get(env.ORG_GATE.idFromName(orgId));
}

/** Pauses before the 2nd, 3rd… attempt of a control-plane push to the gate. */
export const GATE_PUSH_RETRY_DELAYS_MS = [50, 250] as const;

/**
 * Runs one control-plane push to the gate after its D1 write: up to 1 + {@link GATE_PUSH_RETRY_DELAYS_MS}
 * attempts (every push is idempotent). Returns whether the gate confirmed; never throws. When it never
 * confirms, D1 already holds the change and the gate's own reconciliation applies it (worst-case window
 * in docs/convergence.md), so the caller still answers 200.
 */
export async function pushToGate(env: Pick<Env, "ORG_GATE">, orgId: string, label: string, push: (gate: ReturnType<typeof orgGate>) => Promise<unknown>): Promise<boolean> {
  for (let attempt = 0; ; attempt++) {
    try {
      await push(orgGate(env, orgId));
      return true;
    } catch (err) {
      const delay = GATE_PUSH_RETRY_DELAYS_MS[attempt];
      if (delay === undefined) {
        console.error(`gate push ${label} for ${orgId} failed after ${attempt + 1} attempts; the gate's reconciliation will apply it`, err instanceof Error ? err.message : String(err));
        return false;
      }
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/** Upserts one key in the gate's hot copy (create, update, revoke); retried, see {@link pushToGate}. */
export function syncGateKey(env: Pick<Env, "ORG_GATE">, orgId: string, key: GateKey): Promise<boolean> {
  return pushToGate(env, orgId, "syncKey", (g) => g.syncKey(orgId, key));
}

/** Marks keys revoked in the gate (member removal); retried, see {@link pushToGate}. */
export function revokeGateKeys(env: Pick<Env, "ORG_GATE">, orgId: string, keyIds: string[]): Promise<boolean> {
  return pushToGate(env, orgId, "revokeKeys", (g) => g.revokeKeys(orgId, keyIds));
}

/** Tells the gate the org is deleted; retried, see {@link pushToGate}. */
export function deleteGateOrg(env: Pick<Env, "ORG_GATE">, orgId: string): Promise<boolean> {
  return pushToGate(env, orgId, "deleteOrg", (g) => g.deleteOrg(orgId));
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

/**
 * `lease` through the org's gate (gate-lease.ts). Retried once only when `idempotent` (a call that
 * carries reports only: each report is idempotent at the gate); a call that asks for leases is not,
 * since a lost answer would lease twice (the lost lease returns at its expiry).
 */
export function gateLease(env: Pick<Env, "ORG_GATE">, req: LeaseRequest, idempotent: boolean): Promise<LeaseResult | GateUnavailable> {
  return callGate(() => orgGate(env, req.orgId).lease(req) as Promise<LeaseResult>, idempotent);
}

/** `listModels` through the org's gate (read-only, so retried once unless overloaded). */
export function gateListModels(env: Pick<Env, "ORG_GATE">, req: ModelsRequest): Promise<ModelsResult | GateUnavailable> {
  return callGate(() => orgGate(env, req.orgId).listModels(req) as Promise<ModelsResult>, true);
}

/** `resolvePrompt` through the org's gate (read-only, so retried once unless overloaded). */
export function gateResolvePrompt(env: Pick<Env, "ORG_GATE">, req: PromptRequest): Promise<PromptResult | GateUnavailable> {
  return callGate(() => orgGate(env, req.orgId).resolvePrompt(req) as Promise<PromptResult>, true);
}

/** `settle` through the org's gate (idempotent, so retried once unless overloaded). */
export function gateSettle(env: Pick<Env, "ORG_GATE">, req: SettleRequest): Promise<SettleResult | GateUnavailable> {
  return callGate(() => orgGate(env, req.orgId).settle(req) as Promise<SettleResult>, true);
}

/** `release` through the org's gate (idempotent, so retried once unless overloaded). */
export function gateRelease(env: Pick<Env, "ORG_GATE">, req: ReleaseRequest): Promise<ReleaseResult | GateUnavailable> {
  return callGate(() => orgGate(env, req.orgId).release(req) as Promise<ReleaseResult>, true);
}

/**
 * Reloads parts of the org's hot copy from D1; the control plane calls it after writing D1, before
 * answering (budgets, providers, pricing, teams, plan). Retried; resolves `false` instead of throwing
 * when the gate never confirms (see {@link pushToGate}).
 */
export function refreshGate(env: Pick<Env, "ORG_GATE">, orgId: string, parts: HotPart[]): Promise<boolean> {
  return pushToGate(env, orgId, "refresh", (g) => g.refresh(orgId, parts));
}
