/**
 * The OpenAI chat-completions side of every translation: the response and chunk shapes clients
 * parse, the usage object built from normalised {@link Usage}, and the SSE plumbing shared by the
 * provider-specific stream translators.
 */
import type { Usage } from "../../durable-objects/gate-protocol";
import { SseParser, type SseEvent } from "../sse";
import { openAiStreamTracker, type StreamUsageTracker } from "../usage";
import type { Json } from "./types";

const encoder = new TextEncoder();

/**
 * OpenAI's usage object for a normalised usage: `prompt_tokens` counts ALL input (uncached, cache
 * reads and cache writes) with reads in `cached_tokens` and writes in `cache_write_tokens`;
 * `completion_tokens` includes `reasoning_tokens`. Round-trips through `fromOpenAiUsage` except
 * for cache writes, which is why the pipeline prices translated calls from the provider's own usage.
 */
export function chatUsage(u: Usage): Json {
  const cacheWrites = u.cacheWriteTokens + u.cacheWrite1hTokens;
  const prompt = u.uncachedInputTokens + u.cachedInputTokens + cacheWrites;
  return {
    prompt_tokens: prompt,
    completion_tokens: u.outputTokens,
    total_tokens: prompt + u.outputTokens,
    prompt_tokens_details: { cached_tokens: u.cachedInputTokens, cache_write_tokens: cacheWrites },
    completion_tokens_details: { reasoning_tokens: u.reasoningTokens },
  };
}

/** An OpenAI tool call as it appears in a message. */
export type ChatToolCall = { id: string; type: "function"; function: { name: string; arguments: string } };

/** A complete `chat.completion` object with one choice. */
export function chatCompletion(p: { id: string; model: string; content: string | null; toolCalls: ChatToolCall[]; finishReason: string; usage: Usage | null; reasoning?: string | null }): Json {
  const message: Json = { role: "assistant", content: p.content, refusal: null };
  if (p.reasoning) message.reasoning_content = p.reasoning;
  if (p.toolCalls.length) message.tool_calls = p.toolCalls;
  const out: Json = {
    id: p.id,
    object: "chat.completion",
    created: Math.floor(Date.now() / 1000),
    model: p.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: p.finishReason }],
  };
  if (p.usage) out.usage = chatUsage(p.usage);
  return out;
}

/** Writes `chat.completion.chunk` SSE events for one stream. */
export class ChunkWriter {
  id = "chatcmpl-tollgate";
  model = "";
  readonly created = Math.floor(Date.now() / 1000);

  /** One chunk with a delta for choice 0. */
  delta(delta: Json, finishReason: string | null = null): Uint8Array {
    return this.data({ id: this.id, object: "chat.completion.chunk", created: this.created, model: this.model, choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }] });
  }

  /** The usage-only chunk (`choices: []`) OpenAI sends before `[DONE]` when `include_usage` is set. */
  usage(u: Usage): Uint8Array {
    return this.data({ id: this.id, object: "chat.completion.chunk", created: this.created, model: this.model, choices: [], usage: chatUsage(u) });
  }

  done(): Uint8Array {
    return encoder.encode("data: [DONE]\n\n");
  }

  /** An in-stream error in OpenAI's shape (the SDKs raise it as an APIError). */
  error(message: string, type: string): Uint8Array {
    return this.data({ error: { message, type, code: "upstream_error", param: null } });
  }

  private data(obj: Json): Uint8Array {
    return encoder.encode(`data: ${JSON.stringify(obj)}\n\n`);
  }
}

/**
 * A TransformStream from provider SSE bytes to client bytes: complete provider events are handed to
 * `onEvent` as soon as their terminator arrives (so output is never held back), and `onEnd` may
 * write a tail when the provider closes cleanly. A provider read error aborts the transform, which
 * the relay reports as a stream cut by the provider.
 */
export function sseTransform(onEvent: (ev: SseEvent, emit: (b: Uint8Array) => void) => void, onEnd: (emit: (b: Uint8Array) => void) => void): TransformStream<Uint8Array, Uint8Array> {
  const parser = new SseParser();
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, ctl) {
      const emit = (b: Uint8Array) => ctl.enqueue(b);
      for (const ev of parser.push(chunk)) onEvent(ev, emit);
    },
    flush(ctl) {
      const emit = (b: Uint8Array) => ctl.enqueue(b);
      const tail = parser.end();
      if (tail) onEvent(tail, emit);
      onEnd(emit);
    },
  });
}

/**
 * The tracker the pipeline reads for a translated stream: exact usage (and the partial usage of a
 * cut stream) from the provider-format tracker fed by the translator; delivered-output bytes and
 * "this is the usage-only chunk" from the OpenAI chunks the relay sees.
 */
export function translatedTracker(native: StreamUsageTracker): StreamUsageTracker {
  const client = openAiStreamTracker();
  return {
    onEvent: (ev) => client.onEvent(ev),
    get usage() {
      return native.usage;
    },
    set usage(_v) {},
    get partial() {
      return native.partial;
    },
    set partial(_v) {},
    get outputBytes() {
      return client.outputBytes;
    },
    set outputBytes(_v) {},
    get lastWasUsageOnlyChunk() {
      return client.lastWasUsageOnlyChunk;
    },
    set lastWasUsageOnlyChunk(_v) {},
    // Reasoning shows in the translated chunks (`reasoning_content`) or in the provider's own events.
    get sawReasoning() {
      return native.sawReasoning || client.sawReasoning;
    },
    set sawReasoning(_v) {},
    get finishedBeforeUsage() {
      return client.finishedBeforeUsage;
    },
    set finishedBeforeUsage(_v) {},
  };
}

/** A `data:` URL's media type and base64 payload, or null when it is not a base64 data URL. */
export function parseDataUrl(url: string): { mediaType: string; data: string } | null {
  const m = /^data:([\w.+-]+\/[\w.+-]+)(?:;[\w-]+=[\w.-]+)*;base64,(.*)$/s.exec(url);
  return m ? { mediaType: m[1]!, data: m[2]! } : null;
}

/** `stop` (string or array) as a list, or an error message. */
export function stopList(stop: unknown): string[] | string | null {
  if (stop === undefined || stop === null) return null;
  if (typeof stop === "string") return [stop];
  if (Array.isArray(stop) && stop.every((s) => typeof s === "string")) return stop as string[];
  return "stop must be a string or an array of strings";
}
