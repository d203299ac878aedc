/**
 * Reading an OpenAI chat-completions request for translation: the fields no translated provider
 * can honour (refused with a 400 naming the field, never silently dropped), and small readers
 * shared by the Anthropic and Gemini request builders.
 */
import type { Json } from "./types";

/** A refusal: the message and the field it names. */
export type Refusal = { message: string; param: string | null };

const posInt = (v: unknown): number | null => (typeof v === "number" && Number.isInteger(v) && v > 0 ? v : null);

/**
 * Fields that change what the client gets back and that `label` cannot do (`translated` lists the
 * ones this provider's translator maps). Each is refused when set to anything but its neutral
 * value, so a client never gets a silently different answer.
 */
export function refuseUnsupported(body: Json, label: string, translated: ReadonlySet<string> = new Set()): Refusal | null {
  const set = (k: string) => !translated.has(k) && body[k] !== undefined && body[k] !== null;
  if ((posInt(body.n) ?? 1) > 1) return { message: `n > 1 is not translated for ${label}: send one request per completion`, param: "n" };
  if (body.logprobs === true || set("top_logprobs")) return { message: `logprobs are not available from ${label}`, param: body.logprobs === true ? "logprobs" : "top_logprobs" };
  if (set("logit_bias") && Object.keys(body.logit_bias as object).length > 0) return { message: `logit_bias is not supported by ${label}`, param: "logit_bias" };
  if (set("audio") || (Array.isArray(body.modalities) && body.modalities.some((m) => m !== "text"))) return { message: `audio output is not supported by ${label}`, param: set("audio") ? "audio" : "modalities" };
  if (set("prediction")) return { message: `predicted outputs are not supported by ${label}`, param: "prediction" };
  if (set("web_search_options")) return { message: `web_search_options is not supported by ${label}`, param: "web_search_options" };
  if (set("functions") || set("function_call")) return { message: `the legacy functions/function_call fields are not translated for ${label}: use tools/tool_choice`, param: set("functions") ? "functions" : "function_call" };
  for (const k of ["presence_penalty", "frequency_penalty"]) if (set(k) && body[k] !== 0) return { message: `${k} is not supported by ${label}`, param: k };
  if (set("seed")) return { message: `seed is not supported by ${label}`, param: "seed" };
  if (set("reasoning_effort")) return { message: `reasoning_effort is not translated for ${label}`, param: "reasoning_effort" };
  return null;
}

/** The output cap the client set (`max_completion_tokens` wins over `max_tokens`), else null. */
export function requestedMaxTokens(body: Json): number | null {
  return posInt(body.max_completion_tokens) ?? posInt(body.max_tokens);
}

/** Text of a message's `content` (a string or text parts), or a refusal naming the offending part. */
export function textOf(content: unknown, param: string): { text: string } | Refusal {
  if (content === undefined || content === null) return { text: "" };
  if (typeof content === "string") return { text: content };
  if (!Array.isArray(content)) return { message: "content must be a string or an array of parts", param };
  let text = "";
  for (const [j, p] of content.entries()) {
    if (p?.type === "text" && typeof p.text === "string") text += p.text;
    else if (p?.type === "refusal") continue;
    else return { message: `only text parts are allowed here, got '${String(p?.type)}'`, param: `${param}.${j}.type` };
  }
  return { text };
}

/** The URL of an `image_url` part (`{image_url: {url}}` or `{image_url: "…"}`). */
export function imageUrlOf(part: Json): string | null {
  const v = part.image_url;
  if (typeof v === "string") return v;
  if (v && typeof v === "object" && typeof v.url === "string") return v.url;
  return null;
}

/** Parses a tool call's JSON `arguments` into an object. */
export function parseArguments(args: unknown, param: string): { value: Json } | Refusal {
  if (args === undefined || args === null || args === "") return { value: {} };
  if (typeof args !== "string") return { message: "function.arguments must be a JSON string", param };
  try {
    const v = JSON.parse(args);
    if (v && typeof v === "object" && !Array.isArray(v)) return { value: v };
  } catch {
    /* refused below */
  }
  return { message: "function.arguments must be a JSON object encoded as a string", param };
}

/** The function tools of a request, or a refusal for any other tool type. */
export function functionTools(tools: unknown): { tools: Array<{ name: string; description?: string; parameters?: Json }> } | Refusal {
  if (tools === undefined || tools === null) return { tools: [] };
  if (!Array.isArray(tools)) return { message: "tools must be an array", param: "tools" };
  const out: Array<{ name: string; description?: string; parameters?: Json }> = [];
  for (const [i, t] of tools.entries()) {
    if (t?.type !== "function") return { message: `only function tools can be translated, got '${String(t?.type)}'`, param: `tools.${i}.type` };
    const f = t.function;
    if (!f || typeof f.name !== "string" || !f.name) return { message: "function.name is required", param: `tools.${i}.function.name` };
    out.push({ name: f.name, ...(typeof f.description === "string" ? { description: f.description } : {}), ...(f.parameters && typeof f.parameters === "object" ? { parameters: f.parameters } : {}) });
  }
  return { tools: out };
}

/** `tool_choice` normalised: auto / none / required / a named function, or a refusal. */
export function toolChoiceOf(tc: unknown): { choice: "auto" | "none" | "required" | { name: string } | null } | Refusal {
  if (tc === undefined || tc === null) return { choice: null };
  if (tc === "auto" || tc === "none" || tc === "required") return { choice: tc };
  if (typeof tc === "object" && (tc as Json).type === "function" && typeof (tc as Json).function?.name === "string") return { choice: { name: (tc as Json).function.name } };
  return { message: "tool_choice must be 'auto', 'none', 'required' or {type:'function', function:{name}}", param: "tool_choice" };
}

export const isRefusal = (v: object): v is Refusal => "message" in v && "param" in v;
