/**
 * The contract between the gateway Worker (data plane, `src/proxy/`) and the org's `OrgGate`
 * Durable Object. In `strict` admission (the default), one proxied request = at most two RPCs: `admit`
 * before the upstream call and `settle` (or `release`) after it. In `lease` admission, the `lease`
 * call carries many requests' reports and grants headroom the isolate admits from (docs/budgets.md "Leases"). Everything the Worker needs to forward and price the request
 * comes back from `admit`, so the hot path touches D1 zero times.
 *
 * Token counts are integers; money is integer micro-dollars (1 USD = 1,000,000).
 */

import type { ProviderType } from "../db/gate-source";
import type { PromptTemplate } from "../lib/prompt-template";
import type { GuardrailHit, GuardrailSpec } from "../guardrails/spec";

export type { ProviderType };

/** Data-plane endpoints, as recorded in `cost_events.endpoint`. */
export type Endpoint = "chat.completions" | "completions" | "embeddings" | "responses" | "messages";

/** Who a request is attributed to (docs/proxy.md). */
export type Attribution = {
  customerId: string | null;
  /** Tag name → value, from `metadata.tags` or `X-Tollgate-Tags`. */
  tags: Record<string, string>;
  traceId: string | null;
};

/** Upper-bound estimate of a request's tokens, computed by the Worker from the body (docs/budgets.md). */
export type Estimate = {
  inputTokens: number;
  /** From max_tokens / max_completion_tokens / max_output_tokens, else the model's output cap. */
  outputTokens: number;
};

export type AdmitRequest = {
  orgId: string;
  keyId: string;
  /** Hex SHA-256 of the presented key; the gate compares it in constant time. */
  keyHash: string;
  requestId: string;
  endpoint: Endpoint;
  /** The model as the client addressed it: `provider-name/model` or a bare name (org default provider). */
  model: string;
  estimate: Estimate;
  attribution: Attribution;
  /** True when the client sets no output cap, so the gate must use the model's output cap. */
  outputCapFromModel?: boolean;
  /**
   * Completions the request asks for (`n`, `best_of` × prompts; default 1). With
   * `outputCapFromModel` the gate reserves `maxOutputTokens × choices`; otherwise
   * `estimate.outputTokens` already covers every choice and is clamped to `maxOutputTokens × choices`.
   */
  choices?: number;
  /**
   * Set when the request's cost has no upper bound the Worker can compute (hosted tools on
   * /v1/responses): refused with `unbounded_request` when any hard dollar budget applies.
   */
  unbounded?: { param: string; reason: string };
  /**
   * A fallback attempt (docs/providers.md#fallbacks): `model` is one of this alias's targets. The key's
   * allowed-models check applies to the alias name, and `model` must be one of its targets.
   */
  alias?: string;
  /** True when the caller sent their own provider key (never the key itself: it never reaches the gate). */
  byok?: boolean;
};

/** Prices in micro-dollars per million tokens. */
export type Price = {
  inputPerMtok: number;
  cachedInputPerMtok: number;
  cacheWritePerMtok: number;
  cacheWrite1hPerMtok: number;
  outputPerMtok: number;
  /** The model's output cap, used when the request sets none. */
  maxOutputTokens: number;
};

/** Where and how to forward; the API key stays sealed until the Worker decrypts it. */
export type UpstreamRoute = {
  providerId: string;
  providerName: string;
  type: ProviderType;
  baseUrl: string;
  apiKeySealed: string;
  /** Model name to send upstream (the `provider-name/` prefix removed). */
  upstreamModel: string;
};

/** The tightest RPM and TPM windows after this admission, for the `x-ratelimit-*` headers. */
export type RateLimitSnapshot = {
  limitRequests: number;
  remainingRequests: number;
  resetRequestsMs: number;
  limitTokens: number;
  remainingTokens: number;
  resetTokensMs: number;
};

/** A budget's period (docs/budgets.md "Periods"). */
export type Period = "daily" | "weekly" | "monthly" | "total";

