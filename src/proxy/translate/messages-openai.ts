/**
 * Anthropic Messages (`POST /v1/messages`) ⇄ OpenAI chat completions, for `openai` and
 * `openai_compatible` providers: the reverse of `anthropic.ts`, streamed and not. Rules:
 * docs/providers.md. Usage comes from the provider's OpenAI `usage` (exact; streams ask for it with
 * `stream_options.include_usage`), shown to the client in Anthropic's shape.
 */
import { randomBase62 } from "../../lib/encoding";
import { anthropicStreamTracker, fromOpenAiUsage, openAiStreamTracker, type StreamUsageTracker } from "../usage";
import { sseTransform } from "./openai-chat";
import type { ChatTranslator, Json, RequestContext, TranslatedRequest, TranslatedResponse, TranslatedStream } from "./types";

const LABEL = "an OpenAI-format provider";
type Refusal = { ok: false; message: string; param: string | null };
const refuse = (message: string, param: string | null): Refusal => ({ ok: false, message, param });

/** OpenAI `finish_reason` → Anthropic `stop_reason`. */
const STOP_REASON: Record<string, string> = { stop: "end_turn", length: "max_tokens", tool_calls: "tool_use", function_call: "tool_use", content_filter: "refusal" };

/** Text of a `tool_result` content (string or text blocks). */
function toolResultText(content: unknown, param: string): string | Refusal {
  if (content === undefined || content === null) return "";
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return refuse("tool_result content must be a string or an array of text blocks", param);
  const out: string[] = [];
  for (const [i, b] of content.entries()) {
    if (b?.type !== "text" || typeof b.text !== "string") return refuse(`only text blocks can be sent inside a tool_result to ${LABEL}`, `${param}.${i}.type`);
    out.push(b.text);
  }
  return out.join("\n");
}

/** A user block as an OpenAI content part. */
function userPart(b: Json, param: string): Json | Refusal {
  if (b?.type === "text") return { type: "text", text: String(b.text ?? "") };
  if (b?.type === "image") {
    const s = b.source ?? {};
    if (s.type === "base64" && typeof s.media_type === "string" && typeof s.data === "string") return { type: "image_url", image_url: { url: `data:${s.media_type};base64,${s.data}` } };
    if (s.type === "url" && typeof s.url === "string") return { type: "image_url", image_url: { url: s.url } };
    return refuse("image source must be base64 or url", `${param}.source`);
  }
  return refuse(`content block type '${String(b?.type)}' cannot be sent to ${LABEL}`, `${param}.type`);
}

const isRefusal = (v: unknown): v is Refusal => typeof v === "object" && v !== null && (v as Refusal).ok === false;

