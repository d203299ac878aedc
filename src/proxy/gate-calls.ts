/**
 * The Worker's side of the gate protocol (src/durable-objects/gate-protocol.ts): one `admit` before
 * the upstream call, one `settle` or `release` after it. Fail closed: if the org's gate cannot be
 * reached, or reports `overloaded`, the request is refused with 503 `budget_unavailable` and the
 * call is never retried. Settle/release run in `waitUntil`; they are idempotent on the reservation,
 * so a transient failure is retried a few times (never after `overloaded`).
 */
import type { AdmitRequest, Denial, AdmitResult, ReleaseRequest, SettleRequest, SettleResult } from "../durable-objects/gate-protocol";
import { orgGate } from "../durable-objects/org-gate-client";
import type { Env } from "../env";
import { ApiError } from "../errors";

/** The gate's data-plane RPCs (typed by the protocol until OrgGate implements them). */
type GateRpc = {
  admit(req: AdmitRequest): Promise<AdmitResult>;
  settle(req: SettleRequest): Promise<SettleResult>;
  release(req: ReleaseRequest): Promise<unknown>;
  listModels(req: ModelsRequest): Promise<ModelsResult>;
};

/** Requested protocol addition (docs/protocol-requests.md): the models a key may use. */
export type ModelsRequest = { orgId: string; keyId: string; keyHash: string };
export type ModelsResult = { ok: true; models: Array<{ id: string; provider: string }> } | { ok: false; denial: Denial };
const gate = (env: Env, orgId: string) => orgGate(env, orgId) as unknown as GateRpc;

/** True when the runtime says the object is overloaded (then: no retry). */
function isOverloaded(e: unknown): boolean {
  return !!e && typeof e === "object" && (e as { overloaded?: boolean }).overloaded === true;
}

/** Admits a request or throws 503 `budget_unavailable` (fail closed). Denials are returned, not thrown. */
export async function admit(env: Env, req: AdmitRequest): Promise<AdmitResult> {
  try {
    return await gate(env, req.orgId).admit(req);
  } catch (e) {
    console.error("gate admit failed", isOverloaded(e) ? "overloaded" : e instanceof Error ? e.message : String(e));
    throw new ApiError("budget_unavailable", "Budget service unavailable; the request was not sent to the provider. Retry shortly.");
  }
}

const RETRY_DELAYS_MS = [50, 250, 1000];

async function withRetries<T>(what: string, fn: () => Promise<T>): Promise<T | undefined> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      const overloaded = isOverloaded(e);
      if (overloaded || attempt >= RETRY_DELAYS_MS.length) {
        console.error(`gate ${what} failed${overloaded ? " (overloaded, not retried)" : ""}`, e instanceof Error ? e.message : String(e));
        return undefined;
      }
      await new Promise((r) => setTimeout(r, RETRY_DELAYS_MS[attempt]));
    }
  }
}

/** Settles a reservation with the final usage (idempotent at the gate). */
export function settle(env: Env, req: SettleRequest): Promise<SettleResult | undefined> {
  return withRetries("settle", () => gate(env, req.orgId).settle(req));
}

/** Releases a reservation: the upstream failed before any output; nothing is charged. */
export function release(env: Env, req: ReleaseRequest): Promise<unknown> {
  return withRetries("release", () => gate(env, req.orgId).release(req));
}

/** The models a key may use (one RPC; fail closed like `admit`). */
export async function listGateModels(env: Env, req: ModelsRequest): Promise<ModelsResult> {
  try {
    return await gate(env, req.orgId).listModels(req);
  } catch (e) {
    console.error("gate listModels failed", e instanceof Error ? e.message : String(e));
    throw new ApiError("budget_unavailable", "Budget service unavailable. Retry shortly.");
  }
}