/** Why a presented key was refused (`org_deleted` reaches clients as `unknown`: no oracle). */
export type KeyRefusal = "unknown" | "revoked" | "expired" | "org_deleted";

/** `member`: one user's spend across every key they created (scope id = user id). */
/** `credits`: the org's prepaid balance (docs/billing.md#prepaid-credits), a synthetic org-wide hard budget. */
export type BudgetScope = "org" | "team" | "key" | "customer" | "tag" | "member" | "credits";

/** A typed refusal. The Worker maps each kind to a status and error code with an exhaustive switch. */
export type Denial =
  | { kind: "invalid_key"; reason: KeyRefusal }
  | { kind: "model_not_allowed"; model: string }
  | { kind: "model_not_priced"; model: string }
  | { kind: "no_provider"; model: string }
  | {
      kind: "budget_exceeded";
      /** `budget`: a budget row; `plan_cap`: the plan's monthly spend cap; `prepaid`: empty prepaid balance. */
      source: "budget" | "plan_cap" | "prepaid";
      scope: BudgetScope;
      scopeId: string | null;
      budgetId: string | null;
      limitMicros: number;
      spentMicros: number;
      reservedMicros: number;
      resetsAt: string | null;
      /** Human label for the message, e.g. "team 'search'". */
      label: string;
      period: Period;
    }
  | {
      kind: "rate_limited";
      scope: BudgetScope;
      scopeId: string | null;
      window: "rpm" | "tpm";
      limit: number;
      retryAfterMs: number;
      label: string;
    }
  | { kind: "velocity_tripped"; scope: BudgetScope; scopeId: string | null; budgetId: string; retryAfterMs: number; label: string }
  /** The key's BYOK setting refuses the request: a caller key sent to an `off` key (or with an alias), or none sent to a `required` key. */
  | { kind: "byok_refused"; reason: "not_allowed" | "required" | "alias" }
  /** An unbounded request (see `AdmitRequest.unbounded`) under a hard budget; `label` names that budget. */
  | { kind: "unbounded_request"; param: string; reason: string; label: string };

export type AdmitOk = {
  ok: true;
  reservationId: string;
  /** Epoch ms after which the gate may expire the reservation (upstream total timeout + margin). */
  reservationExpiresAt: number;
  keyId: string;
  teamId: string | null;
  /** The key creator, for per-user usage. */
  userId: string;
  route: UpstreamRoute;
  price: Price;
  reservedMicros: number;
  rateLimit: RateLimitSnapshot | null;
  /** Set when `model` named a model alias: its name and every target in order (this admission is the first). */
  alias?: { name: string; targets: string[] };
  /**
   * The key's enabled guardrails (org, its team, the key), in evaluation order; absent when none.
   * Plain JSON, evaluated by the Worker before the upstream call (docs/guardrails.md).
   */
  guardrails?: GuardrailSpec[];
  /** Set when the org admits through leases: the data plane should use the `lease` call from now on. */
  admission?: "lease";
};

export type AdmitResult = AdmitOk | { ok: false; denial: Denial };

/**
 * The per-(key, model, attribution) part of an {@link AdmitOk}: everything but what one reservation
 * owns. A lease carries it so an isolate can answer admissions locally; fields added to `AdmitOk`
 * flow through it unchanged.
 */
export type AdmitTemplate = Omit<AdmitOk, "reservationId" | "reservationExpiresAt" | "reservedMicros" | "rateLimit">;

/**
 * `strict`: every request is admitted by its own `admit` round trip and control-plane changes apply
 * to the very next request. `lease`: isolates admit locally against leased headroom; changes apply
 * within {@link LEASE_TTL_MS} (docs/budgets.md "Leases").
 */
export type AdmissionMode = "strict" | "lease";

/** How long an isolate may admit from a lease (and cache the key state that came with it). */
export const LEASE_TTL_MS = 1_000;

