/**
 * OpenAI chat completions ⇄ Anthropic Messages (`POST /v1/messages`), streamed and not.
 * Table of fields, refusals and reasons: docs/providers.md. Usage is taken from Anthropic's own
 * fields (`input_tokens` excludes cache reads/writes; streamed `output_tokens` is cumulative) so
 * cache writes are priced exactly, then shown to the client in OpenAI's usage shape.
 */
import { anthropicStreamTracker, fromAnthropicUsage, outputBytesOfBody } from "../usage";
import { functionTools, imageUrlOf, isRefusal, parseArguments, refuseUnsupported, requestedMaxTokens, textOf, toolChoiceOf, type Refusal } from "./chat-request";
import { chatCompletion, ChunkWriter, parseDataUrl, sseTransform, stopList, translatedTracker, type ChatToolCall } from "./openai-chat";
import type { ChatTranslator, Json, RequestContext, TranslatedRequest, TranslatedResponse, TranslatedStream } from "./types";

const LABEL = "Anthropic's Messages API";

type Block = Json;
type Turn = { role: "user" | "assistant"; content: Block[] };

/** Anthropic `stop_reason` → OpenAI `finish_reason`. */
export const FINISH_REASON: Record<string, string> = {
  end_turn: "stop",
  stop_sequence: "stop",
  pause_turn: "stop",
  max_tokens: "length",
  model_context_window_exceeded: "length",
  tool_use: "tool_calls",
  refusal: "content_filter",
};

const refuse = (r: Refusal): TranslatedRequest => ({ ok: false, ...r });