/** Anthropic Messages request → OpenAI chat request. */
export function messagesToChatRequest(body: Json, ctx: RequestContext): TranslatedRequest {
  for (const f of ["thinking", "top_k", "container", "mcp_servers"]) {
    if (body[f] !== undefined && body[f] !== null) return refuse(`${f} cannot be sent to ${LABEL}`, f);
  }
  const messages: Json[] = [];
  if (body.system !== undefined) {
    const sys = typeof body.system === "string" ? body.system : toolResultText(body.system, "system");
    if (isRefusal(sys)) return sys;
    if (sys) messages.push({ role: "system", content: sys });
  }
  for (const [i, m] of (body.messages as Json[]).entries()) {
    const param = `messages.${i}.content`;
    if (typeof m.content === "string") {
      messages.push({ role: m.role, content: m.content });
      continue;
    }
    const blocks = m.content as Json[];
    if (m.role === "assistant") {
      const text: string[] = [];
      const toolCalls: Json[] = [];
      for (const [j, b] of blocks.entries()) {
        if (b.type === "text") text.push(String(b.text ?? ""));
        else if (b.type === "tool_use") toolCalls.push({ id: String(b.id), type: "function", function: { name: String(b.name), arguments: JSON.stringify(b.input ?? {}) } });
        else if (b.type === "thinking" || b.type === "redacted_thinking") continue;
        else return refuse(`content block type '${String(b.type)}' cannot be sent to ${LABEL}`, `${param}.${j}.type`);
      }
      messages.push({ role: "assistant", content: text.length ? text.join("") : null, ...(toolCalls.length ? { tool_calls: toolCalls } : {}) });
      continue;
    }
    // A user turn: tool results become `tool` messages (first, as OpenAI wants them right after the call), the rest one user message.
    const parts: Json[] = [];
    for (const [j, b] of blocks.entries()) {
      if (b.type === "tool_result") {
        const content = toolResultText(b.content, `${param}.${j}.content`);
        if (isRefusal(content)) return content;
        messages.push({ role: "tool", tool_call_id: String(b.tool_use_id), content: b.is_error ? `Error: ${content}` : content });
        continue;
      }
      const p = userPart(b, `${param}.${j}`);
      if (isRefusal(p)) return p;
      parts.push(p);
    }
    if (parts.length) messages.push({ role: "user", content: parts });
  }
  const out: Json = { model: ctx.upstreamModel, messages, max_tokens: body.max_tokens };
  if (ctx.stream) {
    out.stream = true;
    out.stream_options = { include_usage: true };
  }
  if (typeof body.temperature === "number") out.temperature = body.temperature;
  if (typeof body.top_p === "number") out.top_p = body.top_p;
  if (Array.isArray(body.stop_sequences) && body.stop_sequences.length) out.stop = body.stop_sequences;
  if (typeof body.metadata?.user_id === "string") out.user = body.metadata.user_id;
  if (Array.isArray(body.tools) && body.tools.length) {
    const tools: Json[] = [];
    for (const [i, t] of (body.tools as Json[]).entries()) {
      if (t.type !== undefined && t.type !== "custom") return refuse(`tool type '${String(t.type)}' (an Anthropic server tool) cannot be sent to ${LABEL}`, `tools.${i}.type`);
      tools.push({ type: "function", function: { name: t.name, ...(t.description ? { description: t.description } : {}), parameters: t.input_schema ?? { type: "object" } } });
    }
    out.tools = tools;
  }
  const tc = body.tool_choice;
  if (tc && typeof tc === "object") {
    if (tc.type === "auto") out.tool_choice = "auto";
    else if (tc.type === "any") out.tool_choice = "required";
    else if (tc.type === "none") out.tool_choice = "none";
    else if (tc.type === "tool" && typeof tc.name === "string") out.tool_choice = { type: "function", function: { name: tc.name } };
    else return refuse("tool_choice must be auto, any, none or {type: 'tool', name}", "tool_choice");
    if (tc.disable_parallel_tool_use === true && out.tools) out.parallel_tool_calls = false;
  }
  return { ok: true, body: out, path: "/chat/completions" };
}

/** OpenAI chat completion → Anthropic message. */
export function chatToMessagesResponse(json: Json): TranslatedResponse {
  const choice = Array.isArray(json.choices) ? json.choices[0] : undefined;
  const msg = choice?.message ?? {};
  const content: Json[] = [];
  let outputBytes = 0;
  const enc = new TextEncoder();
  if (typeof msg.content === "string" && msg.content !== "") {
    content.push({ type: "text", text: msg.content });
    outputBytes += enc.encode(msg.content).byteLength;
  }
  for (const call of Array.isArray(msg.tool_calls) ? msg.tool_calls : []) {
    const args = String(call?.function?.arguments ?? "");
    outputBytes += enc.encode(args).byteLength;
    let input: unknown = {};
    try {
      input = args ? JSON.parse(args) : {};
    } catch {
      input = { _raw: args };
    }
    content.push({ type: "tool_use", id: String(call?.id ?? ""), name: String(call?.function?.name ?? ""), input });
  }
  const usage = json.usage && typeof json.usage === "object" ? fromOpenAiUsage(json.usage) : null;
  const body: Json = {
    id: `msg_${String(json.id ?? "").replace(/^chatcmpl-/, "")}`,
    type: "message",
    role: "assistant",
    model: json.model,
    content,
    stop_reason: STOP_REASON[String(choice?.finish_reason)] ?? "end_turn",
    stop_sequence: null,
    usage: {
      input_tokens: usage ? usage.uncachedInputTokens : 0,
      output_tokens: usage ? usage.outputTokens : 0,
      cache_read_input_tokens: usage ? usage.cachedInputTokens : 0,
      cache_creation_input_tokens: 0,
    },
  };
  return { body, usage, outputBytes };
}

const encoder = new TextEncoder();
const sse = (type: string, data: Json) => encoder.encode(`event: ${type}\ndata: ${JSON.stringify(data)}\n\n`);

/**
 * OpenAI chat chunks → Anthropic stream events: `message_start`, one content block per text run or
 * tool call (`text_delta` / `input_json_delta`), then `message_delta` (stop reason, usage) and
 * `message_stop` once the provider's stream ends cleanly.
 */
