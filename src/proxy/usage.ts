/**
 * Provider usage → the protocol's {@link Usage}, for every wire format Tollgate proxies, streamed
 * and not (docs/proxy.md "Usage and streams"). Streams are read through {@link StreamUsageTracker}s, which also count
 * the output text actually delivered so a stream that ends without usage (truncated, client abort,
 * a provider that never sends it) is charged for what flowed, flagged `estimated`.
 */
import type { Endpoint, Usage } from "../durable-objects/gate-protocol";
import { utf8Length } from "./estimate";
import type { SseEvent } from "./sse";

type Json = Record<string, any>;

const int = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) && v > 0 ? Math.floor(v) : 0);

/** An all-zero usage. */
export function zeroUsage(): Usage {
  return { uncachedInputTokens: 0, cachedInputTokens: 0, cacheWriteTokens: 0, cacheWrite1hTokens: 0, outputTokens: 0, reasoningTokens: 0 };
}

/** OpenAI chat / completions / embeddings usage: `cached_tokens` ⊂ `prompt_tokens`, `reasoning_tokens` ⊂ `completion_tokens`. */
export function fromOpenAiUsage(u: Json): Usage {
  const prompt = int(u.prompt_tokens);
  const cached = Math.min(int(u.prompt_tokens_details?.cached_tokens), prompt);
  return {
    uncachedInputTokens: prompt - cached,
    cachedInputTokens: cached,
    cacheWriteTokens: 0,
    cacheWrite1hTokens: 0,
    outputTokens: int(u.completion_tokens),
    reasoningTokens: int(u.completion_tokens_details?.reasoning_tokens),
  };
}

/** OpenAI Responses usage (`input_tokens` includes cached ones). */
export function fromResponsesUsage(u: Json): Usage {
  const input = int(u.input_tokens);
  const cached = Math.min(int(u.input_tokens_details?.cached_tokens), input);
  return {
    uncachedInputTokens: input - cached,
    cachedInputTokens: cached,
    cacheWriteTokens: 0,
    cacheWrite1hTokens: 0,
    outputTokens: int(u.output_tokens),
    reasoningTokens: int(u.output_tokens_details?.reasoning_tokens),
  };
}

/**
 * Anthropic usage: `input_tokens` EXCLUDES cache reads and writes. Cache writes split into 5-minute
 * and 1-hour when the `cache_creation` breakdown is present; otherwise all count as 5-minute writes.
 */
export function fromAnthropicUsage(u: Json): Usage {
  const writes = int(u.cache_creation_input_tokens);
  const w1h = Math.min(int(u.cache_creation?.ephemeral_1h_input_tokens), writes);
  return {
    uncachedInputTokens: int(u.input_tokens),
    cachedInputTokens: int(u.cache_read_input_tokens),
    cacheWriteTokens: writes - w1h,
    cacheWrite1hTokens: w1h,
    outputTokens: int(u.output_tokens),
    reasoningTokens: 0,
  };
}

/** Usage of a non-streamed response body, or null when it carries none. */
export function usageFromBody(endpoint: Endpoint, body: Json): Usage | null {
  const u = body?.usage;
  if (!u || typeof u !== "object") return null;
  if (endpoint === "messages") return fromAnthropicUsage(u);
  if (endpoint === "responses") return fromResponsesUsage(u);
  return fromOpenAiUsage(u);
}

/** UTF-8 bytes of the output text in a non-streamed body (for bodies without usage). */
export function outputBytesOfBody(endpoint: Endpoint, body: Json): number {
  let n = 0;
  if (endpoint === "messages") for (const b of arr(body?.content)) n += textBytes(b?.text) + jsonBytes(b?.input) + textBytes(b?.thinking);
  else if (endpoint === "responses") {
    for (const item of arr(body?.output)) {
      n += textBytes(item?.arguments);
      for (const part of arr(item?.content)) n += textBytes(part?.text);
    }
  } else if (endpoint !== "embeddings") {
    for (const ch of arr(body?.choices)) {
      n += textBytes(ch?.text) + textBytes(ch?.message?.content) + textBytes(ch?.message?.refusal);
      for (const t of arr(ch?.message?.tool_calls)) n += textBytes(t?.function?.arguments);
    }
  }
  return n;
}

const arr = (v: unknown): any[] => (Array.isArray(v) ? v : []);
const textBytes = (v: unknown): number => (typeof v === "string" ? utf8Length(v) : 0);
const jsonBytes = (v: unknown): number => (v && typeof v === "object" ? utf8Length(JSON.stringify(v)) : 0);

