/**
 * One proxied request, end to end (docs/proxy.md):
 *   key shape → body (limit, JSON, zod) → attribution + estimate → `admit` (1st DO round trip)
 *   → provider (first-byte and total deadlines) → response (streamed through, or buffered when the
 *   client did not ask for a stream) → `settle` or `release` (2nd DO round trip, in `waitUntil`).
 * What is charged in which outcome (released / charged / estimated) is docs/money.md.
 * No D1 on this path. Everything after `admit` runs in a promise registered with `waitUntil`, so a
 * client that disconnects mid-request still gets its reservation settled or released.
 * A model alias (docs/providers.md#fallbacks) runs this once per target, each attempt its own
 * admission, reservation and cost event, until one is not a fallback case.
 */
import type { Context } from "hono";
import type { z } from "zod";
import type { AppEnv } from "../app-env";
import { reservedOutputTokens, type AdmitOk, type AdmitRequest, type Endpoint, type SettleRequest, type UpstreamRoute, type Usage } from "../durable-objects/gate-protocol";
import { ApiError } from "../errors";
import { evaluateRequest, evaluateResponse, hasResponseGuardrails, type Block } from "../guardrails/evaluate";
import { costOfUsage } from "../pricing/cost";
import { readAttribution, stripTollgateMetadata } from "./attribution";
import { presentedKey } from "./authenticate-key";
import { readJsonObject } from "./body";
import { denialToError } from "./denial";
import { proxyErrorResponse, streamErrorEvent, toApiError, type Flavor } from "./error-response";
import { estimateRequest, type RequestEstimate } from "./estimate";
import { admit, release, settle } from "./gate-calls";
import { applyPrompt, type RenderedPrompt } from "./prompt";
import { responseHeaders, serverTiming, setRateLimitHeaders } from "./headers";
import { forceIncludeUsage } from "./openai-stream";
import { relayStream } from "./stream-relay";
import { translatorFor } from "./translate";
import { deadlines, fetchUpstream, providerApiKey, refusedUpstream, upstreamErrorToApiError, upstreamHeaders, upstreamUrl } from "./upstream";
import { bodyShowsReasoning, estimatedUsage, mayReason, outputBytesOfBody, streamTrackerFor, usageFromBody } from "./usage";

/** What differs between the proxied endpoints. */
export type EndpointSpec = {
  endpoint: Endpoint;
  flavor: Flavor;
  /** Path appended to the provider's base URL. */
  upstreamPath: string;
  schema: z.ZodType;
  /** Provider types that speak this endpoint's wire format. */
  providerTypes: ReadonlyArray<UpstreamRoute["type"]>;
};

const decoder = new TextDecoder();

