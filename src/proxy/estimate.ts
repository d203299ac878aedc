/**
 * Upper-bound token estimate of a request, computed from its body before admission; the gate
 * reserves `estimate × price` in every budget before the upstream call (docs/money.md).
 *
 * Input heuristic (documented in docs/proxy.md), an upper bound for BPE tokenizers:
 * - every string in the prompt-bearing fields counts its UTF-8 byte length (a BPE token is at least
 *   one byte, so tokens ≤ bytes for any text, any language);
 * - every object or array adds {@link STRUCTURE_TOKENS} (role markers, separators, JSON framing of tools);
 * - numbers inside token arrays (`prompt: [1, 2, 3]`) count one token each, other numbers one;
 * - images (`image_url`, `input_image`, Anthropic `image`) count a flat {@link IMAGE_TOKENS},
 *   not their base64 bytes (providers bill images by tiles, capped well below that);
 * - content the body only points at — Responses `previous_response_id` / `conversation`, a stored
 *   `prompt`, files by `file_id` / `file_url` — raises the input to {@link CONTEXT_BOUND_TOKENS}
 *   (one model call cannot read more than its context window);
 * - what no bound exists for (hosted tools on /v1/responses, which run several model turns) is
 *   flagged `unbounded`: the gate refuses it under a hard budget.
 * Output: the request's cap (`max_completion_tokens` / `max_tokens` / `max_output_tokens`) times the
 * number of choices; legacy completions default to 16 like OpenAI; without a cap the gate uses the
 * model's output cap (`outputCapFromModel`).
 *
 * The walk is iterative and refuses JSON nested deeper than {@link MAX_JSON_DEPTH} (400), so no
 * body can exhaust the stack here or later when the body is serialised for the provider.
 */
import type { Endpoint, Estimate } from "../durable-objects/gate-protocol";
import { ApiError } from "../errors";

/** Tokens added per object/array: message/role framing and JSON structure. */
export const STRUCTURE_TOKENS = 4;
/** Flat per-image allowance (OpenAI high-detail tiles and Anthropic's ~1.6k-token images stay below it). */
export const IMAGE_TOKENS = 3_000;
/**
 * Input reserved when the body points at content it does not contain: at least the largest context
 * window OpenAI serves (gpt-4.1: 1,047,576 tokens), so it bounds any single model call.
 */
export const CONTEXT_BOUND_TOKENS = 1_048_576;
/** Legacy completions' default `max_tokens`. */
export const COMPLETIONS_DEFAULT_MAX_TOKENS = 16;
/** Deepest JSON nesting accepted anywhere in a data-plane body (real requests stay far below). */
export const MAX_JSON_DEPTH = 128;
/** Responses tool types the client runs itself (one model call); every other type is hosted. */
const CLIENT_TOOL_TYPES = new Set(["function", "custom"]);

/** Fields that carry prompt content, per endpoint. */
const INPUT_FIELDS: Record<Endpoint, readonly string[]> = {
  "chat.completions": ["messages", "tools", "functions", "tool_choice", "response_format", "prediction"],
  completions: ["prompt", "suffix"],
  embeddings: ["input"],
  responses: ["input", "instructions", "tools", "tool_choice", "text", "prompt"],
  messages: ["system", "messages", "tools", "tool_choice"],
};

/** A request whose cost has no upper bound the gateway can compute (refused under a hard budget). */
export type Unbounded = { param: string; reason: string };

/** The estimate plus what the gate needs to size the output when the request sets no cap. */
export type RequestEstimate = { estimate: Estimate; outputCapFromModel: boolean; choices: number; unbounded?: Unbounded };

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

/** What a walk over a JSON value found. */
type Walk = { tokens: number; refersToFile: boolean };

function tooDeep(param: string): ApiError {
  return new ApiError("invalid_request", `'${param}' is nested deeper than ${MAX_JSON_DEPTH} levels`, { param });
}

/**
 * Token upper bound of any JSON value under the heuristic above, without recursion. Also notes
 * file references (`file_id` / `file_url`) outside image parts. Throws a 400 past {@link MAX_JSON_DEPTH}.
 */
