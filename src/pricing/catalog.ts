/**
 * Built-in price catalog: micro-dollars per million tokens (so "$2.50 / 1M tokens" is 2_500_000),
 * plus each model's maximum output tokens (the reservation uses it when a request sets no cap).
 * Orgs override any entry, or price models that are missing, through `PUT /api/orgs/:orgId/pricing/:model`.
 * A model that is neither here nor overridden is refused (`model_not_priced`).
 *
 * Prices change: operators edit this table; every family cites the page and the day it was read.
 */
import type { Price } from "../durable-objects/gate-protocol";

/** One catalog row (micro-dollars per million tokens). */
export type CatalogEntry = Price & { provider: "openai" | "anthropic" | "google" };

const M = 1_000_000;

/** OpenAI rows: no cache writes (billed as plain input), cached reads at the listed rate. */
function openai(input: number, cached: number, output: number, maxOutputTokens: number): CatalogEntry {
  return { provider: "openai", inputPerMtok: input, cachedInputPerMtok: cached, cacheWritePerMtok: input, cacheWrite1hPerMtok: input, outputPerMtok: output, maxOutputTokens };
}

/** Anthropic rows: cache write 1.25× input (5 min), 2× input (1 h), cache read 0.1× input. */
function anthropic(input: number, output: number, maxOutputTokens: number): CatalogEntry {
  return {
    provider: "anthropic", inputPerMtok: input, cachedInputPerMtok: input / 10, cacheWritePerMtok: (input * 5) / 4,
    cacheWrite1hPerMtok: input * 2, outputPerMtok: output, maxOutputTokens,
  };
}

/** Google Gemini rows (≤ 200k-token prompt tier; cached = context-cache read price). */
function google(input: number, cached: number, output: number, maxOutputTokens: number): CatalogEntry {
  return { provider: "google", inputPerMtok: input, cachedInputPerMtok: cached, cacheWritePerMtok: input, cacheWrite1hPerMtok: input, outputPerMtok: output, maxOutputTokens };
}