/**
 * Reads usage out of a stream's events as they pass. `usage` is the provider's exact usage once
 * it has been seen; `partial` holds what a stream revealed before it ended early (Anthropic sends
 * input counts first); `outputBytes` counts the output text delivered so far.
 */
export interface StreamUsageTracker {
  onEvent(ev: SseEvent): void;
  usage: Usage | null;
  partial: Usage | null;
  outputBytes: number;
  /** The stream showed reasoning (reasoning deltas or items, Anthropic thinking): hidden output may exceed the visible text. */
  sawReasoning: boolean;
  /** A choice finished (`finish_reason`, or the Responses output items were done) before any usage arrived. */
  finishedBeforeUsage: boolean;
  /** True when the event is the usage-only chunk the gateway asked for (OpenAI chat `choices: []`). */
  lastWasUsageOnlyChunk: boolean;
}

/** Tracker for OpenAI chat completions and legacy completions streams (`data: {…}` then `data: [DONE]`). */
export function openAiStreamTracker(): StreamUsageTracker {
  const t: StreamUsageTracker = {
    usage: null,
    partial: null,
    outputBytes: 0,
    sawReasoning: false,
    finishedBeforeUsage: false,
    lastWasUsageOnlyChunk: false,
    onEvent(ev) {
      t.lastWasUsageOnlyChunk = false;
      const d = ev.data;
      if (!d || d === "[DONE]" || d.charCodeAt(0) !== 123 /* { */) return;
      let j: Json;
      try {
        j = JSON.parse(d);
      } catch {
        return;
      }
      for (const ch of arr(j.choices)) {
        const delta = ch?.delta;
        if (ch?.finish_reason && !t.usage) t.finishedBeforeUsage = true;
        if (delta) {
          const reasoning = textBytes(delta.reasoning_content) + textBytes(delta.reasoning);
          if (reasoning > 0) t.sawReasoning = true;
          t.outputBytes += textBytes(delta.content) + textBytes(delta.refusal) + reasoning;
          for (const tc of arr(delta.tool_calls)) t.outputBytes += textBytes(tc?.function?.arguments);
        } else t.outputBytes += textBytes(ch?.text);
      }
      if (j.usage && typeof j.usage === "object") {
        t.usage = fromOpenAiUsage(j.usage);
        t.lastWasUsageOnlyChunk = Array.isArray(j.choices) && j.choices.length === 0;
      }
    },
  };
  return t;
}

const RESPONSES_DELTA_EVENTS = new Set([
  "response.output_text.delta",
  "response.function_call_arguments.delta",
  "response.refusal.delta",
  "response.reasoning_summary_text.delta",
  "response.reasoning_text.delta",
]);
const RESPONSES_FINAL_EVENTS = new Set(["response.completed", "response.incomplete", "response.failed"]);

/** Tracker for Responses API streams: named events; the final `response.completed` carries `response.usage`. */
export function responsesStreamTracker(): StreamUsageTracker {
  const t: StreamUsageTracker = {
    usage: null,
    partial: null,
    outputBytes: 0,
    sawReasoning: false,
    finishedBeforeUsage: false,
    lastWasUsageOnlyChunk: false,
    onEvent(ev) {
      const type = ev.event ?? peekType(ev.data);
      if (!type) return;
      if (RESPONSES_DELTA_EVENTS.has(type)) {
        const j = safeParse(ev.data);
        t.outputBytes += textBytes(j?.delta);
        if (type.startsWith("response.reasoning")) t.sawReasoning = true;
      } else if (type === "response.output_item.added" || type === "response.output_item.done") {
        const item = safeParse(ev.data)?.item;
        if (item?.type === "reasoning") t.sawReasoning = true;
        if (type === "response.output_item.done" && !t.usage) t.finishedBeforeUsage = true;
      } else if (RESPONSES_FINAL_EVENTS.has(type)) {
        const u = safeParse(ev.data)?.response?.usage;
        if (u && typeof u === "object") t.usage = fromResponsesUsage(u);
      }
    },
  };
  return t;
}

/**
 * Tracker for Anthropic Messages streams. `message_start` has the input/cache counts and a first
 * `output_tokens`; every `message_delta` carries the CUMULATIVE `output_tokens` (not an increment).
 * Usage counts as exact once a `message_delta` has arrived.
 */
