/**
 * DIAGNOSTIC ONLY (bench target "gateway-nogate"): swapped in for src/proxy/gate-calls.ts by the
 * bench's esbuild plugin. The first admit goes to the real gate; later ones reuse its answer (fresh
 * reservation id) and settle/release do nothing. It isolates the Worker's own cost from the DO's.
 */
import type { AdmitOk, AdmitRequest, AdmitResult, ModelsRequest, ModelsResult, ReleaseRequest, SettleRequest } from "../src/durable-objects/gate-protocol";
import { gateAdmit, gateListModels, isGateUnavailable } from "../src/durable-objects/org-gate-client";
import type { Env } from "../src/env";

let cached: AdmitOk | null = null;
let n = 0;

export async function admit(env: Env, req: AdmitRequest): Promise<AdmitResult> {
  if (!cached) {
    const r = await gateAdmit(env, req);
    if (!("ok" in r) || !r.ok) return r as AdmitResult;
    cached = r;
  }
  return { ...cached, reservationId: `rsv_fake${n++}`, reservationExpiresAt: Date.now() + 180_000 };
}

export async function settle(_env: Env, _req: SettleRequest): Promise<void> {}
export async function release(_env: Env, _req: ReleaseRequest): Promise<void> {}

/** `GET /v1/models` is not benchmarked; the stub asks the real gate. */
export async function listModels(env: Env, req: ModelsRequest): Promise<ModelsResult> {
  const r = await gateListModels(env, req);
  if (isGateUnavailable(r)) throw new Error(r.message);
  return r;
}
