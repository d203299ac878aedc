/**
 * The serialisable shape of a guardrail as the gate hands it to the Worker on `AdmitOk`
 * (docs/guardrails.md). Plain JSON: it may also travel inside a lease.
 */
import type { PiiKind } from "./pii";

export type GuardrailKind = "pii" | "pattern" | "policy";
export type GuardrailAction = "redact" | "block" | "flag";
export type GuardrailScope = "org" | "team" | "key";

/** PII: which detectors run. */
export type PiiConfig = { detectors: PiiKind[] };

/** Blocked patterns: literals or RE2 regular expressions, on requests and/or non-streamed responses. */
export type PatternConfig = {
  patterns: Array<{ pattern: string; regex: boolean }>;
  case_insensitive: boolean;
  apply_to: Array<"request" | "response">;
};

/** Model and parameter policy (null: no rule). */
export type PolicyConfig = {
  allowed_models: string[] | null;
  denied_models: string[] | null;
  max_tokens: number | null;
  require_user: boolean;
};

/** One enabled guardrail that applies to the key, in evaluation order. */
export type GuardrailSpec =
  | { id: string; name: string; action: GuardrailAction; kind: "pii"; config: PiiConfig }
  | { id: string; name: string; action: GuardrailAction; kind: "pattern"; config: PatternConfig }
  | { id: string; name: string; action: GuardrailAction; kind: "policy"; config: PolicyConfig };

/** One guardrail that acted on a request: its id and what it did. Never the matched text. */
export type GuardrailHit = { id: string; action: GuardrailAction };
