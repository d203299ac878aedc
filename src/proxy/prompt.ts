/**
 * `"prompt": {"id", "version" | "label", "variables"}` on `/v1/chat/completions` and `/v1/responses`
 * (docs/prompts.md): the reference is resolved at the org's gate (`resolvePrompt`, zero D1), the
 * version is rendered with the variables into the body's messages (chat) or input (responses), and
 * `prompt` is removed before forwarding. This runs before the estimate and `admit`, which need the
 * rendered text. Resolutions are cached per isolate: a label for {@link LABEL_CACHE_MS}, a numbered
 * version (immutable) for {@link VERSION_CACHE_MS}.
 */
import type { Endpoint, PromptRef } from "../durable-objects/gate-protocol";
import { gateResolvePrompt, isGateUnavailable } from "../durable-objects/org-gate-client";
import type { Env } from "../env";
import { ApiError } from "../errors";
import { renderTemplate, type PromptTemplate } from "../lib/prompt-template";
import type { PresentedKey } from "./authenticate-key";
import { denialToError } from "./denial";

/** How long an isolate reuses a label's resolution: a moved label applies within this time everywhere. */
export const LABEL_CACHE_MS = 1_000;
/** How long an isolate reuses a numbered version (immutable; only deletion of the prompt ends it). */
export const VERSION_CACHE_MS = 60_000;
/** The label used when a reference names neither a version nor a label. */
export const DEFAULT_LABEL = "production";
const MAX_ENTRIES = 1_000;

type Entry = { template: PromptTemplate; until: number; orgId: string };
const cache = new Map<string, Entry>();

/** Drops this isolate's cached resolutions of an org (the control plane calls it after a prompt change). */
export function forgetPromptCache(orgId: string): void {
  for (const [k, e] of cache) if (e.orgId === orgId) cache.delete(k);
}

/** The prompt this request rendered, for its cost event. */
export type RenderedPrompt = { id: string; version: number };

const bad = (message: string, param: string) => new ApiError("invalid_request", message, { param });

/** Reads and checks the `prompt` field; null when there is none (or, on `/v1/responses`, when it is OpenAI's own stored prompt `pmpt_…`). */
function readRef(body: Record<string, unknown>, endpoint: Endpoint): { ref: PromptRef; variables: Record<string, unknown> } | null {
  const p = body.prompt;
  if (p === undefined || p === null) return null;
  if (typeof p !== "object" || Array.isArray(p)) throw bad("prompt must be an object {id, version | label, variables}", "prompt");
  const o = p as Record<string, unknown>;
  if (endpoint === "responses" && typeof o.id === "string" && o.id.startsWith("pmpt_")) return null;
  const known = new Set(["id", "version", "label", "variables"]);
  const unknown = Object.keys(o).find((k) => !known.has(k));
  if (unknown !== undefined) throw bad(`prompt.${unknown} is not a prompt field (id, version, label, variables)`, `prompt.${unknown}`);
  if (typeof o.id !== "string" || !o.id || o.id.length > 128) throw bad("prompt.id must be the prompt's id or name", "prompt.id");
  if (o.version !== undefined && o.label !== undefined) throw bad("prompt: send version or label, not both", "prompt.version");
  if (o.version !== undefined && (typeof o.version !== "number" || !Number.isInteger(o.version) || o.version < 1)) throw bad("prompt.version must be a positive integer", "prompt.version");
  if (o.label !== undefined && (typeof o.label !== "string" || !o.label || o.label.length > 32)) throw bad("prompt.label must be a label name such as 'production'", "prompt.label");
  const vars = o.variables ?? {};
  if (typeof vars !== "object" || vars === null || Array.isArray(vars)) throw bad("prompt.variables must be an object of name → value", "prompt.variables");
  const ref: PromptRef = typeof o.version === "number" ? { id: o.id, version: o.version } : { id: o.id, label: (o.label as string | undefined) ?? DEFAULT_LABEL };
  return { ref, variables: vars as Record<string, unknown> };
}

async function resolve(env: Env, key: PresentedKey, ref: PromptRef): Promise<PromptTemplate> {
  const ck = `${key.orgId}\n${key.keyId}\n${key.keyHash}\n${ref.id}\n${ref.version !== undefined ? `v${ref.version}` : `l${ref.label}`}`;
  const now = Date.now();
  const hit = cache.get(ck);
  if (hit && hit.until > now) return hit.template;
  const r = await gateResolvePrompt(env, { orgId: key.orgId, keyId: key.keyId, keyHash: key.keyHash, ref });
  if (isGateUnavailable(r)) {
    console.error("gate resolvePrompt unavailable", r.overloaded ? "overloaded" : r.message);
    throw new ApiError("budget_unavailable", "Budget service unavailable; the request was not sent to the provider. Retry shortly.");
  }
  if (!r.ok) {
    if ("denial" in r) throw denialToError(r.denial);
    if (r.missing === "prompt") throw bad(`No prompt '${ref.id}' in this organization`, "prompt.id");
    if (r.missing === "label") throw bad(`Prompt '${ref.id}' has no label '${ref.label}'`, "prompt.label");
    throw bad(`Prompt '${ref.id}' has no version ${ref.version}`, "prompt.version");
  }
  if (cache.size >= MAX_ENTRIES) cache.clear();
  cache.set(ck, { template: r.template, orgId: key.orgId, until: now + (ref.version !== undefined ? VERSION_CACHE_MS : LABEL_CACHE_MS) });
  return r.template;
}

/**
 * Resolves and renders the body's `prompt` in place: chat gets the rendered messages first, then any
 * messages the body already had; responses gets them as the first `input` items, then the body's own
 * input. Returns the prompt and version rendered, or null when the body has no Tollgate prompt.
 */
export async function applyPrompt(env: Env, key: PresentedKey, endpoint: Endpoint, body: Record<string, unknown>): Promise<RenderedPrompt | null> {
  if (endpoint !== "chat.completions" && endpoint !== "responses") return null;
  const parsed = readRef(body, endpoint);
  if (!parsed) return null;
  const template = await resolve(env, key, parsed.ref);
  const out = renderTemplate(template, parsed.variables);
  if (!out.ok) throw bad(out.error.message, out.error.param);
  delete body.prompt;
  if (endpoint === "chat.completions") {
    const own = body.messages;
    if (own !== undefined && !Array.isArray(own)) throw bad("messages must be an array", "messages");
    body.messages = [...out.messages, ...((own as unknown[] | undefined) ?? [])];
  } else {
    const own = body.input;
    const rest = own === undefined || own === null ? [] : typeof own === "string" ? [{ role: "user", content: own }] : Array.isArray(own) ? own : null;
    if (rest === null) throw bad("input must be a string or an array", "input");
    body.input = [...out.messages, ...rest];
  }
  return { id: template.id, version: template.version };
}