/** Handles one data-plane request for `spec`. Never throws: errors become responses. */
export async function proxyRequest(c: Context<AppEnv>, spec: EndpointSpec): Promise<Response> {
  const requestId = c.var.requestId;
  const t0 = Date.now();
  const headers = c.req.raw.headers;
  let traceId = requestId;
  try {
    const key = await presentedKey(headers, spec.flavor === "anthropic");
    let prompt: RenderedPrompt | null = null;
    const { body } = await readJsonObject(c.req.raw, c.var.config.MAX_BODY_BYTES, spec.schema, async (raw) => {
      prompt = await applyPrompt(c.env, key, spec.endpoint, raw);
    });
    const attr = readAttribution(body, headers, spec.flavor === "anthropic" ? "metadata.user_id" : "user");
    if (!attr.ok) throw new ApiError("invalid_request", attr.message, { param: attr.param });
    const attribution = { ...attr.attribution, traceId: attr.attribution.traceId ?? requestId };
    traceId = attribution.traceId;
    const clientTimeout = readClientTimeout(headers);
    const callerKey = readCallerProviderKey(headers, spec.flavor === "anthropic");
    if (spec.endpoint === "responses" && body.background === true) {
      throw new ApiError("invalid_request", "background: true is not supported through the gateway: a background response reports its cost to no request the gateway sees, so it cannot be metered", { param: "background" });
    }
    const est = estimateRequest(spec.endpoint, body);
    const tParsed = Date.now();
    const admitReq: AdmitRequest = {
      orgId: key.orgId,
      keyId: key.keyId,
      keyHash: key.keyHash,
      requestId,
      endpoint: spec.endpoint,
      model: body.model as string,
      estimate: est.estimate,
      attribution,
      ...(est.outputCapFromModel ? { outputCapFromModel: true } : {}),
      ...(est.choices > 1 ? { choices: est.choices } : {}),
      ...(est.unbounded ? { unbounded: est.unbounded } : {}),
      ...(callerKey !== null ? { byok: true } : {}),
    };
    let verdict = await admit(c.env, admitReq);
    if (!verdict.ok) throw denialToError(verdict.denial);
    const phases = { parse: tParsed - t0, admit: Date.now() - tParsed };
    const alias = verdict.alias;
    if (!alias) {
      const run = forward(c, spec, body, verdict, est, { orgId: key.orgId, t0, phases, clientTimeout, attribution, attemptId: requestId, mayFallBack: false, callerKey, prompt });
      c.executionCtx.waitUntil(run.then((r) => r.finished));
      return (await run).response;
    }
    // Fallback chain: attempt n (n ≥ 2) is admitted as `<requestId>.<n>` with the n-th target.
    for (let n = 1; ; n++) {
      const attemptId = n === 1 ? requestId : `${requestId}.${n}`;
      const last = n >= alias.targets.length;
      const run = forward(c, spec, structuredClone(body), verdict, est, { orgId: key.orgId, t0, phases, clientTimeout, attribution, attemptId, mayFallBack: !last, callerKey, prompt });
      c.executionCtx.waitUntil(run.then((r) => r.finished));
      const r = await run;
      if (!r.fallBack) return withAttempts(r.response, n);
      const next = await admit(c.env, { ...admitReq, requestId: `${requestId}.${n + 1}`, model: alias.targets[n]!, alias: alias.name });
      if (!next.ok) return withAttempts(proxyErrorResponse(denialToError(next.denial), spec.flavor, requestId, { "X-Tollgate-Trace-Id": traceId }), n);
      verdict = next;
    }
  } catch (e) {
    return proxyErrorResponse(toApiError(e), spec.flavor, requestId, { "X-Tollgate-Trace-Id": traceId });
  }
}

/** The 403 `guardrail_blocked` naming the guardrail and what it found (never the matched text). */
function guardrailError(b: Block): ApiError {
  return new ApiError("guardrail_blocked", `Blocked by guardrail '${b.guardrail.name}': ${b.reason}`, { guardrail_id: b.guardrail.id, guardrail: b.guardrail.name });
}

/** The output cap the client set (any of the endpoints' spellings), or null. */
function requestedMaxTokens(body: Record<string, unknown>): number | null {
  for (const k of ["max_tokens", "max_completion_tokens", "max_output_tokens"]) {
    if (typeof body[k] === "number") return body[k] as number;
  }
  return null;
}

/** Longest caller provider key accepted (real ones are far shorter). */
const MAX_CALLER_KEY_CHARS = 8192;

/**
 * The caller's own provider key (BYOK): `X-Tollgate-Provider-Key`, or on `/v1/messages` a native
 * `x-api-key` when the Tollgate key came in `Authorization` (so `x-api-key` is unambiguous). Whether
 * the key may or must carry one is the gate's decision (its `byok` setting).
 */
function readCallerProviderKey(h: Headers, anthropicFlavor: boolean): string | null {
  let v = h.get("x-tollgate-provider-key");
  let param = "X-Tollgate-Provider-Key";
  if (v === null && anthropicFlavor && h.get("authorization") !== null) {
    const native = h.get("x-api-key");
    if (native !== null && !native.trim().startsWith("sk-tg-")) {
      v = native;
      param = "x-api-key";
    }
  }
  if (v === null) return null;
  v = v.trim();
  if (!v || v.length > MAX_CALLER_KEY_CHARS || /[\s\u0000-\u001f\u007f]/.test(v)) {
    throw new ApiError("invalid_request", `${param} must be a non-empty provider API key without spaces or control characters`, { param });
  }
  return v;
}

/** Marks a response of a model alias with how many targets were tried. */
function withAttempts(res: Response, n: number): Response {
  res.headers.set("X-Tollgate-Fallback-Attempts", String(n));
  return res;
}