function walk(root: unknown, param: string): Walk {
  const out: Walk = { tokens: 0, refersToFile: false };
  const stack: Array<[unknown, number]> = [[root, 1]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (typeof v === "string") out.tokens += utf8Length(v);
    else if (typeof v === "number" || typeof v === "boolean") out.tokens += 1;
    else if (v && typeof v === "object") {
      if (depth > MAX_JSON_DEPTH) throw tooDeep(param);
      if (Array.isArray(v)) {
        out.tokens += STRUCTURE_TOKENS;
        for (const x of v) if (x !== null && x !== undefined) stack.push([x, depth + 1]);
        continue;
      }
      const o = v as Record<string, unknown>;
      if (isImagePart(o)) {
        out.tokens += IMAGE_TOKENS;
        continue;
      }
      if (typeof o.file_id === "string" || typeof o.file_url === "string") out.refersToFile = true;
      out.tokens += STRUCTURE_TOKENS;
      for (const k in o) {
        const x = o[k];
        if (x !== null && x !== undefined) stack.push([x, depth + 1]);
      }
    }
  }
  return out;
}

/** Token upper bound of any JSON value (see the file comment). Throws a 400 past {@link MAX_JSON_DEPTH}. */
export function tokensOf(v: unknown): number {
  return walk(v, "body").tokens;
}

/** Refuses a value nested deeper than {@link MAX_JSON_DEPTH} (iterative, so it cannot overflow itself). */
function checkDepth(root: unknown, param: string): void {
  if (!root || typeof root !== "object") return;
  const stack: Array<[object, number]> = [[root, 1]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (depth > MAX_JSON_DEPTH) throw tooDeep(param);
    const children = Array.isArray(v) ? v : Object.values(v);
    for (const x of children) if (x && typeof x === "object") stack.push([x, depth + 1]);
  }
}

/** Why a /v1/responses body has no computable upper bound, or null. */
function unboundedResponses(body: Record<string, unknown>): Unbounded | null {
  const tools = Array.isArray(body.tools) ? body.tools : [];
  for (let i = 0; i < tools.length; i++) {
    const t = (tools[i] as { type?: unknown } | null)?.type;
    if (typeof t === "string" && !CLIENT_TOOL_TYPES.has(t)) {
      return { param: `tools.${i}.type`, reason: `the hosted tool '${t}' runs model turns and tool calls whose number the gateway cannot bound in advance` };
    }
  }
  return null;
}

const posInt = (v: unknown): number | null => (typeof v === "number" && Number.isInteger(v) && v > 0 ? v : null);

/** Estimates a validated request body for `endpoint`. */
export function estimateRequest(endpoint: Endpoint, body: Record<string, unknown>): RequestEstimate {
  const fields = INPUT_FIELDS[endpoint];
  let inputTokens = 0;
  let refersToFile = false;
  for (const f in body) {
    const v = body[f];
    if (v === undefined || v === null) continue;
    if (fields.includes(f)) {
      const w = walk(v, f);
      inputTokens += w.tokens;
      refersToFile ||= w.refersToFile;
    } else checkDepth(v, f);
  }
  let unbounded: Unbounded | null = null;
  if (endpoint === "responses") {
    // Content held by the provider (stored responses, conversations, prompts, files): one call reads at most its context window.
    if (body.previous_response_id || body.conversation || body.prompt || refersToFile) inputTokens = Math.max(inputTokens, CONTEXT_BOUND_TOKENS);
    unbounded = unboundedResponses(body);
  } else if (refersToFile) inputTokens = Math.max(inputTokens, CONTEXT_BOUND_TOKENS);

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
  const extra = unbounded ? { unbounded } : {};
  if (cap === null) return { estimate: { inputTokens, outputTokens: 0 }, outputCapFromModel: true, choices, ...extra };
  return { estimate: { inputTokens, outputTokens: cap * choices }, outputCapFromModel: false, choices, ...extra };
}
