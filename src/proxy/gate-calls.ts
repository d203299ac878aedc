/**
 * The Worker's side of the gate protocol (src/durable-objects/gate-protocol.ts), on top of the
 * client in org-gate-client.ts: one `admit` before the upstream call, one `settle` or `release`
 * after it. Fail closed: if the org's gate cannot be reached or reports `overloaded`, the request is
 * refused with 503 `budget_unavailable`; `admit` is never retried (a lost answer would reserve twice),
 * settle/release are retried once by the client unless overloaded (they are idempotent).
 * Everything goes through this isolate's {@link leaseClient}: for orgs in `strict` mode (the default)
 * that is one `admit` and one `settle`/`release` RPC per request as above; for orgs in `lease` mode
 * most requests are admitted locally and settles are batched (docs/budgets.md "Leases").
 */
import type { AdmitRequest, AdmitResult, ModelsRequest, ModelsResult, ReleaseRequest, SettleRequest } from "../durable-objects/gate-protocol";
import { gateListModels, isGateUnavailable } from "../durable-objects/org-gate-client";
import { leaseClient } from "./lease-client";
import type { Env } from "../env";
import { ApiError } from "../errors";

const unavailable = () => new ApiError("budget_unavailable", "Budget service unavailable; the request was not sent to the provider. Retry shortly.");

/** Admits a request or throws 503 `budget_unavailable`. Denials are returned, not thrown. */
export async function admit(env: Env, req: AdmitRequest): Promise<AdmitResult> {
  const r = await leaseClient.admit(env, req);
  if (isGateUnavailable(r)) {
    console.error("gate admit unavailable", r.overloaded ? "overloaded" : r.message);
    throw unavailable();
  }
  return r;
}

/** The key's models (`GET /v1/models`) or throws 503 `budget_unavailable`. Denials are returned. */
export async function listModels(env: Env, req: ModelsRequest): Promise<ModelsResult> {
  const r = await gateListModels(env, req);
  if (isGateUnavailable(r)) {
    console.error("gate listModels unavailable", r.overloaded ? "overloaded" : r.message);
    throw unavailable();
  }
  return r;
}

/** Settles a reservation with the final usage (idempotent at the gate); failures are logged. */
export function settle(env: Env, req: SettleRequest): Promise<void> {
  return leaseClient.settle(env, req);
}

/** Releases a reservation: the upstream failed before any output; nothing is charged. */
export function release(env: Env, req: ReleaseRequest): Promise<void> {
  return leaseClient.release(env, req);
}