/**
 * How long after its TTL the gate keeps a lease's headroom before giving it back, so admissions an
 * isolate made just before the TTL still find it when their report arrives (flushes take milliseconds).
 */
export const LEASE_GRACE_MS = 5_000;

/** What a reservation's expiry needs to write its cost event (stored with it at the gate). */
export type AdmissionContext = {
  keyId: string;
  teamId: string | null;
  endpoint: Endpoint;
  providerName: string;
  model: string;
  attribution: Attribution;
  /** The reserved tokens (input estimate, output after the model's cap). */
  inputTokens: number;
  outputTokens: number;
};

/** One request an isolate admitted from a lease, reported so the gate turns it into a reservation. */
export type LeaseAdmission = {
  leaseId: string;
  reservationId: string;
  requestId: string;
  /** Epoch ms of the local admission (the reservation's `created_at`). */
  at: number;
  micros: number;
  tokens: number;
  price: Price;
  context: AdmissionContext;
};

/**
 * What an isolate tells the gate in one `lease` call, applied in order: `admitted` turns leased
 * headroom into a reservation; `settle` / `release` are today's settle and release (with
 * `admission` when the request was admitted and finished within one flush: charged straight from
 * the lease, no reservation row is written); `close` gives a lease's unused headroom back.
 */
export type LeaseReport =
  | { kind: "admitted"; admission: LeaseAdmission }
  | { kind: "settle"; req: SettleRequest; admission?: LeaseAdmission }
  | { kind: "release"; req: ReleaseRequest; admission?: LeaseAdmission }
  | { kind: "close"; leaseId: string };

/** A request that did not fit the isolate's leases: admit it exactly, or lease room for `want` like it (`want` < 1: exact). */
export type LeaseNeed = { req: AdmitRequest; want: number };

/** One round trip of the lease protocol: flush reports, then answer needs. */
export type LeaseRequest = { orgId: string; reports: LeaseReport[]; needs: LeaseNeed[] };

/** Headroom leased to one isolate for requests like the one that asked (same key, model, and budget instances). */
export type LeaseGrant = {
  leaseId: string;
  /** Epoch ms (gate clock) after which the isolate must not admit from it. */
  expiresAt: number;
  micros: number;
  tokens: number;
  requests: number;
  template: AdmitTemplate;
  /** The windows at grant time, for the `x-ratelimit-*` headers (remaining counts go down locally). */
  rateLimit: RateLimitSnapshot | null;
  /**
   * Which parts of a request's attribution choose its budget instances in this org, so an isolate
   * shares the lease between requests that differ only elsewhere: `customer` when any customer budget
   * exists (own or default), and the tag keys that some tag budget names.
   */
  splitBy: LeaseSplit;
};

/** See {@link LeaseGrant.splitBy}. */
export type LeaseSplit = { customer: boolean; tagKeys: string[] };

/** Per need: a lease to admit from locally, or the exact admission (near a limit, strict mode, velocity…). */
export type LeaseAnswer = { kind: "lease"; grant: LeaseGrant } | { kind: "exact"; result: AdmitResult };

export type LeaseResult = { mode: AdmissionMode; answers: LeaseAnswer[] };

/** `GET /v1/models`: the presented key, verified exactly as `admit` verifies it. */
export type ModelsRequest = { orgId: string; keyId: string; keyHash: string };

/** Every model id the key may send as `model`, with the provider name that serves it. */
export type ModelsResult =
  | { ok: true; models: Array<{ id: string; provider: string }> }
  | { ok: false; denial: Extract<Denial, { kind: "invalid_key" }> };

/** A `/v1` request's reference to a prompt template (docs/prompts.md): the prompt's id or name, and a version or a label. */
export type PromptRef = { id: string; version: number; label?: undefined } | { id: string; label: string; version?: undefined };

/** `resolvePrompt`: the presented key (verified exactly as `admit` verifies it) and the reference. */
export type PromptRequest = { orgId: string; keyId: string; keyHash: string; ref: PromptRef };

