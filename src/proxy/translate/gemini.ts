/**
 * OpenAI chat completions ⇄ Google Gemini API (`models/{model}:generateContent`, and
 * `:streamGenerateContent?alt=sse` for streams). Table of fields, refusals and reasons:
 * docs/providers.md. Usage semantics (Gemini's own): `promptTokenCount` INCLUDES
 * `cachedContentTokenCount`; `candidatesTokenCount` EXCLUDES `thoughtsTokenCount`, which is billed
 * as output; `toolUsePromptTokenCount` (server-side tool results) is billed as input.
 */
import type { Usage } from "../../durable-objects/gate-protocol";
import { utf8Length } from "../estimate";
import type { StreamUsageTracker } from "../usage";
import { functionTools, imageUrlOf, isRefusal, parseArguments, refuseUnsupported, requestedMaxTokens, textOf, toolChoiceOf, type Refusal } from "./chat-request";
import { chatCompletion, ChunkWriter, parseDataUrl, sseTransform, stopList, translatedTracker, type ChatToolCall } from "./openai-chat";
import type { ChatTranslator, Json, RequestContext, TranslatedRequest, TranslatedResponse, TranslatedStream } from "./types";

const LABEL = "the Gemini API";
/** Fields Gemini's `generationConfig` has an equivalent for (the rest of the refusable ones are refused). */
const TRANSLATED = new Set(["seed", "presence_penalty", "frequency_penalty"]);
/**
 * Gemini needs a function call's `thoughtSignature` back on the next turn (Gemini 3 refuses a call
 * without it). OpenAI tool calls have nowhere to keep it but their id, which clients echo verbatim.
 */
const SIG = "__thought__";

const int = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) && v > 0 ? Math.floor(v) : 0);

/** Gemini `usageMetadata` → normalised usage. */
export function fromGeminiUsage(u: Json): Usage {
  const prompt = int(u.promptTokenCount);
  const cached = Math.min(int(u.cachedContentTokenCount), prompt);
  const thoughts = int(u.thoughtsTokenCount);
  return {
    uncachedInputTokens: prompt - cached + int(u.toolUsePromptTokenCount),
    cachedInputTokens: cached,
    cacheWriteTokens: 0,
    cacheWrite1hTokens: 0,
    outputTokens: int(u.candidatesTokenCount) + thoughts,
    reasoningTokens: thoughts,
  };
}

/** Gemini `finishReason` → OpenAI `finish_reason`. */
export const FINISH_REASON: Record<string, string> = {
  STOP: "stop",
  MAX_TOKENS: "length",
  SAFETY: "content_filter",
  RECITATION: "content_filter",
  BLOCKLIST: "content_filter",
  PROHIBITED_CONTENT: "content_filter",
  SPII: "content_filter",
  IMAGE_SAFETY: "content_filter",
};

const IMAGE_TYPES: Record<string, string> = { png: "image/png", jpg: "image/jpeg", jpeg: "image/jpeg", webp: "image/webp", gif: "image/gif", heic: "image/heic", heif: "image/heif" };

const refuse = (r: Refusal): TranslatedRequest => ({ ok: false, ...r });