/** `X-Tollgate-Timeout-Ms`: a client may lower the upstream deadlines (1 ms … the default). */
function readClientTimeout(h: Headers): number | null {
  const v = h.get("x-tollgate-timeout-ms");
  if (v === null) return null;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new ApiError("invalid_request", "X-Tollgate-Timeout-Ms must be a positive integer (milliseconds)", { param: "X-Tollgate-Timeout-Ms" });
  return n;
}

type ForwardCtx = {
  orgId: string;
  t0: number;
  phases: { parse: number; admit: number };
  clientTimeout: number | null;
  attribution: AdmitRequest["attribution"];
  /** This attempt's request id: the client's, or `<requestId>.<n>` for a fallback attempt. */
  attemptId: string;
  /**
   * The caller's own provider key (BYOK), used upstream instead of the org's sealed key. Held only in
   * this request's memory: never sent to the gate, stored, logged or audited (docs/proxy.md#byok).
   */
  callerKey: string | null;
  /** True when another alias target remains, so a provider 429/5xx/timeout is not answered yet. */
  mayFallBack: boolean;
  /** The prompt template rendered into the body (docs/prompts.md), recorded on the cost event. */
  prompt: RenderedPrompt | null;
};

/** One attempt's outcome; `fallBack`: the provider failed before any output and the next target should be tried. */
type Attempt = { response: Response; finished: Promise<unknown>; fallBack?: boolean };

/** Provider call and response, after admission. Resolves to the client response and the settle/release promise. */
async function forward(
  c: Context<AppEnv>,
  spec: EndpointSpec,
  body: Record<string, unknown>,
  verdict: AdmitOk,
  est: RequestEstimate,
  fx: ForwardCtx,
): Promise<Attempt> {
  const requestId = c.var.requestId;
  const route = verdict.route;
  const context: SettleRequest["context"] = {
    requestId: fx.attemptId,
    keyId: verdict.keyId,
    teamId: verdict.teamId,
    endpoint: spec.endpoint,
    providerName: route.providerName,
    model: route.upstreamModel,
    price: verdict.price,
    attribution: fx.attribution,
    createdAt: fx.t0,
    ...(fx.prompt ? { prompt: fx.prompt } : {}),
  };
  const base = { orgId: fx.orgId, reservationId: verdict.reservationId };
  const fail: Fail = (err, status) => ({
    response: proxyErrorResponse(err, spec.flavor, requestId, { "X-Tollgate-Trace-Id": fx.attribution.traceId! }),
    finished: release(c.env, { ...base, status, latencyMs: Date.now() - fx.t0, context }),
  });

  try {
    return await forwardAdmitted(c, spec, body, verdict, est, fx, fail, base, context);
  } catch (e) {
    // Anything unexpected after admission still gives the reservation back.
    const err = toApiError(e);
    return fail(err, err.status);
  }
}

type Fail = (err: ApiError, status: number) => { response: Response; finished: Promise<unknown> };