/** The version the reference names, or which part named nothing. */
export type PromptResult =
  | { ok: true; template: PromptTemplate }
  | { ok: false; missing: "prompt" | "version" | "label" }
  | { ok: false; denial: Extract<Denial, { kind: "invalid_key" }> };

/** Provider usage normalised across wire formats (see docs/proxy.md "Usage and streams" and src/proxy/usage.ts). */
export type Usage = {
  /** Input tokens billed at the full input price (OpenAI: prompt − cached; Anthropic: input_tokens). */
  uncachedInputTokens: number;
  /** Cache reads (OpenAI cached_tokens, Anthropic cache_read_input_tokens). */
  cachedInputTokens: number;
  /** Anthropic 5-minute cache writes. */
  cacheWriteTokens: number;
  /** Anthropic 1-hour cache writes. */
  cacheWrite1hTokens: number;
  /** All output tokens, reasoning included. */
  outputTokens: number;
  /** Subset of outputTokens (informational; billed as output). */
  reasoningTokens: number;
};

export type SettleRequest = {
  orgId: string;
  reservationId: string;
  /** Final HTTP status returned to the client (or the upstream's). */
  status: number;
  /** Exact usage, or counted/estimated usage when `estimated` is true. */
  usage: Usage;
  estimated: boolean;
  latencyMs: number;
  ttfbMs: number | null;
  /**
   * Everything needed to record the spend even if the reservation already expired (late settle):
   * the gate must never lose spend.
   */
  context: {
    requestId: string;
    keyId: string;
    teamId: string | null;
    endpoint: Endpoint;
    providerName: string;
    model: string;
    price: Price;
    attribution: Attribution;
    createdAt: number;
    /** The prompt template the request rendered (docs/prompts.md); recorded on its cost event. */
    prompt?: { id: string; version: number };
    /** Guardrails that acted on the request (ids and actions only), recorded on the cost event. */
    guardrailHits?: GuardrailHit[];
  };
};

export type SettleResult = { ok: true; costMicros: number; duplicate: boolean; late: boolean };

export type ReleaseRequest = {
  orgId: string;
  reservationId: string;
  /** Upstream status, recorded as a $0 cost event so error rates are visible. */
  status: number;
  latencyMs: number;
  context: SettleRequest["context"];
};

export type ReleaseResult = { ok: true; duplicate: boolean };

/**
 * Total time the data plane allows one upstream call (connect + full body/stream). The gate keeps a
 * reservation at least this long plus {@link RESERVATION_MARGIN_MS}, so it never expires a
 * reservation whose request may still settle.
 */
export const UPSTREAM_TOTAL_TIMEOUT_MS = 120_000;

/** Slack on top of the upstream timeout for the settle RPC itself (waitUntil, retries, clock skew). */
export const RESERVATION_MARGIN_MS = 60_000;

/** Lifetime of a reservation: upstream total timeout + margin. */
export const RESERVATION_TTL_MS = UPSTREAM_TOTAL_TIMEOUT_MS + RESERVATION_MARGIN_MS;

/**
 * Upper bound on `choices` (a guard against nonsense, far above what validation lets through:
 * `n` ≤ 128, `best_of` ≤ 20, times the prompts of a completions batch).
 */
export const MAX_CHOICES = 65_536;

/**
 * Output tokens to reserve: the model's cap × choices when the client set no cap, else the client's
 * total clamped to the model's cap × choices. Shared with the Worker (estimated settles).
 */
export function reservedOutputTokens(price: Price, requested: number, capFromModel: boolean, choices = 1): number {
  const n = Number.isInteger(choices) && choices > 0 ? Math.min(choices, MAX_CHOICES) : 1;
  const cap = price.maxOutputTokens;
  if (capFromModel) return cap > 0 ? cap * n : requested;
  return cap > 0 ? Math.min(requested, cap * n) : requested;
}
