/**
 * Guardrail evaluation on the data plane (docs/guardrails.md): runs the key's effective guardrails,
 * in order, over the string content of a request body (redacting in place) and over a non-streamed
 * response. Pure: no I/O, nothing stored; results carry guardrail ids and actions, never matched text.
 */
import { RE2JS } from "re2js";
import { PII_LABEL, scanPii, type PiiKind } from "./pii";
import type { GuardrailHit, GuardrailSpec, PatternConfig } from "./spec";

/** Replaces a redacted match of a blocked pattern. */
export const PATTERN_PLACEHOLDER = "[REDACTED_PATTERN]";

/**
 * Keys whose string values are not content (identifiers, enums, base64 media, URLs): never scanned or
 * rewritten, so redaction cannot break the request's structure.
 */
const SKIP_KEYS = new Set([
  "model", "role", "type", "id", "tool_call_id", "tool_use_id", "call_id", "previous_response_id", "object", "finish_reason", "stop_reason",
  "url", "image_url", "data", "media_type", "detail", "format", "encoding_format", "service_tier", "reasoning_effort", "tool_choice",
  "system_fingerprint", "stop_sequence", "signature", "file_id", "voice", "truncation",
]);

type StringFn = (s: string) => string;

/** Calls `fn` on every content string of `node`, storing what it returns (objects and arrays are rewritten in place). */
function visit(node: unknown, fn: StringFn): void {
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) {
      const v = node[i];
      if (typeof v === "string") node[i] = fn(v);
      else if (v !== null && typeof v === "object") visit(v, fn);
    }
  } else if (node !== null && typeof node === "object") {
    const obj = node as Record<string, unknown>;
    for (const k of Object.keys(obj)) {
      if (SKIP_KEYS.has(k)) continue;
      const v = obj[k];
      if (typeof v === "string") obj[k] = fn(v);
      else if (v !== null && typeof v === "object") visit(v, fn);
    }
  }
}

/** Compiled patterns, shared per isolate and keyed by the pattern text (bounded: cleared when full). */
const compiled = new Map<string, RE2JS>();
const MAX_COMPILED = 500;

/** One RE2 program for all of a guardrail's patterns (literals quoted), linear in the input whatever the patterns. */
export function compilePatterns(cfg: Pick<PatternConfig, "patterns" | "case_insensitive">): RE2JS {
  const source = cfg.patterns.map((p) => `(?:${p.regex ? p.pattern : RE2JS.quote(p.pattern)})`).join("|");
  const cacheKey = `${cfg.case_insensitive ? "i" : "-"}${source}`;
  let re = compiled.get(cacheKey);
  if (!re) {
    if (compiled.size >= MAX_COMPILED) compiled.clear();
    re = RE2JS.compile(source, cfg.case_insensitive ? RE2JS.CASE_INSENSITIVE : 0);
    compiled.set(cacheKey, re);
  }
  return re;
}

const PATTERN_REPLACEMENT = RE2JS.quoteReplacement(PATTERN_PLACEHOLDER);

/**
 * Whether `re` matches anywhere in `s`. Asking for no positions lets RE2 run its DFA (one pass, no
 * backtracking); `Matcher.find()` would always take the slower NFA to record the match bounds.
 */
function matches(re: RE2JS, s: string): boolean {
  return re.re2Input.match(s);
}

/** Why a guardrail blocks: a sentence naming what was found (a kind, never the text). */
export type Block = { guardrail: { id: string; name: string }; reason: string };

export type Verdict = { blocked: Block | null; hits: GuardrailHit[] };

/** What policy checks need to know about the request. */
export type RequestFacts = {
  /** The model names the request resolves to (as addressed, `provider/model`, bare upstream name). */
  models: string[];
  /** The output-token cap the client set (null: none), or undefined when the endpoint has no output (embeddings). */
  maxTokens: number | null | undefined;
  customerId: string | null;
};

