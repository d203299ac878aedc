/**
 * Exact cost, to the micro-dollar, for every usage shape the providers report. Expected values are
 * computed by hand in the comments (tokens × µ$/Mtok, summed, then divided by 1e6 and rounded up once).
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { orgGate } from "../src/durable-objects/org-gate-client";
import type { AdmitOk } from "../src/durable-objects/gate-protocol";
import { CATALOG, catalogKeyOf, catalogPrice } from "../src/pricing/catalog";
import { ceilDivMtok, costOfEstimate, costOfUsage } from "../src/pricing/cost";
import { formatMicrosFixed, parseUsdToMicros } from "../src/lib/usd";
import { createOrg, createUser } from "./factories";
import { admitRequest, createProvider, settleRequest, usage } from "./factories/gate";
import { createKey } from "./factories/keys";

const price = (model: string) => {
  const p = catalogPrice(model);
  if (!p) throw new Error(`no price for ${model}`);
  return p;
};

const cases: Array<{ name: string; model: string; u: Parameters<typeof usage>[0]; micros: number }> = [
  {
    // OpenAI cached input (wire-formats example on gpt-4o): prompt 1200 of which 1024 cached, 300 completion.
    // 176 × 2,500,000 + 1024 × 1,250,000 + 300 × 10,000,000 = 440,000,000 + 1,280,000,000 + 3,000,000,000 = 4,720,000,000
    name: "OpenAI cached input", model: "gpt-4o", u: { uncachedInputTokens: 176, cachedInputTokens: 1024, outputTokens: 300 }, micros: 4720,
  },
  {
    // Same shape on gpt-4o-mini, 192 reasoning tokens inside the 300 completion tokens (billed as output, not again):
    // 176 × 150,000 + 1024 × 75,000 + 300 × 600,000 = 26,400,000 + 76,800,000 + 180,000,000 = 283,200,000 → 283.2 → 284
    name: "OpenAI cached input + reasoning, rounded up", model: "gpt-4o-mini-2024-07-18",
    u: { uncachedInputTokens: 176, cachedInputTokens: 1024, outputTokens: 300, reasoningTokens: 192 }, micros: 284,
  },
  {
    // o3 reasoning: 500 prompt, 2000 completion (1800 reasoning). 500 × 2,000,000 + 2000 × 8,000,000 = 17,000,000,000
    name: "reasoning tokens billed once as output", model: "o3", u: { uncachedInputTokens: 500, outputTokens: 2000, reasoningTokens: 1800 }, micros: 17_000,
  },
  {
    // Anthropic (wire-formats example) on Sonnet 4.5: input 12, output 6, cache write (5 m) 2048, cache read 4096.
    // 12 × 3,000,000 + 2048 × 3,750,000 + 4096 × 300,000 + 6 × 15,000,000
    // = 36,000,000 + 7,680,000,000 + 1,228,800,000 + 90,000,000 = 9,034,800,000 → 9034.8 → 9035
    name: "Anthropic cache read + 5-minute cache write", model: "claude-sonnet-4-5-20250929",
    u: { uncachedInputTokens: 12, cachedInputTokens: 4096, cacheWriteTokens: 2048, outputTokens: 6 }, micros: 9035,
  },
  {
    // Opus 4.1, 1-hour cache write: 100 × 15,000,000 + 10,000 × 30,000,000 + 50 × 75,000,000
    // = 1,500,000,000 + 300,000,000,000 + 3,750,000,000 = 305,250,000,000
    name: "Anthropic 1-hour cache write (2× input)", model: "claude-opus-4-1", u: { uncachedInputTokens: 100, cacheWrite1hTokens: 10_000, outputTokens: 50 }, micros: 305_250,
  },
  {
    // Haiku 3.5, every bucket: 7 × 800,000 + 3 × 80,000 + 5 × 1,000,000 + 11 × 1,600,000 + 13 × 4,000,000
    // = 5,600,000 + 240,000 + 5,000,000 + 17,600,000 + 52,000,000 = 80,440,000 → 80.44 → 81
    name: "Anthropic all buckets at once", model: "claude-3-5-haiku-latest",
    u: { uncachedInputTokens: 7, cachedInputTokens: 3, cacheWriteTokens: 5, cacheWrite1hTokens: 11, outputTokens: 13 }, micros: 81,
  },
  {
    // Embeddings, input only: 8 × 20,000 = 160,000 → 0.16 → 1 (a billed request never costs 0)
    name: "embeddings, tiny", model: "text-embedding-3-small", u: { uncachedInputTokens: 8 }, micros: 1,
  },
  {
    // 123,457 × 130,000 = 16,049,410,000 → 16,049.41 → 16,050
    name: "embeddings, large", model: "text-embedding-3-large", u: { uncachedInputTokens: 123_457 }, micros: 16_050,
  },
  {
    // Gemini 2.5 Flash: 10,000 × 300,000 + 2,000 × 30,000 + 1,000 × 2,500,000 = 3,000,000,000 + 60,000,000 + 2,500,000,000
    name: "Gemini cached input", model: "gemini-2.5-flash", u: { uncachedInputTokens: 10_000, cachedInputTokens: 2_000, outputTokens: 1_000 }, micros: 5_560,
  },
  { name: "no usage", model: "gpt-4.1", u: {}, micros: 0 },
  {
    // gpt-4o-2024-05-13 is priced apart from gpt-4o: $5 / $15 per Mtok, no cached discount.
    // 1000 × 5,000,000 + 200 × 5,000,000 (cached at the input rate) + 100 × 15,000,000 = 5e9 + 1e9 + 1.5e9 = 7,500,000,000
    name: "gpt-4o-2024-05-13 (dated snapshot, not gpt-4o's price)", model: "gpt-4o-2024-05-13",
    u: { uncachedInputTokens: 1000, cachedInputTokens: 200, outputTokens: 100 }, micros: 7_500,
  },
  {
    // chatgpt-4o-latest: $5 / $15 per Mtok. 1000 × 5,000,000 + 100 × 15,000,000 = 6,500,000,000
    name: "chatgpt-4o-latest (alias, not gpt-4o's price)", model: "chatgpt-4o-latest", u: { uncachedInputTokens: 1000, outputTokens: 100 }, micros: 6_500,
  },
  {
    // the other gpt-4o snapshots keep gpt-4o's price: 1000 × 2,500,000 + 100 × 10,000,000 = 3,500,000,000
    name: "gpt-4o-2024-08-06 (gpt-4o's price)", model: "gpt-4o-2024-08-06", u: { uncachedInputTokens: 1000, outputTokens: 100 }, micros: 3_500,
  },
];

describe("cost accuracy", () => {
  it.each(cases)("$name → $micros µ$", ({ model, u, micros }) => {
    expect(costOfUsage(usage(u), price(model))).toBe(micros);
  });

  it("stays exact where floating point would not (BigInt path beyond 2^53)", () => {
    // 3,000,000,000 tokens × 75,000,000 µ$/Mtok = 2.25e17 (> 2^53); /1e6 = 225,000,000,000 exactly.
    expect(costOfUsage(usage({ outputTokens: 3_000_000_000 }), price("claude-opus-4-1"))).toBe(225_000_000_000);
    expect(ceilDivMtok(9_007_199_254_740_993n)).toBe(9_007_199_255);
    expect(ceilDivMtok(1_000_000)).toBe(1);
    expect(ceilDivMtok(1_000_001)).toBe(2);
  });

  it("estimates reservations at the full input price plus the output cap", () => {
    // 1000 × 2,500,000 + 16,384 × 10,000,000 = 2,500,000,000 + 163,840,000,000 → 166,340
    expect(costOfEstimate(1000, price("gpt-4o").maxOutputTokens, price("gpt-4o"))).toBe(166_340);
  });

  it("catalog: Anthropic cache prices are 1.25× / 2× / 0.1× input; every price is an integer; snapshots resolve", () => {
    for (const [model, e] of Object.entries(CATALOG)) {
      for (const v of [e.inputPerMtok, e.cachedInputPerMtok, e.cacheWritePerMtok, e.cacheWrite1hPerMtok, e.outputPerMtok]) expect(Number.isInteger(v), model).toBe(true);
      if (e.provider === "anthropic") {
        expect(e.cacheWritePerMtok * 4).toBe(e.inputPerMtok * 5);
        expect(e.cacheWrite1hPerMtok).toBe(e.inputPerMtok * 2);
        expect(e.cachedInputPerMtok * 10).toBe(e.inputPerMtok);
      }
      if (!model.startsWith("text-embedding")) expect(e.maxOutputTokens, model).toBeGreaterThan(0);
    }
    expect(catalogKeyOf("gpt-4o-mini-2024-07-18")).toBe("gpt-4o-mini");
    expect(catalogKeyOf("gpt-4o-2024-05-13")).toBe("gpt-4o-2024-05-13");
    expect(catalogKeyOf("chatgpt-4o-latest")).toBe("chatgpt-4o-latest");
    expect(catalogKeyOf("gpt-4o-2024-11-20")).toBe("gpt-4o");
    expect(catalogKeyOf("claude-sonnet-4-0")).toBe("claude-sonnet-4");
    expect(catalogKeyOf("gpt-4o-audio-preview")).toBeNull();
  });

  it("parses USD to micros without floats", () => {
    expect(parseUsdToMicros("12.5")).toBe(12_500_000);
    expect(parseUsdToMicros("0.000001")).toBe(1);
    expect(parseUsdToMicros(0.1)).toBe(100_000);
    expect(parseUsdToMicros(500)).toBe(500_000_000);
    expect(parseUsdToMicros("1.0000001")).toBeNull();
    expect(parseUsdToMicros("-1")).toBeNull();
    expect(parseUsdToMicros("1e3")).toBeNull();
    expect(formatMicrosFixed(1_500_001)).toBe("1.500001");
  });

  it("the gate settles an Anthropic request at exactly the hand-computed cost", async () => {
    const owner = await createUser();
    const org = await createOrg(owner, { plan: "pro" });
    await createProvider(org, { name: "anthropic", type: "anthropic", baseUrl: "https://api.anthropic.com", isDefault: false });
    const key = await createKey(org, owner);
    const gate = orgGate(env, org.id);
    const req = await admitRequest(key, { model: "anthropic/claude-sonnet-4-5-20250929", endpoint: "messages" });
    const ok = (await gate.admit(req)) as AdmitOk;
    expect(ok.route.upstreamModel).toBe("claude-sonnet-4-5-20250929");
    const s = await gate.settle(settleRequest(req, ok, usage({ uncachedInputTokens: 12, cachedInputTokens: 4096, cacheWriteTokens: 2048, outputTokens: 6 })));
    expect(s.costMicros).toBe(9035);
  });
});
