/**
 * `listModels`: the models one key may use, computed from the hot copy (no D1). An id is listed only
 * when `admit` would route and price it, so every listed id is usable as `model`:
 * - unrestricted key: every catalog model and every org price override (custom models), addressed as
 *   `provider-name/model` for each org provider whose type can serve it, and bare for the default
 *   provider. `openai` serves OpenAI-family names and org-priced custom models of no known family,
 *   `anthropic` serves `claude-*`, `gemini` serves `gemini-*`, `openai_compatible` serves anything (self-hosted and third-party
 *   endpoints speak many families);
 * - restricted key: exactly its `allowed_models` entries (a `prefix*` entry is expanded over the
 *   unrestricted list), minus those that no provider routes or nobody prices.
 */
import { CATALOG } from "../pricing/catalog";
import { checkKey, modelAllowed, resolvePrice, resolveRoute } from "./gate-admit";
import type { GateProvider } from "./gate-hot-copy";
import type { HotCache } from "./gate-hot-cache";
import type { ModelsResult } from "./gate-protocol";

/** The family a model name belongs to, for "can this provider type serve it". */
function familyOf(model: string): "openai" | "anthropic" | "google" | "other" {
  const entry = CATALOG[model];
  if (entry) return entry.provider;
  if (model.startsWith("claude")) return "anthropic";
  if (model.startsWith("gemini")) return "google";
  return /^(gpt-|o\d|text-embedding-|chatgpt-)/.test(model) ? "openai" : "other";
}

function canServe(type: GateProvider["type"], model: string): boolean {
  if (type === "openai_compatible") return true;
  const family = familyOf(model);
  // An org-priced custom model of no known family is assumed to speak OpenAI's format.
  if (type === "openai") return family === "openai" || (family === "other" && !CATALOG[model]);
  if (type === "gemini") return family === "google";
  return family === "anthropic";
}

/** Every id an unrestricted key may address, with the provider that serves it. */
function unrestrictedIds(providers: GateProvider[], overrides: string[]): Map<string, string> {
  const out = new Map<string, string>();
  const bare = new Set(Object.keys(CATALOG));
  for (const o of overrides) {
    const slash = o.indexOf("/");
    const named = slash > 0 ? providers.find((p) => p.name === o.slice(0, slash)) : undefined;
    // An override keyed `provider-name/model` prices that address only.
    if (named) out.set(o, named.name);
    else bare.add(o);
  }
  for (const m of bare) {
    for (const p of providers) {
      if (!canServe(p.type, m)) continue;
      out.set(`${p.name}/${m}`, p.name);
      if (p.isDefault) out.set(m, p.name);
    }
  }
  return out;
}

/** Verifies the key exactly as `admit` does, then lists its models (sorted by id). */
export function listModelsFor(hot: HotCache, keyId: string, keyHash: string, now: number): ModelsResult {
  const check = checkKey(hot, keyId, keyHash, now);
  if (!check.ok) return { ok: false, denial: { kind: "invalid_key", reason: check.reason } };
  const providers = hot.providers();
  const all = unrestrictedIds(providers, hot.overrideModels());
  const allowed = check.key.allowedModels;
  let ids: string[];
  if (!allowed) ids = [...all.keys()];
  else {
    const set = new Set<string>();
    for (const p of allowed) {
      if (p.endsWith("*")) for (const id of all.keys()) { if (modelAllowed([p], [id])) set.add(id); }
      else set.add(p);
    }
    ids = [...set];
  }
  const models: Array<{ id: string; provider: string }> = [];
  for (const id of ids.sort()) {
    const route = resolveRoute(providers, id);
    if (!route) continue;
    const names = [...new Set([id, `${route.provider.name}/${route.upstreamModel}`, route.upstreamModel])];
    if (!resolvePrice(hot, names, route.upstreamModel)) continue;
    models.push({ id, provider: route.provider.name });
  }
  return { ok: true, models };
}