async function forwardAdmitted(
  c: Context<AppEnv>,
  spec: EndpointSpec,
  body: Record<string, unknown>,
  verdict: AdmitOk,
  est: RequestEstimate,
  fx: ForwardCtx,
  fail: Fail,
  base: { orgId: string; reservationId: string },
  context: SettleRequest["context"],
): Promise<Attempt> {
  const requestId = c.var.requestId;
  const route = verdict.route;
  // A provider of another format is reached through a translator when one exists (docs/providers.md).
  const translator = spec.providerTypes.includes(route.type) ? null : translatorFor(spec.endpoint, route.type);
  if (!spec.providerTypes.includes(route.type) && !translator) {
    const hint = route.type === "anthropic" ? "call POST /v1/chat/completions (translated) or POST /v1/messages (Anthropic format) for this provider" : route.type === "gemini" ? "call POST /v1/chat/completions (translated) for this provider" : "call the OpenAI-format endpoints for this provider";
    return fail(new ApiError("invalid_request", `Model '${body.model as string}' is served by ${route.type} provider '${route.providerName}', which does not speak this endpoint's format: ${hint}`, { param: "model" }), 400);
  }

  const refused = refusedUpstream(route.baseUrl, c.var.config.ALLOW_PRIVATE_UPSTREAMS);
  if (refused) return fail(new ApiError("upstream_error", `The base URL of provider '${route.providerName}' is refused: it ${refused}`), 502);

  let apiKey: string;
  try {
    apiKey = fx.callerKey ?? (await providerApiKey(c.env.ENCRYPTION_KEY, route));
  } catch {
    return fail(new ApiError("upstream_error", `The credential of provider '${route.providerName}' cannot be decrypted; an admin must re-enter it`), 502);
  }

  stripTollgateMetadata(body);
  // Guardrails run on what would leave, before anything else reads the body (docs/guardrails.md).
  const guards = verdict.guardrails;
  if (guards?.length) {
    const v = evaluateRequest(guards, body, {
      models: [...new Set([body.model as string, `${route.providerName}/${route.upstreamModel}`, route.upstreamModel])],
      maxTokens: spec.endpoint === "embeddings" ? undefined : requestedMaxTokens(body),
      customerId: fx.attribution.customerId,
    });
    if (v.hits.length) context.guardrailHits = v.hits;
    if (v.blocked) return fail(guardrailError(v.blocked), 403);
  }
  body.model = route.upstreamModel;
  const wantsStream = body.stream === true;
  let clientWantsUsage = true;
  if (wantsStream && (spec.endpoint === "chat.completions" || spec.endpoint === "completions")) clientWantsUsage = forceIncludeUsage(body);

  let upstreamBody = body;
  let upstreamPath = spec.upstreamPath;
  if (translator) {
    const t = translator.request(body, { upstreamModel: route.upstreamModel, maxOutputTokens: verdict.price.maxOutputTokens, stream: wantsStream, providerName: route.providerName });
    if (!t.ok) return fail(new ApiError("invalid_request", t.message, { param: t.param }), 400);
    upstreamBody = t.body;
    upstreamPath = t.path;
  }

  const limits = deadlines(fx.clientTimeout, verdict.reservationExpiresAt, Date.now(), { streamed: wantsStream, firstByteMs: c.var.config.UPSTREAM_FIRST_BYTE_TIMEOUT_MS });
  // The output tokens the gate reserved (it clamps the request's cap to the model's cap).
  const reservedOutput = reservedOutputTokens(verdict.price, est.estimate.outputTokens, est.outputCapFromModel, est.choices);
  const reasoningModel = mayReason(route.upstreamModel, body);
  const settleWith = (usage: Usage, estimated: boolean, status: number, ttfbMs: number | null) =>
    settle(c.env, { ...base, status, usage, estimated, latencyMs: Date.now() - fx.t0, ttfbMs, context });
  // After hand-off the provider may bill even if we never see an answer: charge the whole reservation.
  const chargeEstimate = (err: ApiError, ttfbMs: number | null) => ({
    response: proxyErrorResponse(err, spec.flavor, requestId, { "X-Tollgate-Trace-Id": fx.attribution.traceId! }),
    finished: settleWith(estimatedUsage(null, est.estimate.inputTokens, 0, reservedOutput, true), true, err.status, ttfbMs),
  });

  const sent = await fetchUpstream(
    upstreamUrl(route, upstreamPath),
    { method: "POST", headers: upstreamHeaders(route, apiKey, c.req.raw.headers, fx.attribution.traceId!, fx.attemptId), body: JSON.stringify(upstreamBody) },
    limits,
  );
  // Nothing reached the client yet: with another alias target left, these are fallback cases.
  if (!sent.ok) return { ...(sent.kind === "timeout" ? chargeEstimate(sent.error, null) : fail(sent.error, sent.error.status)), fallBack: fx.mayFallBack };
  const call = sent.call;
  const { res, ttfbMs } = call;

  if (!res.ok) {
    const text = await res.text().catch(() => "");
    call.finish();
    const fallBack = fx.mayFallBack && (res.status === 429 || res.status >= 500);
    const err = fx.callerKey && (res.status === 401 || res.status === 403)
      ? new ApiError("upstream_error", `Provider '${route.providerName}' rejected the provider key you sent (HTTP ${res.status})`, { upstream_status: res.status })
      : upstreamErrorToApiError(res.status, text, route.providerName, res.headers);
    return { ...fail(err, res.status), fallBack };
  }

  const out = responseHeaders(res.headers, requestId, fx.attribution.traceId!);
  setRateLimitHeaders(out, verdict.rateLimit);

  const isSse = (res.headers.get("content-type") ?? "").includes("text/event-stream");
  if (wantsStream && isSse && res.body) {
    out.set("Server-Timing", serverTiming({ ...fx.phases, upstream: ttfbMs, total: null }));
    out.set("cache-control", "no-cache");
    const xl = translator ? translator.stream(route.providerName) : null;
    const tracker = xl ? xl.tracker : streamTrackerFor(spec.endpoint);
    const broken = streamErrorEvent(new ApiError("upstream_error", `The stream from provider '${route.providerName}' broke off`), spec.flavor, requestId);
    const relay = relayStream(xl ? res.body.pipeThrough(xl.transform) : res.body, tracker, !clientWantsUsage, broken);
    const finished = relay.outcome.then((o) => {
      call.finish();
      if (o.kind === "complete" && tracker.usage) return settleWith(tracker.usage, false, res.status, ttfbMs);
      // Cut short (provider error, deadline, client gone) or no usage at all: charge what was delivered,
      // or the whole reserved output when hidden reasoning may have been billed (docs/money.md).
      const status = o.kind === "client_abort" ? 499 : o.kind === "upstream_error" ? 502 : res.status;
      const reasoning = reasoningModel || tracker.sawReasoning || (o.kind !== "complete" && tracker.finishedBeforeUsage);
      return settleWith(estimatedUsage(tracker.usage ?? tracker.partial, est.estimate.inputTokens, tracker.outputBytes, reservedOutput, reasoning), true, status, ttfbMs);
    });
    return { response: new Response(relay.readable, { status: res.status, headers: out }), finished };
  }

  let bytes: ArrayBuffer;
  try {
    bytes = await res.arrayBuffer();
  } catch {
    call.finish();
    // The provider accepted the request and was producing the answer: it bills it, so we charge the estimate.
    const timedOut = call.signal.aborted;
    return chargeEstimate(timedOut ? new ApiError("upstream_timeout", `The provider did not finish within ${limits.totalMs} ms`) : new ApiError("upstream_error", "The provider's response was cut off"), ttfbMs);
  }
  call.finish();
  let json: Record<string, unknown> | null = null;
  try {
    json = JSON.parse(decoder.decode(bytes)) as Record<string, unknown>;
  } catch {
    json = null;
  }
  const translated = json && translator ? translator.response(json) : null;
  const exact = translated ? translated.usage : json ? usageFromBody(spec.endpoint, json) : null;
  const reasoning = reasoningModel || (json !== null && !translated && bodyShowsReasoning(spec.endpoint, json));
  const usage = exact ?? estimatedUsage(null, est.estimate.inputTokens, translated ? translated.outputBytes : json ? outputBytesOfBody(spec.endpoint, json) : bytes.byteLength, reservedOutput, reasoning);
  if (json && hasResponseGuardrails(guards)) {
    const v = evaluateResponse(guards!, translated ? translated.body : json);
    if (v.hits.length) context.guardrailHits = [...(context.guardrailHits ?? []), ...v.hits];
    // The provider did the work, so it is charged; the client gets the refusal instead of the answer.
    if (v.blocked) {
      const err = guardrailError(v.blocked);
      return { response: proxyErrorResponse(err, spec.flavor, requestId, { "X-Tollgate-Trace-Id": fx.attribution.traceId! }), finished: settleWith(usage, !exact, err.status, ttfbMs) };
    }
  }
  out.set("X-Tollgate-Cost-Micros", String(costOfUsage(usage, verdict.price)));
  if (!exact) out.set("X-Tollgate-Cost-Estimated", "true");
  const total = Date.now() - fx.t0;
  out.set("Server-Timing", serverTiming({ ...fx.phases, upstream: ttfbMs, total }));
  return { response: new Response(translated ? JSON.stringify(translated.body) : bytes, { status: res.status, headers: out }), finished: settleWith(usage, !exact, res.status, ttfbMs) };
}