export const CATALOG: Readonly<Record<string, CatalogEntry>> = {
  // OpenAI — https://developers.openai.com/api/docs/pricing (standard tier), read 2026-11-22
  // via the stored copies dated 2026-11-05 / 2026-03; max output from the model pages.
  "gpt-5": openai(1.25 * M, 0.125 * M, 10 * M, 128_000),
  "gpt-5-mini": openai(0.25 * M, 0.025 * M, 2 * M, 128_000),
  "gpt-5-nano": openai(0.05 * M, 0.005 * M, 0.4 * M, 128_000),
  "gpt-4.1": openai(2 * M, 0.5 * M, 8 * M, 32_768),
  "gpt-4.1-mini": openai(0.4 * M, 0.1 * M, 1.6 * M, 32_768),
  "gpt-4.1-nano": openai(0.1 * M, 0.025 * M, 0.4 * M, 32_768),
  "gpt-4o": openai(2.5 * M, 1.25 * M, 10 * M, 16_384),
  "gpt-4o-mini": openai(0.15 * M, 0.075 * M, 0.6 * M, 16_384),
  // Priced apart from gpt-4o (the pricing page lists them separately, no cached-input discount):
  // gpt-4o-2024-05-13 $5 / $15 per Mtok, 4,096 max output (model page "gpt-4o" → snapshots);
  // chatgpt-4o-latest $5 / $15 per Mtok, 16,384 max output (model page "chatgpt-4o-latest").
  // Same pricing page, read 2026-11-22; cross-checked against hex.pm openai_responses
  // lib/responses/pricing.ex (platform.openai.com/docs/pricing, 2025-06-03) for the 2024-05-13 row.
  "gpt-4o-2024-05-13": openai(5 * M, 5 * M, 15 * M, 4_096),
  "chatgpt-4o-latest": openai(5 * M, 5 * M, 15 * M, 16_384),
  o1: openai(15 * M, 7.5 * M, 60 * M, 100_000),
  o3: openai(2 * M, 0.5 * M, 8 * M, 100_000),
  "o3-mini": openai(1.1 * M, 0.55 * M, 4.4 * M, 100_000),
  "o4-mini": openai(1.1 * M, 0.275 * M, 4.4 * M, 100_000),
  "text-embedding-3-small": openai(0.02 * M, 0.02 * M, 0, 0),
  "text-embedding-3-large": openai(0.13 * M, 0.13 * M, 0, 0),

  // Anthropic — https://platform.claude.com/docs/en/about-claude/pricing ("Model pricing":
  // base input, 5m cache writes, 1h cache writes, cache hits, output), read 2026-11-22.
  // Max output from https://platform.claude.com/docs/en/about-claude/models/overview.
  "claude-opus-4-5": anthropic(5 * M, 25 * M, 64_000),
  "claude-opus-4-6": anthropic(5 * M, 25 * M, 128_000),
  "claude-opus-4-1": anthropic(15 * M, 75 * M, 32_000),
  "claude-opus-4": anthropic(15 * M, 75 * M, 32_000),
  "claude-sonnet-4-6": anthropic(3 * M, 15 * M, 64_000),
  "claude-sonnet-4-5": anthropic(3 * M, 15 * M, 64_000),
  "claude-sonnet-4": anthropic(3 * M, 15 * M, 64_000),
  "claude-3-7-sonnet": anthropic(3 * M, 15 * M, 64_000),
  "claude-3-5-sonnet": anthropic(3 * M, 15 * M, 8_192),
  "claude-haiku-4-5": anthropic(1 * M, 5 * M, 64_000),
  "claude-3-5-haiku": anthropic(0.8 * M, 4 * M, 8_192),

  // Google Gemini — https://ai.google.dev/gemini-api/docs/pricing (paid tier, prompts ≤ 200k tokens;
  // 2.5 Pro doubles above 200k: set an org override if you send such prompts), read 2026-11-22.
  "gemini-2.5-pro": google(1.25 * M, 0.125 * M, 10 * M, 65_536),
  "gemini-2.5-flash": google(0.3 * M, 0.03 * M, 2.5 * M, 65_536),
  "gemini-2.5-flash-lite": google(0.1 * M, 0.01 * M, 0.4 * M, 65_536),
  "gemini-2.0-flash": google(0.1 * M, 0.025 * M, 0.4 * M, 8_192),
};

// Products of decimal literals above (e.g. 0.075 * M) can land a hair off an integer; snap them once.
for (const entry of Object.values(CATALOG) as CatalogEntry[]) {
  for (const k of ["inputPerMtok", "cachedInputPerMtok", "cacheWritePerMtok", "cacheWrite1hPerMtok", "outputPerMtok"] as const) {
    entry[k] = Math.round(entry[k]);
  }
}

const ALIASES: Record<string, string> = {
  "claude-opus-4-0": "claude-opus-4",
  "claude-sonnet-4-0": "claude-sonnet-4",
  "claude-3-7-sonnet-latest": "claude-3-7-sonnet",
  "claude-3-5-sonnet-latest": "claude-3-5-sonnet",
  "claude-3-5-haiku-latest": "claude-3-5-haiku",
};

/**
 * The catalog key for a model name: exact, alias, or the name without a dated snapshot suffix
 * (`gpt-4o-mini-2024-07-18`, `claude-sonnet-4-5-20250929`, `…-latest`). Null when unknown.
 */
export function catalogKeyOf(model: string): string | null {
  const m = model.toLowerCase();
  if (CATALOG[m]) return m;
  if (ALIASES[m]) return ALIASES[m]!;
  const base = m.replace(/-(\d{4}-\d{2}-\d{2}|\d{8}|latest)$/, "");
  if (base !== m) {
    if (CATALOG[base]) return base;
    if (ALIASES[base]) return ALIASES[base]!;
  }
  return null;
}

/** The catalog price of a model, or null when the catalog does not know it. */
export function catalogPrice(model: string): Price | null {
  const key = catalogKeyOf(model);
  if (!key) return null;
  const { provider: _provider, ...price } = CATALOG[key]!;
  return price;
}
