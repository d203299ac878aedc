/**
 * Gate denials → API errors (docs/proxy.md "Errors"): 401 bad key, 402 money, 403 model, 429 rate + Retry-After.
 * The switch is exhaustive: a new `Denial` kind fails type-checking here until it is mapped.
 */
import type { Denial } from "../durable-objects/gate-protocol";
import { ApiError } from "../errors";
import { formatUsdLabel } from "../lib/usd";


const BYOK_MESSAGES = {
  not_allowed: "This API key does not accept a caller's provider key (BYOK is off for it); remove X-Tollgate-Provider-Key",
  required: "This API key requires the caller's own provider key: send it in X-Tollgate-Provider-Key",
  alias: "A model alias cannot be used with a caller's provider key (the key would be sent to each target's provider); address 'provider-name/model'",
} as const;
const PERIOD_LABEL = { daily: "Daily", weekly: "Weekly", monthly: "Monthly", total: "Total" } as const;
const KEY_REASON = {
  unknown: "Invalid API key",
  revoked: "This API key has been revoked",
  expired: "This API key has expired",
} as const;

/** Retry-After in whole seconds (at least 1) plus the OpenAI SDK's `retry-after-ms`. */
export function retryAfterHeaders(ms: number): Record<string, string> {
  const clamped = Math.max(1, Math.ceil(ms));
  return { "Retry-After": String(Math.max(1, Math.ceil(clamped / 1000))), "retry-after-ms": String(clamped) };
}

/** The ApiError for a gate denial. */
export function denialToError(d: Denial): ApiError {
  switch (d.kind) {
    case "invalid_key":
    {
      // A deleted org answers like one that never existed: anyone can mint a well-formed key for any
      // org id, so a distinct answer would tell which ids exist (docs/security.md).
      const reason = d.reason === "org_deleted" ? "unknown" : d.reason;
      return new ApiError("invalid_api_key", KEY_REASON[reason], { reason });
    }
    case "model_not_allowed":
      return new ApiError("model_not_allowed", `This API key may not use model '${d.model}'`, { param: "model", model: d.model });
    case "model_not_priced":
      return new ApiError("model_not_priced", `No price is known for model '${d.model}'; an admin can set one under Pricing`, { param: "model", model: d.model });
    case "byok_refused":
      return new ApiError("invalid_request", BYOK_MESSAGES[d.reason], { param: "X-Tollgate-Provider-Key" });
    case "no_provider":
      return new ApiError("invalid_request", `No provider is configured for model '${d.model}' (use 'provider-name/model' or set a default provider)`, { param: "model", model: d.model });
    case "budget_exceeded": {
      const used = d.spentMicros + d.reservedMicros;
      const what =
        d.source === "plan_cap" ? "The plan's monthly spend cap" : d.source === "prepaid" ? "The prepaid balance" : `${PERIOD_LABEL[d.period]} budget of ${d.label}`;
      const resets = d.resetsAt ? `; resets ${d.resetsAt}` : "";
      return new ApiError("budget_exceeded", `${what} exhausted (${formatUsdLabel(used)} of ${formatUsdLabel(d.limitMicros)})${resets}`, {
        source: d.source,
        scope: d.scope,
        scope_id: d.scopeId,
        budget_id: d.budgetId,
        period: d.period,
        limit_micros: d.limitMicros,
        spent_micros: d.spentMicros,
        reserved_micros: d.reservedMicros,
        resets_at: d.resetsAt,
      });
    }
    case "rate_limited":
      return new ApiError(
        "rate_limit_exceeded",
        `${d.window === "rpm" ? "Requests" : "Tokens"}-per-minute limit of ${d.label} reached (${d.limit}/min); retry after ${Math.ceil(d.retryAfterMs / 1000)}s`,
        { scope: d.scope, scope_id: d.scopeId, window: d.window, limit: d.limit, retry_after_ms: d.retryAfterMs },
        retryAfterHeaders(d.retryAfterMs),
      );
    case "velocity_tripped":
      return new ApiError(
        "rate_limit_exceeded",
        `Spend velocity limit of ${d.label} tripped: requests are paused for ${Math.ceil(d.retryAfterMs / 1000)}s`,
        { scope: d.scope, scope_id: d.scopeId, budget_id: d.budgetId, window: "velocity", retry_after_ms: d.retryAfterMs },
        retryAfterHeaders(d.retryAfterMs),
      );
    case "unbounded_request":
      return new ApiError("invalid_request", `Refused under ${d.label}, a hard budget: ${d.reason}. Send this request with a key whose budgets are soft, or without the feature`, { param: d.param });
    default: {
      const never: never = d;
      throw new Error(`unmapped denial ${JSON.stringify(never)}`);
    }
  }
}