function modelMatches(pattern: string, names: string[]): boolean {
  return names.some((n) => (pattern.endsWith("*") ? n.startsWith(pattern.slice(0, -1)) : pattern === n));
}

function policyViolation(g: Extract<GuardrailSpec, { kind: "policy" }>, f: RequestFacts): string | null {
  const c = g.config;
  if (c.allowed_models && !c.allowed_models.some((p) => modelMatches(p, f.models))) return `model '${f.models[0]}' is not in its allowed models`;
  if (c.denied_models && c.denied_models.some((p) => modelMatches(p, f.models))) return `model '${f.models[0]}' is denied`;
  if (c.max_tokens !== null && f.maxTokens !== undefined) {
    if (f.maxTokens === null) return `requests must set max_tokens (at most ${c.max_tokens})`;
    if (f.maxTokens > c.max_tokens) return `max_tokens may be at most ${c.max_tokens}`;
  }
  if (c.require_user && !f.customerId) return "requests must name the end user (the `user` field, metadata.user_id or X-Tollgate-Customer)";
  return null;
}

/**
 * Runs `guardrails` over a request body in order. Redactions rewrite `body` in place (later guardrails
 * see the placeholders); the first block stops evaluation. `facts` is null when only text is scanned
 * (the test route), so policy guardrails are skipped.
 */
export function evaluateRequest(guardrails: readonly GuardrailSpec[], body: unknown, facts: RequestFacts | null): Verdict {
  const hits: GuardrailHit[] = [];
  for (const g of guardrails) {
    let reason: string | null = null;
    if (g.kind === "policy") {
      if (facts) reason = policyViolation(g, facts);
    } else if (g.kind === "pii") {
      const kinds = new Set<PiiKind>(g.config.detectors);
      const redact = g.action === "redact";
      let first: PiiKind | null = null;
      visit(body, (s) => {
        if (!redact && first) return s;
        const r = scanPii(s, kinds, redact);
        if (r.findings.length && !first) first = r.findings[0]!.kind;
        return r.text;
      });
      if (first) reason = `the request contains ${PII_LABEL[first as PiiKind]}`;
    } else if (g.config.apply_to.includes("request")) {
      const re = compilePatterns(g.config);
      let found = false;
      visit(body, (s) => {
        if (found && g.action !== "redact") return s;
        if (!matches(re, s)) return s;
        found = true;
        // Match positions need RE2's NFA; only strings that do match pay for it.
        return g.action === "redact" ? re.matcher(s).replaceAll(PATTERN_REPLACEMENT) : s;
      });
      if (found) reason = "the request matches a blocked pattern";
    }
    if (reason === null) continue;
    const action = g.kind === "policy" && g.action === "redact" ? "block" : g.action;
    hits.push({ id: g.id, action });
    if (action === "block") return { blocked: { guardrail: { id: g.id, name: g.name }, reason }, hits };
  }
  return { blocked: null, hits };
}

/** Runs the response-side pattern guardrails over a non-streamed response body (block or flag; nothing is rewritten). */
export function evaluateResponse(guardrails: readonly GuardrailSpec[], json: unknown): Verdict {
  const hits: GuardrailHit[] = [];
  for (const g of guardrails) {
    if (g.kind !== "pattern" || !g.config.apply_to.includes("response")) continue;
    const re = compilePatterns(g.config);
    let found = false;
    visit(json, (s) => {
      if (!found && matches(re, s)) found = true;
      return s;
    });
    if (!found) continue;
    const action = g.action === "flag" ? "flag" : "block";
    hits.push({ id: g.id, action });
    if (action === "block") return { blocked: { guardrail: { id: g.id, name: g.name }, reason: "the response matches a blocked pattern" }, hits };
  }
  return { blocked: null, hits };
}

/** True when some guardrail acts on non-streamed responses (the Worker only parses the body then). */
export function hasResponseGuardrails(guardrails: readonly GuardrailSpec[] | undefined): boolean {
  return !!guardrails?.some((g) => g.kind === "pattern" && g.config.apply_to.includes("response"));
}