export function chatToMessagesStream(): TranslatedStream {
  const native = openAiStreamTracker();
  const client = anthropicStreamTracker();
  let started = false;
  let index = -1;
  let open: "text" | "tool" | null = null;
  const toolBlocks = new Map<number, number>();
  let stopReason = "end_turn";
  let finished = false;
  const id = `msg_${randomBase62(24)}`;
  const closeBlock = (emit: (b: Uint8Array) => void) => {
    if (open !== null) emit(sse("content_block_stop", { type: "content_block_stop", index }));
    open = null;
  };
  const transform = sseTransform(
    (ev, emit) => {
      native.onEvent(ev);
      const d = ev.data;
      if (!d || d === "[DONE]") return;
      let j: Json;
      try {
        j = JSON.parse(d);
      } catch {
        return;
      }
      if (j.error) {
        emit(sse("error", { type: "error", error: { type: "api_error", message: String(j.error?.message ?? "provider error") } }));
        return;
      }
      if (!started) {
        started = true;
        emit(sse("message_start", {
          type: "message_start",
          message: { id, type: "message", role: "assistant", model: j.model ?? "", content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 0, output_tokens: 0 } },
        }));
      }
      const choice = Array.isArray(j.choices) ? j.choices[0] : undefined;
      const delta = choice?.delta ?? {};
      if (typeof delta.content === "string" && delta.content !== "") {
        if (open !== "text") {
          closeBlock(emit);
          index++;
          open = "text";
          emit(sse("content_block_start", { type: "content_block_start", index, content_block: { type: "text", text: "" } }));
        }
        emit(sse("content_block_delta", { type: "content_block_delta", index, delta: { type: "text_delta", text: delta.content } }));
      }
      for (const tc of Array.isArray(delta.tool_calls) ? delta.tool_calls : []) {
        const n = Number(tc?.index ?? 0);
        if (!toolBlocks.has(n)) {
          closeBlock(emit);
          index++;
          open = "tool";
          toolBlocks.set(n, index);
          emit(sse("content_block_start", { type: "content_block_start", index, content_block: { type: "tool_use", id: String(tc?.id ?? ""), name: String(tc?.function?.name ?? ""), input: {} } }));
        }
        const args = tc?.function?.arguments;
        // Arguments of a tool call other than the open block cannot be interleaved in Anthropic's format; OpenAI sends them in order.
        if (typeof args === "string" && args !== "" && toolBlocks.get(n) === index) {
          emit(sse("content_block_delta", { type: "content_block_delta", index, delta: { type: "input_json_delta", partial_json: args } }));
        }
      }
      if (choice?.finish_reason) stopReason = STOP_REASON[String(choice.finish_reason)] ?? "end_turn";
      if (j.usage && typeof j.usage === "object" && !finished) finish(emit);
    },
    (emit) => {
      if (started && !finished) finish(emit);
    },
  );
  function finish(emit: (b: Uint8Array) => void) {
    finished = true;
    closeBlock(emit);
    const u = native.usage;
    emit(sse("message_delta", {
      type: "message_delta",
      delta: { stop_reason: stopReason, stop_sequence: null },
      usage: u ? { input_tokens: u.uncachedInputTokens, output_tokens: u.outputTokens, cache_read_input_tokens: u.cachedInputTokens, cache_creation_input_tokens: 0 } : { output_tokens: 0 },
    }));
    emit(sse("message_stop", { type: "message_stop" }));
  }
  // Money from the provider's own OpenAI chunks; delivered bytes from the Anthropic events the client gets.
  const tracker: StreamUsageTracker = {
    onEvent: (ev) => client.onEvent(ev),
    get usage() { return native.usage; },
    set usage(_v) {},
    get partial() { return native.partial; },
    set partial(_v) {},
    get outputBytes() { return client.outputBytes; },
    set outputBytes(_v) {},
    get sawReasoning() { return native.sawReasoning; },
    set sawReasoning(_v) {},
    get finishedBeforeUsage() { return native.finishedBeforeUsage; },
    set finishedBeforeUsage(_v) {},
    get lastWasUsageOnlyChunk() { return false; },
    set lastWasUsageOnlyChunk(_v) {},
  };
  return { transform, tracker };
}

/** `/v1/messages` on OpenAI-format providers. */
export const messagesToOpenAi: ChatTranslator = {
  request: messagesToChatRequest,
  response: chatToMessagesResponse,
  stream: () => chatToMessagesStream(),
};
