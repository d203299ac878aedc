/**
 * Upper-bound token estimate of a request, computed from its body before admission; the gate
 * reserves `estimate × price` in every budget before the upstream call (design §2).
 *
 * Input heuristic (documented in docs/proxy.md), an upper bound for BPE tokenizers:
 * - every string in the prompt-bearing fields counts its UTF-8 byte length (a BPE token is at least
 *   one byte, so tokens ≤ bytes for any text, any language);
 * - every object or array adds {@link STRUCTURE_TOKENS} (role markers, separators, JSON framing of tools);
 * - numbers inside token arrays (`prompt: [1, 2, 3]`) count one token each, other numbers one;
 * - images (`image_url`, `input_image`, Anthropic `image`) count a flat {@link IMAGE_TOKENS},
 *   not their base64 bytes (providers bill images by tiles, capped well below that);
 * - Responses API requests that continue server-side state (`previous_response_id`, `conversation`)
 *   add {@link SERVER_STATE_TOKENS}, since the prior context is not in the body.
 * Output: the request's cap (`max_completion_tokens` / `max_tokens` / `max_output_tokens`) times the
 * number of choices; legacy completions default to 16 like OpenAI; without a cap the gate uses the
 * model's output cap (`outputCapFromModel`).
 */
import type { Endpoint, Estimate } from "../durable-objects/gate-protocol";

/** Tokens added per object/array: message/role framing and JSON structure. */
export const STRUCTURE_TOKENS = 4;
/** Flat per-image allowance (OpenAI high-detail tiles and Anthropic's ~1.6k-token images stay below it). */
export const IMAGE_TOKENS = 3_000;
/** Allowance for server-side conversation state the body does not contain (Responses API). */
export const SERVER_STATE_TOKENS = 128_000;
/** Legacy completions' default `max_tokens`. */
export const COMPLETIONS_DEFAULT_MAX_TOKENS = 16;

/** Fields that carry prompt content, per endpoint. */
const INPUT_FIELDS: Record<Endpoint, readonly string[]> = {
  "chat.completions": ["messages", "tools", "functions", "tool_choice", "response_format", "prediction"],
  completions: ["prompt", "suffix"],
  embeddings: ["input"],
  responses: ["input", "instructions", "tools", "tool_choice", "text", "prompt"],
  messages: ["system", "messages", "tools", "tool_choice"],
};

/** The estimate plus what the gate needs to size the output when the request sets no cap. */
export type RequestEstimate = { estimate: Estimate; outputCapFromModel: boolean; choices: number };

/** UTF-8 byte length of a JS string without allocating (surrogate pairs = 4 bytes). */
export function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 2; // pair → 4 bytes total across its two UTF-16 units
      i++;
    } else n += 2;
  }
  return n;
}

function isImagePart(o: Record<string, unknown>): boolean {
  const t = o.type;
  return t === "image_url" || t === "input_image" || t === "image";
}

/** Token upper bound of any JSON value under the heuristic above. */
export function tokensOf(v: unknown): number {
  if (typeof v === "string") return utf8Length(v);
  if (typeof v === "number" || typeof v === "boolean") return 1;
  if (Array.isArray(v)) {
    let n = STRUCTURE_TOKENS;
    for (const x of v) n += tokensOf(x);
    return n;
  }
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    if (isImagePart(o)) return IMAGE_TOKENS;
    let n = STRUCTURE_TOKENS;
    for (const k in o) n += tokensOf(o[k]);
    return n;
  }
  return 0;
}

const posInt = (v: unknown): number | null => (typeof v === "number" && Number.isInteger(v) && v > 0 ? v : null);

/** Estimates a validated request body for `endpoint`. */
export function estimateRequest(endpoint: Endpoint, body: Record<string, unknown>): RequestEstimate {
  let inputTokens = 0;
  for (const f of INPUT_FIELDS[endpoint]) if (body[f] !== undefined && body[f] !== null) inputTokens += tokensOf(body[f]);
  if (endpoint === "responses" && (body.previous_response_id || body.conversation)) inputTokens += SERVER_STATE_TOKENS;

  let choices = 1;
  let cap: number | null = null;
  switch (endpoint) {
    case "chat.completions":
      choices = posInt(body.n) ?? 1;
      cap = posInt(body.max_completion_tokens) ?? posInt(body.max_tokens);
      break;
    case "completions": {
      choices = Math.max(posInt(body.n) ?? 1, posInt(body.best_of) ?? 1);
      cap = posInt(body.max_tokens) ?? COMPLETIONS_DEFAULT_MAX_TOKENS;
      // One prompt per array entry when `prompt` is a batch of strings or token arrays.
      const p = body.prompt;
      if (Array.isArray(p) && p.length > 0 && (typeof p[0] === "string" || Array.isArray(p[0]))) choices *= p.length;
      break;
    }
    case "embeddings":
      return { estimate: { inputTokens, outputTokens: 0 }, outputCapFromModel: false, choices: 1 };
    case "responses":
      cap = posInt(body.max_output_tokens);
      break;
    case "messages":
      cap = posInt(body.max_tokens);
      break;
  }
  if (cap === null) return { estimate: { inputTokens, outputTokens: 0 }, outputCapFromModel: true, choices };
  return { estimate: { inputTokens, outputTokens: cap * choices }, outputCapFromModel: false, choices };
}