/** A user part (text or image) as an Anthropic content block. */
function userBlock(p: Json, param: string): Block | Refusal | null {
  if (p?.type === "text") {
    if (typeof p.text !== "string") return { message: "text must be a string", param: `${param}.text` };
    return p.text === "" ? null : { type: "text", text: p.text, ...(p.cache_control ? { cache_control: p.cache_control } : {}) };
  }
  if (p?.type === "image_url") {
    const url = imageUrlOf(p);
    if (!url) return { message: "image_url.url is required", param: `${param}.image_url.url` };
    const data = parseDataUrl(url);
    if (data) return { type: "image", source: { type: "base64", media_type: data.mediaType, data: data.data } };
    if (/^https?:\/\//i.test(url)) return { type: "image", source: { type: "url", url } };
    return { message: "image_url.url must be an http(s) URL or a base64 data: URL", param: `${param}.image_url.url` };
  }
  return { message: `content part type '${String(p?.type)}' cannot be sent to ${LABEL}`, param: `${param}.type` };
}

/** OpenAI chat request → Anthropic Messages request. */
export function anthropicRequest(body: Json, ctx: RequestContext): TranslatedRequest {
  const unsupported = refuseUnsupported(body, LABEL);
  if (unsupported) return refuse(unsupported);
  const rf = body.response_format;
  if (rf && typeof rf === "object" && rf.type !== "text") {
    return refuse({ message: `response_format '${String(rf.type)}' is not supported by ${LABEL} (it has no JSON mode); describe the JSON in the prompt or use a forced tool call`, param: "response_format" });
  }
  if (typeof body.temperature === "number" && body.temperature > 1) return refuse({ message: `temperature must be between 0 and 1 for ${LABEL}`, param: "temperature" });

  const system: Block[] = [];
  const turns: Turn[] = [];
  const push = (role: Turn["role"], blocks: Block[]) => {
    if (blocks.length === 0) return;
    const last = turns.at(-1);
    // Anthropic wants alternating turns: consecutive same-role messages (e.g. several tool results) merge.
    if (last && last.role === role) last.content.push(...blocks);
    else turns.push({ role, content: blocks });
  };

  const messages = body.messages as Json[];
  for (const [i, m] of messages.entries()) {
    const param = `messages.${i}`;
    if (m.role === "system" || m.role === "developer") {
      if (Array.isArray(m.content)) {
        for (const [j, p] of m.content.entries()) {
          if (p?.type !== "text" || typeof p.text !== "string") return refuse({ message: "system messages may contain only text parts", param: `${param}.content.${j}.type` });
          if (p.text) system.push({ type: "text", text: p.text, ...(p.cache_control ? { cache_control: p.cache_control } : {}) });
        }
      } else {
        const t = textOf(m.content, `${param}.content`);
        if (isRefusal(t)) return refuse(t);
        if (t.text) system.push({ type: "text", text: t.text });
      }
    } else if (m.role === "user") {
      if (typeof m.content === "string") push("user", m.content ? [{ type: "text", text: m.content }] : []);
      else if (Array.isArray(m.content)) {
        const blocks: Block[] = [];
        for (const [j, p] of m.content.entries()) {
          const b = userBlock(p, `${param}.content.${j}`);
          if (b && isRefusal(b)) return refuse(b);
          if (b) blocks.push(b);
        }
        push("user", blocks);
      }
    } else if (m.role === "assistant") {
      const t = textOf(m.content, `${param}.content`);
      if (isRefusal(t)) return refuse(t);
      const blocks: Block[] = t.text ? [{ type: "text", text: t.text }] : [];
      for (const [j, tc] of (Array.isArray(m.tool_calls) ? m.tool_calls : []).entries()) {
        const p = `${param}.tool_calls.${j}`;
        if (tc?.type !== "function" || typeof tc.function?.name !== "string" || typeof tc.id !== "string") return refuse({ message: "tool calls need id, type 'function' and function.name", param: p });
        const args = parseArguments(tc.function.arguments, `${p}.function.arguments`);
        if (isRefusal(args)) return refuse(args);
        blocks.push({ type: "tool_use", id: tc.id, name: tc.function.name, input: args.value });
      }
      push("assistant", blocks);
    } else if (m.role === "tool") {
      if (typeof m.tool_call_id !== "string" || !m.tool_call_id) return refuse({ message: "tool messages need tool_call_id", param: `${param}.tool_call_id` });
      const t = textOf(m.content, `${param}.content`);
      if (isRefusal(t)) return refuse(t);
      push("user", [{ type: "tool_result", tool_use_id: m.tool_call_id, content: t.text }]);
    } else {
      return refuse({ message: `role '${String(m.role)}' is not translated for ${LABEL}: use tool messages`, param: `${param}.role` });
    }
  }
  if (turns.length === 0) return refuse({ message: `${LABEL} needs at least one user or assistant message with content`, param: "messages" });

  const out: Json = { model: ctx.upstreamModel, max_tokens: Math.min(requestedMaxTokens(body) ?? ctx.maxOutputTokens, ctx.maxOutputTokens), messages: turns };
  if (system.length) out.system = system;
  if (typeof body.temperature === "number") out.temperature = body.temperature;
  if (typeof body.top_p === "number") out.top_p = body.top_p;
  const stops = stopList(body.stop);
  if (typeof stops === "string") return refuse({ message: stops, param: "stop" });
  if (stops && stops.length) out.stop_sequences = stops;

  const tools = functionTools(body.tools);
  if (isRefusal(tools)) return refuse(tools);
  const choice = toolChoiceOf(body.tool_choice);
  if (isRefusal(choice)) return refuse(choice);
  if (tools.tools.length) {
    out.tools = tools.tools.map((t) => ({ name: t.name, ...(t.description ? { description: t.description } : {}), input_schema: t.parameters ?? { type: "object", properties: {} } }));
    const c = choice.choice;
    let tc: Json | null = c === null ? null : c === "auto" ? { type: "auto" } : c === "none" ? { type: "none" } : c === "required" ? { type: "any" } : { type: "tool", name: c.name };
    if (body.parallel_tool_calls === false && tc?.type !== "none") tc = { ...(tc ?? { type: "auto" }), disable_parallel_tool_use: true };
    if (tc) out.tool_choice = tc;
  } else if (choice.choice !== null && choice.choice !== "none" && choice.choice !== "auto") {
    return refuse({ message: "tool_choice requires tools", param: "tool_choice" });
  }
  if (typeof body.user === "string" && body.user) out.metadata = { user_id: body.user };
  if (ctx.stream) out.stream = true;
  return { ok: true, body: out, path: "/messages" };
}

/** Anthropic message → OpenAI `chat.completion`. */
export function anthropicResponse(json: Json): TranslatedResponse {
  let text = "";
  let reasoning = "";
  const toolCalls: ChatToolCall[] = [];
  for (const b of Array.isArray(json.content) ? json.content : []) {
    if (b?.type === "text" && typeof b.text === "string") text += b.text;
    else if (b?.type === "thinking" && typeof b.thinking === "string") reasoning += b.thinking;
    else if (b?.type === "tool_use") toolCalls.push({ id: String(b.id), type: "function", function: { name: String(b.name), arguments: JSON.stringify(b.input ?? {}) } });
  }
  const usage = json.usage && typeof json.usage === "object" ? fromAnthropicUsage(json.usage) : null;
  const body = chatCompletion({
    id: typeof json.id === "string" ? json.id : "chatcmpl-tollgate",
    model: typeof json.model === "string" ? json.model : "",
    content: text === "" && toolCalls.length ? null : text,
    toolCalls,
    finishReason: FINISH_REASON[json.stop_reason as string] ?? "stop",
    usage,
    reasoning: reasoning || null,
  });
  return { body, usage, outputBytes: outputBytesOfBody("messages", json) };
}

/**
 * Anthropic SSE → OpenAI chunks, event by event: `message_start` → the role chunk; text deltas →
 * `content`; a `tool_use` block start → a tool call (id, name) and its `input_json_delta`s →
 * `arguments` pieces; thinking deltas → `reasoning_content`; the `message_delta` with a stop reason
 * → the finish chunk; `message_stop` → the usage chunk (from Anthropic's counts) and `[DONE]`;
 * an `error` event → an OpenAI error event.
 */
export function anthropicStream(providerName: string): TranslatedStream {
  const native = anthropicStreamTracker();
  const w = new ChunkWriter();
  const toolIndex = new Map<number, number>();
  let done = false;
  const transform = sseTransform((ev, emit) => {
    native.onEvent(ev);
    if (done) return;
    let j: Json;
    try {
      j = JSON.parse(ev.data);
    } catch {
      return;
    }
    switch (ev.event ?? j.type) {
      case "message_start":
        if (typeof j.message?.id === "string") w.id = j.message.id;
        if (typeof j.message?.model === "string") w.model = j.message.model;
        emit(w.delta({ role: "assistant", content: "" }));
        break;
      case "content_block_start": {
        const cb = j.content_block;
        if (cb?.type === "tool_use") {
          const idx = toolIndex.size;
          toolIndex.set(j.index, idx);
          emit(w.delta({ tool_calls: [{ index: idx, id: cb.id, type: "function", function: { name: cb.name, arguments: "" } }] }));
        } else if (cb?.type === "text" && cb.text) emit(w.delta({ content: cb.text }));
        break;
      }
      case "content_block_delta": {
        const d = j.delta;
        if (d?.type === "text_delta" && d.text) emit(w.delta({ content: d.text }));
        else if (d?.type === "input_json_delta" && d.partial_json) {
          const idx = toolIndex.get(j.index);
          if (idx !== undefined) emit(w.delta({ tool_calls: [{ index: idx, function: { arguments: d.partial_json } }] }));
        } else if (d?.type === "thinking_delta" && d.thinking) emit(w.delta({ reasoning_content: d.thinking }));
        break;
      }
      case "message_delta":
        if (j.delta?.stop_reason) emit(w.delta({}, FINISH_REASON[j.delta.stop_reason] ?? "stop"));
        break;
      case "message_stop":
        if (native.usage) emit(w.usage(native.usage));
        emit(w.done());
        done = true;
        break;
      case "error":
        emit(w.error(`Provider '${providerName}' failed mid-stream: ${String(j.error?.message ?? "error")}`, "upstream_error"));
        done = true;
        break;
    }
  }, () => {});
  return { transform, tracker: translatedTracker(native) };
}

/** The Anthropic translator for `/v1/chat/completions`. */
export const anthropicChat: ChatTranslator = { request: anthropicRequest, response: anthropicResponse, stream: anthropicStream };