export function anthropicStreamTracker(): StreamUsageTracker {
  let start: Json | null = null;
  const t: StreamUsageTracker = {
    usage: null,
    partial: null,
    outputBytes: 0,
    sawReasoning: false,
    finishedBeforeUsage: false,
    lastWasUsageOnlyChunk: false,
    onEvent(ev) {
      const type = ev.event ?? peekType(ev.data);
      if (type === "content_block_delta") {
        const d = safeParse(ev.data)?.delta;
        if (typeof d?.thinking === "string") t.sawReasoning = true;
        t.outputBytes += textBytes(d?.text) + textBytes(d?.partial_json) + textBytes(d?.thinking);
      } else if (type === "message_start") {
        start = safeParse(ev.data)?.message?.usage ?? {};
        t.partial = fromAnthropicUsage(start!);
      } else if (type === "message_delta") {
        const u = safeParse(ev.data)?.usage;
        if (u && typeof u === "object") {
          // Newer API versions repeat cumulative input/cache counts here; prefer them when present.
          t.usage = fromAnthropicUsage({ ...(start ?? {}), ...stripNulls(u) });
          t.partial = t.usage;
        }
      }
    },
  };
  return t;
}

/** Tracker for a given endpoint's streams. */
export function streamTrackerFor(endpoint: Endpoint): StreamUsageTracker {
  if (endpoint === "messages") return anthropicStreamTracker();
  if (endpoint === "responses") return responsesStreamTracker();
  return openAiStreamTracker();
}

function stripNulls(o: Json): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(o)) if (v !== null && v !== undefined) out[k] = v;
  return out;
}

function safeParse(s: string): Json | null {
  try {
    const j = JSON.parse(s);
    return j && typeof j === "object" ? j : null;
  } catch {
    return null;
  }
}

/** The `type` field of a JSON event payload without an `event:` line (some proxies drop it). */
function peekType(data: string): string | null {
  const m = /"type"\s*:\s*"([^"]+)"/.exec(data.slice(0, 200));
  return m ? m[1]! : null;
}

/**
 * What to charge when exact usage is missing (docs/money.md, "Estimated charges"):
 * - input: as the provider reported it if it did (Anthropic's `message_start`, an exact count),
 *   else the input estimate;
 * - output: the delivered text's token upper bound (UTF-8 bytes), never below what the provider
 *   already reported, never above the reservation's output tokens;
 * - `reasoning`: hidden reasoning tokens may have been billed that no text shows, so the output is
 *   the reservation's whole output share.
 * Always flagged `estimated` by the caller.
 */
export function estimatedUsage(partial: Usage | null, inputTokensEstimate: number, outputBytes: number, reservedOutputTokens: number, reasoning = false): Usage {
  const base = partial ?? { ...zeroUsage(), uncachedInputTokens: inputTokensEstimate };
  const counted = reasoning ? reservedOutputTokens : Math.min(outputBytes, reservedOutputTokens);
  return { ...base, outputTokens: Math.max(base.outputTokens, counted) };
}

/** Model families that reason before they answer (their hidden tokens are billed as output). */
const REASONING_MODEL = /^(o\d|gpt-5|deepseek-reasoner|.*-thinking)/i;

/**
 * True when a request may produce hidden reasoning tokens: a reasoning model family, or the body
 * asks for reasoning (`reasoning`, `reasoning_effort`, Anthropic `thinking`).
 */
export function mayReason(upstreamModel: string, body: Json): boolean {
  const bare = upstreamModel.slice(upstreamModel.lastIndexOf("/") + 1);
  if (REASONING_MODEL.test(bare)) return true;
  if (body.reasoning_effort !== undefined && body.reasoning_effort !== null && body.reasoning_effort !== "none") return true;
  if (body.reasoning && typeof body.reasoning === "object" && body.reasoning.effort !== "none") return true;
  return body.thinking?.type === "enabled";
}

/** True when a non-streamed body shows reasoning output (Responses `reasoning` items, Anthropic `thinking` blocks). */
export function bodyShowsReasoning(endpoint: Endpoint, body: Json): boolean {
  if (endpoint === "responses") return arr(body?.output).some((item) => item?.type === "reasoning");
  if (endpoint === "messages") return arr(body?.content).some((b) => b?.type === "thinking" || b?.type === "redacted_thinking");
  return arr(body?.choices).some((ch) => typeof ch?.message?.reasoning_content === "string" || typeof ch?.message?.reasoning === "string");
}