function userPart(p: Json, param: string): Json | Refusal | null {
  if (p?.type === "text") {
    if (typeof p.text !== "string") return { message: "text must be a string", param: `${param}.text` };
    return p.text === "" ? null : { text: p.text };
  }
  if (p?.type === "image_url") {
    const url = imageUrlOf(p);
    if (!url) return { message: "image_url.url is required", param: `${param}.image_url.url` };
    const data = parseDataUrl(url);
    if (data) return { inlineData: { mimeType: data.mediaType, data: data.data } };
    const ext = /^https?:\/\/[^?#]+\.([a-z0-9]+)(?:[?#]|$)/i.exec(url)?.[1]?.toLowerCase();
    const mime = ext ? IMAGE_TYPES[ext] : undefined;
    if (mime) return { fileData: { mimeType: mime, fileUri: url } };
    return { message: `${LABEL} needs an image's media type: send a base64 data: URL, or a URL ending in .png, .jpg, .jpeg, .webp, .gif, .heic or .heif`, param: `${param}.image_url.url` };
  }
  return { message: `content part type '${String(p?.type)}' cannot be sent to ${LABEL}`, param: `${param}.type` };
}

/** OpenAI chat request → Gemini `generateContent` request. */
export function geminiRequest(body: Json, ctx: RequestContext): TranslatedRequest {
  const unsupported = refuseUnsupported(body, LABEL, TRANSLATED);
  if (unsupported) return refuse(unsupported);
  if (body.parallel_tool_calls === false) return refuse({ message: `${LABEL} cannot be told to avoid parallel tool calls`, param: "parallel_tool_calls" });

  const system: Json[] = [];
  const contents: Array<{ role: "user" | "model"; parts: Json[] }> = [];
  const push = (role: "user" | "model", parts: Json[]) => {
    if (parts.length === 0) return;
    const last = contents.at(-1);
    if (last && last.role === role) last.parts.push(...parts);
    else contents.push({ role, parts });
  };
  // Gemini answers a function by name; OpenAI tool messages name the call id.
  const callNames = new Map<string, string>();

  for (const [i, m] of (body.messages as Json[]).entries()) {
    const param = `messages.${i}`;
    if (m.role === "system" || m.role === "developer") {
      const t = textOf(m.content, `${param}.content`);
      if (isRefusal(t)) return refuse(t);
      if (t.text) system.push({ text: t.text });
    } else if (m.role === "user") {
      if (typeof m.content === "string") push("user", m.content ? [{ text: m.content }] : []);
      else if (Array.isArray(m.content)) {
        const parts: Json[] = [];
        for (const [j, p] of m.content.entries()) {
          const part = userPart(p, `${param}.content.${j}`);
          if (part && isRefusal(part)) return refuse(part);
          if (part) parts.push(part);
        }
        push("user", parts);
      }
    } else if (m.role === "assistant") {
      const t = textOf(m.content, `${param}.content`);
      if (isRefusal(t)) return refuse(t);
      const parts: Json[] = t.text ? [{ text: t.text }] : [];
      for (const [j, tc] of (Array.isArray(m.tool_calls) ? m.tool_calls : []).entries()) {
        const p = `${param}.tool_calls.${j}`;
        if (tc?.type !== "function" || typeof tc.function?.name !== "string" || typeof tc.id !== "string") return refuse({ message: "tool calls need id, type 'function' and function.name", param: p });
        const args = parseArguments(tc.function.arguments, `${p}.function.arguments`);
        if (isRefusal(args)) return refuse(args);
        callNames.set(tc.id, tc.function.name);
        const sig = tc.id.indexOf(SIG);
        parts.push({ functionCall: { name: tc.function.name, args: args.value }, ...(sig >= 0 ? { thoughtSignature: tc.id.slice(sig + SIG.length) } : {}) });
      }
      push("model", parts);
    } else if (m.role === "tool") {
      const name = typeof m.tool_call_id === "string" ? callNames.get(m.tool_call_id) : undefined;
      if (!name) return refuse({ message: "tool_call_id must name a tool call of an earlier assistant message (Gemini answers functions by name)", param: `${param}.tool_call_id` });
      const t = textOf(m.content, `${param}.content`);
      if (isRefusal(t)) return refuse(t);
      let response: Json = { content: t.text };
      try {
        const v = JSON.parse(t.text);
        if (v && typeof v === "object" && !Array.isArray(v)) response = v;
      } catch {
        /* plain text result */
      }
      push("user", [{ functionResponse: { name, response } }]);
    } else {
      return refuse({ message: `role '${String(m.role)}' is not translated for ${LABEL}: use tool messages`, param: `${param}.role` });
    }
  }
  if (contents.length === 0) return refuse({ message: `${LABEL} needs at least one user or assistant message with content`, param: "messages" });

  const gen: Json = { maxOutputTokens: Math.min(requestedMaxTokens(body) ?? ctx.maxOutputTokens, ctx.maxOutputTokens) };
  if (typeof body.temperature === "number") gen.temperature = body.temperature;
  if (typeof body.top_p === "number") gen.topP = body.top_p;
  if (typeof body.seed === "number") gen.seed = body.seed;
  if (typeof body.presence_penalty === "number" && body.presence_penalty !== 0) gen.presencePenalty = body.presence_penalty;
  if (typeof body.frequency_penalty === "number" && body.frequency_penalty !== 0) gen.frequencyPenalty = body.frequency_penalty;
  const stops = stopList(body.stop);
  if (typeof stops === "string") return refuse({ message: stops, param: "stop" });
  if (stops && stops.length) gen.stopSequences = stops;
  const rf = body.response_format;
  if (rf && typeof rf === "object" && rf.type !== "text") {
    if (rf.type === "json_object") gen.responseMimeType = "application/json";
    else if (rf.type === "json_schema" && rf.json_schema && typeof rf.json_schema.schema === "object") {
      gen.responseMimeType = "application/json";
      gen.responseJsonSchema = rf.json_schema.schema;
    } else return refuse({ message: "response_format must be text, json_object or json_schema with a schema", param: "response_format" });
  }

  const out: Json = { contents, generationConfig: gen };
  if (system.length) out.systemInstruction = { parts: system };
  const tools = functionTools(body.tools);
  if (isRefusal(tools)) return refuse(tools);
  const choice = toolChoiceOf(body.tool_choice);
  if (isRefusal(choice)) return refuse(choice);
  if (tools.tools.length) {
    out.tools = [{ functionDeclarations: tools.tools.map((t) => ({ name: t.name, ...(t.description ? { description: t.description } : {}), ...(t.parameters ? { parametersJsonSchema: t.parameters } : {}) })) }];
    const c = choice.choice;
    if (c !== null) {
      out.toolConfig = { functionCallingConfig: c === "auto" ? { mode: "AUTO" } : c === "none" ? { mode: "NONE" } : c === "required" ? { mode: "ANY" } : { mode: "ANY", allowedFunctionNames: [c.name] } };
    }
  } else if (choice.choice !== null && choice.choice !== "none" && choice.choice !== "auto") {
    return refuse({ message: "tool_choice requires tools", param: "tool_choice" });
  }
  const model = encodeURIComponent(ctx.upstreamModel);
  return { ok: true, body: out, path: ctx.stream ? `/models/${model}:streamGenerateContent?alt=sse` : `/models/${model}:generateContent` };
}

/** A Gemini function call as an OpenAI tool call (its thought signature kept in the id). */
function toolCallOf(part: Json, n: number): ChatToolCall {
  const fc = part.functionCall;
  const base = typeof fc.id === "string" && fc.id ? fc.id : `call_${crypto.randomUUID().replace(/-/g, "").slice(0, 16)}_${n}`;
  const id = typeof part.thoughtSignature === "string" && part.thoughtSignature ? `${base}${SIG}${part.thoughtSignature}` : base;
  return { id, type: "function", function: { name: String(fc.name), arguments: JSON.stringify(fc.args ?? {}) } };
}

/** Gemini response → OpenAI `chat.completion`. */
export function geminiResponse(json: Json): TranslatedResponse {
  const cand = Array.isArray(json.candidates) ? json.candidates[0] : undefined;
  let text = "";
  let reasoning = "";
  const toolCalls: ChatToolCall[] = [];
  for (const p of Array.isArray(cand?.content?.parts) ? cand.content.parts : []) {
    if (typeof p?.text === "string") {
      if (p.thought === true) reasoning += p.text;
      else text += p.text;
    } else if (p?.functionCall) toolCalls.push(toolCallOf(p, toolCalls.length));
  }
  const usage = json.usageMetadata && typeof json.usageMetadata === "object" ? fromGeminiUsage(json.usageMetadata) : null;
  const finish = !cand ? "content_filter" : toolCalls.length ? "tool_calls" : (FINISH_REASON[cand.finishReason as string] ?? "stop");
  const body = chatCompletion({
    id: typeof json.responseId === "string" ? json.responseId : "chatcmpl-tollgate",
    model: typeof json.modelVersion === "string" ? json.modelVersion : "",
    content: text === "" && toolCalls.length ? null : text,
    toolCalls,
    finishReason: finish,
    usage,
    reasoning: reasoning || null,
  });
  const outputBytes = utf8Length(text) + utf8Length(reasoning) + toolCalls.reduce((n, t) => n + utf8Length(t.function.arguments), 0);
  return { body, usage, outputBytes };
}

/**
 * Gemini SSE (`data: GenerateContentResponse` events, no terminal event) → OpenAI chunks: the first
 * event → the role chunk; text parts → `content`; thought parts → `reasoning_content`; each
 * function call (Gemini sends it whole) → one tool-call delta; the event with `finishReason` → the
 * finish chunk; the clean end of the stream → the usage chunk and `[DONE]`; an `error` payload →
 * an OpenAI error event. Usage is exact once the `finishReason` event carried `usageMetadata`.
 */
export function geminiStream(providerName: string): TranslatedStream {
  const native: StreamUsageTracker = { usage: null, partial: null, outputBytes: 0, lastWasUsageOnlyChunk: false, sawReasoning: false, finishedBeforeUsage: false, onEvent() {} };
  const w = new ChunkWriter();
  let started = false;
  let tools = 0;
  let failed = false;
  const transform = sseTransform(
    (ev, emit) => {
      if (failed || !ev.data) return;
      let j: Json;
      try {
        j = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (j.error) {
        emit(w.error(`Provider '${providerName}' failed mid-stream: ${String(j.error.message ?? "error")}`, "upstream_error"));
        failed = true;
        return;
      }
      if (!started) {
        if (typeof j.responseId === "string") w.id = j.responseId;
        if (typeof j.modelVersion === "string") w.model = j.modelVersion;
        emit(w.delta({ role: "assistant", content: "" }));
        started = true;
      }
      const cand = Array.isArray(j.candidates) ? j.candidates[0] : undefined;
      for (const p of Array.isArray(cand?.content?.parts) ? cand.content.parts : []) {
        if (typeof p?.text === "string" && p.text) emit(w.delta(p.thought === true ? { reasoning_content: p.text } : { content: p.text }));
        else if (p?.functionCall) {
          const tc = toolCallOf(p, tools);
          emit(w.delta({ tool_calls: [{ index: tools++, ...tc }] }));
        }
      }
      if (j.usageMetadata && typeof j.usageMetadata === "object") native.partial = fromGeminiUsage(j.usageMetadata);
      if (cand?.finishReason || (!cand && j.promptFeedback?.blockReason)) {
        native.usage = native.partial;
        emit(w.delta({}, !cand ? "content_filter" : tools ? "tool_calls" : (FINISH_REASON[cand.finishReason as string] ?? "stop")));
      }
    },
    (emit) => {
      if (failed) return;
      if (native.usage) emit(w.usage(native.usage));
      emit(w.done());
    },
  );
  return { transform, tracker: translatedTracker(native) };
}

/** The Gemini translator for `/v1/chat/completions`. */
export const geminiChat: ChatTranslator = { request: geminiRequest, response: geminiResponse, stream: geminiStream };
